/**
 * A publish fills the in-memory copy with what it stored, so the reads a client makes right
 * after it (root.json, timestamp.json, snapshot and targets by hash) are answered without
 * touching the store, byte for byte and header for header as a server that never saw the
 * publish answers them from storage. A fill is never kept over a change it may not reflect: a
 * later write by another process stays visible, with or without strict reads.
 */
import { generatePrivateKey, parseMetadata } from '../../../tuf';
import type { StoredUpdate } from '../../../server/storage/types';
import { publish, RepoSim, request, Response, sha256, startTestServer, targetMeta, TestServer } from '../helpers';

let n = 0;
const newGun = (label: string) => `example.com/fill/${label}-${++n}`;

const get = (url: string, gun: string, file: string) => request(url, 'GET', `/v2/${gun}/_trust/tuf/${file}`);

/** Spies on every read a GET can make of the store. */
function storeReads(srv: TestServer) {
  const spies = [jest.spyOn(srv.store, 'getCurrent'), jest.spyOn(srv.store, 'getByVersion'), jest.spyOn(srv.store, 'getByChecksum')];
  return {
    count: () => spies.reduce((sum, s) => sum + s.mock.calls.length, 0),
    restore: () => spies.forEach((s) => s.mockRestore()),
  };
}

/** Run `during` after the store committed a write of `srv`, before the write returns to the service. */
function duringNextWrite(srv: TestServer, during: () => Promise<void>) {
  const original = srv.store.update.bind(srv.store);
  const spy = jest.spyOn(srv.store, 'update').mockImplementationOnce(async (gun, files): Promise<StoredUpdate> => {
    const stored = await original(gun, files);
    await during();
    return stored;
  });
  return () => spy.mockRestore();
}

/** The paths a client reads after a publish: current files, and every stored file by hash and by version. */
async function pathsAfterPublish(url: string, gun: string, roles: string[]): Promise<string[]> {
  const paths = roles.map((r) => `${r}.json`);
  for (const role of roles) {
    const body = (await get(url, gun, `${role}.json`)).body;
    paths.push(`${role}.${sha256(body)}.json`, `${parseMetadata(body).body.version}.${role}.json`);
  }
  return paths;
}

/** What a client sees of a response: status, body and the headers a cache or client acts on. */
function seen(res: Response) {
  const h = res.headers;
  return { status: res.status, body: res.body.toString('base64'), type: h['content-type'], length: h['content-length'], cache: h['cache-control'], lastModified: h['last-modified'] };
}

async function expectServedFromMemoryAsStored(srv: TestServer, gun: string, roles: string[]): Promise<void> {
  const reads = storeReads(srv);
  let paths: string[];
  const hot: Record<string, ReturnType<typeof seen>> = {};
  try {
    paths = await pathsAfterPublish(srv.url, gun, roles);
    for (const p of paths) hot[p] = seen(await get(srv.url, gun, p));
    expect(reads.count()).toBe(0);
  } finally {
    reads.restore();
  }
  const cold = await startTestServer({ dbFile: `${srv.dir}/server.db`, keys: srv.keys, watchIntervalMs: 0 });
  try {
    for (const p of paths) {
      expect(hot[p]?.status).toBe(200);
      expect({ path: p, ...hot[p] }).toEqual({ path: p, ...seen(await get(cold.url, gun, p)) });
    }
  } finally {
    await cold.close();
  }
}

