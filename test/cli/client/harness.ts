/**
 * Shared set-up for client tests: a simulator serving over real HTTP, a temp trust dir, and an
 * `update()` that runs the real update workflow through the real `Remote` against it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MetadataCache } from '../../../cli/cache';
import { TrustedRepo, updateRepository, UpdateError, UpdateErrorCode, UpdateOptions } from '../../../cli/client';
import { Remote, RemoteOptions } from '../../../cli/remote';
import { RepositorySimulator, SimulatorOptions } from '../simulator';

export interface Harness {
  sim: RepositorySimulator;
  trustDir: string;
  cache: MetadataCache;
  remote: Remote;
  /** run the update with the simulator's GUN; `now` defaults to the simulator's clock */
  update(opts?: Partial<UpdateOptions>): Promise<TrustedRepo>;
  /** the update's UpdateError (fails the test when the update succeeds) */
  refused(opts?: Partial<UpdateOptions>): Promise<UpdateError>;
  /** as `refused`, and expects the error's code and the role it refused */
  refusedWith(code: UpdateErrorCode, role: string, opts?: Partial<UpdateOptions>): Promise<UpdateError>;
  close(): Promise<void>;
}

const open = new Set<Harness>();

/**
 * A simulator with one target in `targets` (published once), started on a free port, and a
 * fresh trust dir. `prepare` may shape the repository before the first publish.
 */
export async function harness(
  opts: SimulatorOptions & {
    prepare?: (sim: RepositorySimulator) => void;
    remote?: Partial<RemoteOptions>;
    noPublish?: boolean;
    start?: Parameters<RepositorySimulator['start']>[0];
  } = {},
): Promise<Harness> {
  const sim = new RepositorySimulator(opts);
  if (opts.prepare) opts.prepare(sim);
  else sim.addTarget('targets', 'v1', 'payload one\n');
  if (!opts.noPublish) sim.publish();
  const url = await sim.start(opts.start);
  const trustDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-client-'));
  const cache = new MetadataCache(trustDir);
  const remote = new Remote({ url, timeoutMs: 15_000, ...opts.remote });
  const h: Harness = {
    sim,
    trustDir,
    cache,
    remote,
    update: (o = {}) => updateRepository({ gun: sim.gun, remote, cache, now: sim.now + 1000, ...o }),
    async refused(o = {}) {
      try {
        await h.update(o);
      } catch (e) {
        if (e instanceof UpdateError) return e;
        throw e;
      }
      throw new Error('the update succeeded but was expected to be refused');
    },
    async refusedWith(code, role, o = {}) {
      const err = await h.refused(o);
      expect(err.code).toBe(code);
      expect(err.role).toBe(role);
      return err;
    },
    async close() {
      open.delete(h);
      remote.close();
      await sim.stop();
      fs.rmSync(trustDir, { recursive: true, force: true });
    },
  };
  open.add(h);
  return h;
}

/** Close every harness a test file opened (call from afterEach/afterAll). */
export async function closeAll(): Promise<void> {
  await Promise.all([...open].map((h) => h.close()));
}

/** The version of a cached role, or null. */
export function cachedVersion(h: Harness, role: string): number | null {
  const b = h.cache.read(h.sim.gun, role);
  if (!b) return null;
  const doc = JSON.parse(b.toString('utf8')) as { signed: { version: number } };
  return doc.signed.version;
}

/** Requests made since a mark, without the method. */
export function requestsSince(h: Harness, mark: number): string[] {
  return h.sim.requests.slice(mark).map((r) => r.replace(/^GET /, ''));
}

export const DAY = 24 * 3600 * 1000;
