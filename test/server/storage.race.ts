/**
 * Several processes on one database, as several server processes would be: racing publishes on
 * one GUN, and change notification from one process to another. The other processes run the
 * compiled store (dist/, `npm run build`) in `node -e` workers.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openStore, StoreConfig } from '../../server/storage';
import { TufStore } from '../../server/storage/types';
import { Proc, run, startProcess, stopAll } from '../helpers/proc';

const DIST_STORAGE = path.resolve(__dirname, '../../dist/server/storage/index.js');

/**
 * A worker: opens the store described by argv[1] and then, by mode,
 *  - race: for k = 1..rounds, on a "go" line, makes `parallel` concurrent attempts to publish
 *    snapshot + timestamp version k, and prints which attempts won;
 *  - listen: prints every GUN its onChange listener hears until stdin closes;
 *  - write: publishes one timestamp to `gun`, or deletes it, and exits.
 */
const WORKER = `
const readline = require('node:readline');
const { openStore, VersionConflictError } = require(${JSON.stringify(DIST_STORAGE)});
const job = JSON.parse(process.argv[1]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
(async () => {
  const store = await openStore(job.store);
  const lines = readline.createInterface({ input: process.stdin });
  const nextLine = () => new Promise((resolve) => lines.once('line', resolve));
  if (job.mode === 'race') {
    out({ ready: true });
    for (let k = 1; k <= job.rounds; k++) {
      await nextLine();
      const attempts = [];
      for (let p = 0; p < job.parallel; p++) {
        const id = job.tag + '-' + k + '-' + p;
        attempts.push(store.update(job.gun, [
          { role: 'snapshot', version: k, bytes: Buffer.from('snapshot ' + id) },
          { role: 'timestamp', version: k, bytes: Buffer.from('timestamp ' + id) },
        ]).then(() => ({ k, id, won: true }), (e) => {
          if (e instanceof VersionConflictError) return { k, id, won: false };
          throw e;
        }));
      }
      out({ round: k, results: await Promise.all(attempts) });
    }
  } else if (job.mode === 'listen') {
    store.onChange((gun) => out({ changed: gun }));
    out({ ready: true });
    await new Promise((resolve) => lines.once('close', resolve));
  } else if (job.mode === 'write') {
    if (job.delete) await store.deleteGun(job.gun);
    else await store.update(job.gun, [{ role: 'timestamp', version: job.version, bytes: Buffer.from('ts ' + job.version) }]);
    out({ done: true });
  }
  lines.close();
  await store.close();
})().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + '\\n');
  process.exit(1);
});
`;

interface Attempt {
  k: number;
  id: string;
  won: boolean;
}

function worker(job: object): Proc {
  return startProcess(process.execPath, ['-e', WORKER, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'pipe'] });
}

function jsonLines(p: Proc): Array<Record<string, unknown>> {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function eventually(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** `makeConfig` returns the configuration of a fresh, empty database each call. */
export function crossProcessSuite(name: string, makeConfig: () => Promise<StoreConfig>): void {
  describe(`${name}: several processes on one database`, () => {
    const stores: TufStore[] = [];

    beforeAll(() => {
      if (!fs.existsSync(DIST_STORAGE)) {
        throw new Error(`${DIST_STORAGE} is missing: run \`npm run build\` before this test`);
      }
    });

    afterAll(async () => {
      await stopAll();
      for (const s of stores) await s.close();
    });

    it('two processes racing publishes on one GUN: exactly one wins each version, history stays consistent', async () => {
      const cfg = await makeConfig();
      const gun = 'example.com/cross-process-race';
      const rounds = 25;
      const parallel = 4;
      const workers = ['A', 'B'].map((tag) => worker({ mode: 'race', store: cfg, gun, rounds, parallel, tag }));
      await Promise.all(workers.map((w) => w.waitFor(/"ready":true/)));
      // every round starts both processes at once, so each version is a genuine race; who is
      // told first alternates, so neither has a standing head start
      for (let k = 1; k <= rounds; k++) {
        const order = k % 2 === 0 ? workers : [...workers].reverse();
        for (const w of order) w.child.stdin?.write('go\n');
        await Promise.all(workers.map((w) => w.waitFor(new RegExp(`"round":${k},`), 30_000)));
      }

      const attempts = workers.flatMap((w) => jsonLines(w).flatMap((o) => (o.results as Attempt[] | undefined) ?? []));
      expect(attempts).toHaveLength(2 * rounds * parallel);
      const winners = new Map<number, string>();
      for (let k = 1; k <= rounds; k++) {
        const won = attempts.filter((a) => a.k === k && a.won);
        expect({ k, winners: won.length }).toEqual({ k, winners: 1 });
        winners.set(k, (won[0] as Attempt).id);
      }

      // what is stored is exactly what the winners wrote: both files of a version from one writer
      const store = await openStore(cfg);
      stores.push(store);
      for (let k = 1; k <= rounds; k++) {
        const id = winners.get(k) as string;
        expect((await store.getByVersion(gun, 'snapshot', k))?.bytes.toString()).toBe(`snapshot ${id}`);
        expect((await store.getByVersion(gun, 'timestamp', k))?.bytes.toString()).toBe(`timestamp ${id}`);
      }
      expect((await store.getCurrent(gun, 'timestamp'))?.version).toBe(rounds);
      const feed = await store.changes({ gun, changeId: '0', records: 1000 });
      expect(feed.map((c) => c.version)).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));
      for (const c of feed) {
        expect(c.sha256).toBe(sha256(Buffer.from(`timestamp ${winners.get(c.version) as string}`)));
      }
      // each process won some versions: neither was locked out, and both wrote to one history
      const byWorker = { A: 0, B: 0 };
      for (const id of winners.values()) byWorker[id.startsWith('A') ? 'A' : 'B']++;
      expect(byWorker.A).toBeGreaterThan(0);
      expect(byWorker.B).toBeGreaterThan(0);
    });

    it('a change written by one process reaches onChange listeners in another, both ways', async () => {
      const cfg = await makeConfig();
      const listener = worker({ mode: 'listen', store: cfg });
      await listener.waitFor(/"ready":true/);
      const store = await openStore(cfg);
      stores.push(store);
      const seen: string[] = [];
      store.onChange((g) => seen.push(g));

      // this process writes, the listener process hears it
      await store.update('example.com/from-test', [{ role: 'timestamp', version: 1, bytes: Buffer.from('t1') }]);
      await listener.waitFor(/"changed":"example\.com\/from-test"/, 15_000);

      // another process writes and deletes; this process and the listener both hear it
      for (const job of [
        { mode: 'write', store: cfg, gun: 'example.com/from-child', version: 1 },
        { mode: 'write', store: cfg, gun: 'example.com/from-child', delete: true },
      ]) {
        const r = await run(process.execPath, ['-e', WORKER, JSON.stringify(job)], { timeoutMs: 30_000 });
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      }
      await eventually(
        () => seen.filter((g) => g === 'example.com/from-child').length === 2,
        'the child\'s update and deletion to reach this process',
      );
      await eventually(
        () => jsonLines(listener).filter((o) => o.changed === 'example.com/from-child').length === 2,
        'the child\'s update and deletion to reach the listener process',
      );
      expect(seen).toEqual(['example.com/from-test', 'example.com/from-child', 'example.com/from-child']);
      expect(await store.getCurrent('example.com/from-child', 'timestamp')).toBeNull();
      await listener.stop();
    });
  });
}