describe('after a publish, the reads that follow it', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.close();
  });

  it('are answered from memory, as a server reading storage answers them (client-held snapshot)', async () => {
    const sim = new RepoSim(newGun('client-snapshot'));
    await sim.fetchServerKeys(srv.url);
    const root = sim.root(1);
    const t1 = sim.targets(1, { a: targetMeta('a') });
    expect((await publish(srv.url, sim.gun, { root, targets: t1, snapshot: sim.snapshot(1, { root, targets: t1 }) })).status).toBe(200);
    await expectServedFromMemoryAsStored(srv, sim.gun, ['root', 'targets', 'snapshot', 'timestamp']);
    // a publish without a root: the root it was checked against is what root.json serves
    const t2 = sim.targets(2, { a: targetMeta('a'), b: targetMeta('b') });
    expect((await publish(srv.url, sim.gun, { targets: t2, snapshot: sim.snapshot(2, { root, targets: t2 }) })).status).toBe(200);
    await expectServedFromMemoryAsStored(srv, sim.gun, ['root', 'targets', 'snapshot', 'timestamp']);
  });

  it('are answered from memory, as a server reading storage answers them (server-held snapshot, delegation)', async () => {
    const sim = new RepoSim(newGun('server-snapshot'));
    await sim.fetchServerKeys(srv.url, true);
    const releases = generatePrivateKey('ecdsa');
    const t1 = sim.targets(1, {}, [{ name: 'targets/releases', key: releases }]);
    expect((await publish(srv.url, sim.gun, { root: sim.root(1), targets: t1 })).status).toBe(200);
    await expectServedFromMemoryAsStored(srv, sim.gun, ['root', 'targets', 'snapshot', 'timestamp']);
    expect((await publish(srv.url, sim.gun, { 'targets/releases': sim.delegation('targets/releases', 1, { r: targetMeta('r') }) })).status).toBe(200);
    await expectServedFromMemoryAsStored(srv, sim.gun, ['root', 'targets/releases', 'snapshot', 'timestamp']);
  });

  it('are read from storage when the timestamp is already due for re-signing (the GET must look at it)', async () => {
    const sim = new RepoSim(newGun('due'), { now: () => srv.clock.now });
    await sim.fetchServerKeys(srv.url);
    const root = sim.root(1);
    const t1 = sim.targets(1);
    // a client snapshot that expires within the refresh margin: the timestamp over it is due at once
    const snapshot = sim.snapshot(1, { root, targets: t1 }, { expires: new Date(srv.clock.now + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z') });
    expect((await publish(srv.url, sim.gun, { root, targets: t1, snapshot })).status).toBe(200);
    const stored = await srv.store.getCurrent(sim.gun, 'timestamp');
    const reads = storeReads(srv);
    try {
      const ts = await get(srv.url, sim.gun, 'timestamp.json');
      expect(ts.status).toBe(200);
      expect(reads.count()).toBeGreaterThan(0);
      // only the client can re-sign its snapshot: the stored timestamp, retried shortly
      expect(ts.body.equals(stored?.bytes ?? Buffer.alloc(0))).toBe(true);
    } finally {
      reads.restore();
    }
  });
});

describe('a publish\'s fill never hides another change', () => {
  it('is discarded when another change is announced while the publish stores: a later write by another process stays visible', async () => {
    const a = await startTestServer({ watchIntervalMs: 20 });
    const b = await startTestServer({ dbFile: `${a.dir}/server.db`, keys: a.keys, watchIntervalMs: 0 });
    try {
      const sim = new RepoSim(newGun('race'));
      await sim.fetchServerKeys(a.url, true);
      expect((await publish(a.url, sim.gun, { root: sim.root(1), targets: sim.targets(1) })).status).toBe(200);
      const t2 = sim.targets(2, { mine: targetMeta('a') });
      const t3 = sim.targets(3, { theirs: targetMeta('b') });
      const announced = jest.spyOn(a.running.edge.cache, 'invalidate');
      // A commits targets 2; before A's publish returns, B publishes targets 3 over it and
      // A's store announces B's write (its cross-process watch)
      const restore = duringNextWrite(a, async () => {
        expect((await publish(b.url, sim.gun, { targets: t3 })).status).toBe(200);
        const deadline = Date.now() + 5000;
        while (announced.mock.calls.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      });
      try {
        expect((await publish(a.url, sim.gun, { targets: t2 })).status).toBe(200);
      } finally {
        restore();
        announced.mockRestore();
      }
      expect((await get(a.url, sim.gun, 'targets.json')).body.equals(t3.bytes)).toBe(true);
      expect(parseMetadata((await get(a.url, sim.gun, 'timestamp.json')).body, 'timestamp').body.version).toBe(3);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('with strict reads: is served from memory after its own changefeed record, and a later publish through another process is seen at once', async () => {
    // no notifications between the two: only the changefeed check before each answer from memory
    const a = await startTestServer({ watchIntervalMs: 0, strictReads: true });
    const b = await startTestServer({ dbFile: `${a.dir}/server.db`, keys: a.keys, watchIntervalMs: 0, strictReads: true });
    try {
      const sim = new RepoSim(newGun('strict'));
      await sim.fetchServerKeys(a.url, true);
      expect((await publish(a.url, sim.gun, { root: sim.root(1), targets: sim.targets(1) })).status).toBe(200);
      // A's first look at the changefeed (which starts it with an empty memory)
      expect((await get(a.url, sim.gun, 'root.json')).status).toBe(200);
      for (let round = 2; round <= 5; round++) {
        const t = sim.targets(round, { [`a${round}`]: targetMeta(String(round)) });
        expect((await publish(a.url, sim.gun, { targets: t })).status).toBe(200);
        const reads = storeReads(a);
        try {
          expect((await get(a.url, sim.gun, 'targets.json')).body.equals(t.bytes)).toBe(true);
          expect(parseMetadata((await get(a.url, sim.gun, 'timestamp.json')).body, 'timestamp').body.version).toBe(round);
          expect(reads.count()).toBe(0);
        } finally {
          reads.restore();
        }
      }
      const theirs = sim.targets(6, { b: targetMeta('b') });
      expect((await publish(b.url, sim.gun, { targets: theirs })).status).toBe(200);
      expect((await get(a.url, sim.gun, 'targets.json')).body.equals(theirs.bytes)).toBe(true);
      expect(parseMetadata((await get(a.url, sim.gun, 'timestamp.json')).body, 'timestamp').body.version).toBe(6);
    } finally {
      await b.close();
      await a.close();
    }
  });
});
