/**
 * Everything but the publish, over HTTP against the real app: metadata GETs and their headers
 * (spec 1.3), the key endpoints (1.5), DELETE (1.6), the changefeed (1.7), /v2/, health and
 * metrics (1.8), Notary's routing quirks (1.2), the in-memory cache, and the server re-signing
 * timestamps (and snapshots it holds the key of) before they expire.
 */
import { fileMetaOf, JsonObject, matchesSchema, parseJson, parseMetadata, parsePublicKey } from '../../tuf';
import { fixture } from '../helpers/fixtures';
import { DAY, publish, RepoSim, request, sha256, startTestServer, SwitchableKeyService, targetMeta, TestServer } from './helpers';

let srv: TestServer;
let keys: SwitchableKeyService;
let n = 0;
const newGun = (label: string) => `example.com/meta/${label}-${++n}`;

beforeAll(async () => {
  keys = new SwitchableKeyService();
  srv = await startTestServer({ keys });
});
afterAll(async () => {
  await srv.close();
});

const get = (gun: string, file: string, headers?: Record<string, string>) => request(srv.url, 'GET', `/v2/${gun}/_trust/tuf/${file}`, { headers });

async function serverSnapshotRepo(label: string, url = srv.url, now?: () => number) {
  const sim = new RepoSim(newGun(label), now ? { now } : {});
  await sim.fetchServerKeys(url, true);
  const root = sim.root(1);
  const targets = sim.targets(1, { v1: targetMeta('one') });
  const res = await publish(url, sim.gun, { root, targets });
  expect(res.status).toBe(200);
  return { sim, root, targets };
}

async function clientSnapshotRepo(label: string) {
  const sim = new RepoSim(newGun(label), { now: () => srv.clock.now });
  await sim.fetchServerKeys(srv.url);
  const root = sim.root(1);
  const targets = sim.targets(1);
  const snapshot = sim.snapshot(1, { root, targets });
  expect((await publish(srv.url, sim.gun, { root, targets, snapshot })).status).toBe(200);
  return { sim, root, targets, snapshot };
}

const versionOf = (body: Buffer, kind: 'timestamp' | 'snapshot') => parseMetadata(body, kind).body.version;

describe('GET metadata', () => {
  it('answers an unknown GUN with exactly Notary\'s 404 body (rows 3, 4)', async () => {
    for (const f of ['root.json', 'timestamp.json', 'snapshot.json', 'targets.json', 'targets/releases.json', '1.root.json', `root.${'a'.repeat(64)}.json`]) {
      const res = await get('example.com/meta/never', f);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.body.equals(fixture('http-errors/404-metadata-not-found.json'))).toBe(true);
      expect(res.headers['cache-control']).toBeUndefined();
    }
  });

  it('serves the current files with Notary\'s cache headers and no ETag (row 34)', async () => {
    const { sim, root } = await serverSnapshotRepo('headers');
    const res = await get(sim.gun, 'root.json');
    expect(res.status).toBe(200);
    expect(res.body.equals(root.bytes)).toBe(true);
    expect(res.headers['cache-control']).toBe('public, max-age=300, s-maxage=300, must-revalidate');
    expect(res.headers['last-modified']).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    expect(res.headers.etag).toBeUndefined();
    expect(res.headers.pragma).toBeUndefined();
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    // conditional requests are not supported: still 200 with the body
    const again = await get(sim.gun, 'root.json', { 'If-Modified-Since': res.headers['last-modified'] as string, 'If-None-Match': '*' });
    expect(again.status).toBe(200);
    expect(again.body.equals(root.bytes)).toBe(true);
  });

  it('serves every role by the sha256 of its bytes with the consistent cache header (rows 31, 32)', async () => {
    const { sim, root, targets } = await serverSnapshotRepo('byhash');
    const snap = (await get(sim.gun, 'snapshot.json')).body;
    const ts = (await get(sim.gun, 'timestamp.json')).body;
    for (const [role, bytes] of [['root', root.bytes], ['targets', targets.bytes], ['snapshot', snap], ['timestamp', ts]] as const) {
      for (const hex of [sha256(bytes), sha256(bytes).toUpperCase()]) {
        const res = await get(sim.gun, `${role}.${hex}.json`);
        expect(res.status).toBe(200);
        expect(res.body.equals(bytes)).toBe(true);
        expect(res.headers['cache-control']).toBe('public, max-age=2592000, s-maxage=2592000');
      }
    }
    expect((await get(sim.gun, `root.${'0'.repeat(64)}.json`)).status).toBe(404);
    // the role in the URL must match the stored role (unlike Notary's memory store)
    expect((await get(sim.gun, `targets.${sha256(root.bytes)}.json`)).status).toBe(404);
    // 96- and 128-hex names are routed but only SHA-256 is stored
    expect((await get(sim.gun, `root.${'a'.repeat(128)}.json`)).status).toBe(404);
  });

  it('serves a delegation by hash and by version', async () => {
    const sim = new RepoSim(newGun('deleg'));
    await sim.fetchServerKeys(srv.url, true);
    const { generatePrivateKey } = await import('../../tuf');
    const relKey = generatePrivateKey('ecdsa');
    const targets = sim.targets(1, {}, [{ name: 'targets/releases', key: relKey }]);
    const rel = sim.delegation('targets/releases', 1, { r: targetMeta('r') });
    expect((await publish(srv.url, sim.gun, { root: sim.root(1), targets, 'targets/releases': rel })).status).toBe(200);
    expect((await get(sim.gun, `targets/releases.${sha256(rel.bytes)}.json`)).body.equals(rel.bytes)).toBe(true);
    expect((await get(sim.gun, '1.targets/releases.json')).body.equals(rel.bytes)).toBe(true);
    expect((await get(sim.gun, '1.timestamp.json')).status).toBe(200);
  });

  it('answers HEAD on a metadata URL from the catch-all (404), as Go\'s mux does', async () => {
    const { sim } = await serverSnapshotRepo('head');
    const res = await request(srv.url, 'HEAD', `/v2/${sim.gun}/_trust/tuf/root.json`);
    expect(res.status).toBe(404);
  });

  it('serves from memory after the first read and drops the copy on publish', async () => {
    const { sim } = await serverSnapshotRepo('cache');
    const hits = () => Number(/vouch_metadata_cache_requests_total\{result="hit"\} (\d+)/.exec(srv.running.edge.metrics.render())?.[1]);
    const first = await get(sim.gun, 'targets.json');
    const h0 = hits();
    const second = await get(sim.gun, 'targets.json');
    expect(second.body.equals(first.body)).toBe(true);
    expect(hits()).toBe(h0 + 1);
    const t2 = sim.targets(2, { v2: targetMeta('two') });
    expect((await publish(srv.url, sim.gun, { targets: t2 })).status).toBe(200);
    expect((await get(sim.gun, 'targets.json')).body.equals(t2.bytes)).toBe(true);
  });

  it('sends no-store headers when max-age is configured 0', async () => {
    const s = await startTestServer({ caching: { currentMaxAge: 0, consistentMaxAge: 0 } });
    try {
      const { sim, root } = await serverSnapshotRepo('nocache', s.url);
      for (const f of ['root.json', `root.${sha256(root.bytes)}.json`, '1.root.json']) {
        for (let i = 0; i < 2; i++) {
          const res = await request(s.url, 'GET', `/v2/${sim.gun}/_trust/tuf/${f}`);
          expect(res.status).toBe(200);
          expect(res.headers['cache-control']).toBe('max-age=0, no-cache, no-store');
          expect(res.headers.pragma).toBe('no-cache');
        }
      }
    } finally {
      await s.close();
    }
  });

  it('sees a publish made through another server sharing the database (cross-process invalidation)', async () => {
    const a = await startTestServer();
    const b = await startTestServer({ dbFile: `${a.dir}/server.db`, keys: a.keys });
    try {
      const { sim } = await serverSnapshotRepo('shared', a.url);
      const before = await request(b.url, 'GET', `/v2/${sim.gun}/_trust/tuf/targets.json`);
      expect((await request(b.url, 'GET', `/v2/${sim.gun}/_trust/tuf/targets.json`)).body.equals(before.body)).toBe(true);
      const t2 = sim.targets(2, { v2: targetMeta('two') });
      expect((await publish(a.url, sim.gun, { targets: t2 })).status).toBe(200);
      const deadline = Date.now() + 5000;
      let seen = false;
      while (Date.now() < deadline && !seen) {
        seen = (await request(b.url, 'GET', `/v2/${sim.gun}/_trust/tuf/targets.json`)).body.equals(t2.bytes);
        if (!seen) await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen).toBe(true);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe('read-after-write across processes (strict reads)', () => {
  it('serves a publish made through another process on the very next read, without any notification', async () => {
    const a = await startTestServer();
    // B hears nothing from A (no polling): only the changefeed check before each cached answer
    const b = await startTestServer({ dbFile: `${a.dir}/server.db`, keys: a.keys, watchIntervalMs: 0, strictReads: true });
    try {
      const { sim } = await serverSnapshotRepo('strict', a.url);
      for (let round = 2; round <= 6; round++) {
        // B is warm
        for (const f of ['timestamp.json', 'snapshot.json', 'targets.json']) await request(b.url, 'GET', `/v2/${sim.gun}/_trust/tuf/${f}`);
        const t = sim.targets(round, { [`v${round}`]: targetMeta(String(round)) });
        expect((await publish(a.url, sim.gun, { targets: t })).status).toBe(200);
        expect((await request(b.url, 'GET', `/v2/${sim.gun}/_trust/tuf/targets.json`)).body.equals(t.bytes)).toBe(true);
        const ts = parseMetadata((await request(b.url, 'GET', `/v2/${sim.gun}/_trust/tuf/timestamp.json`)).body, 'timestamp');
        expect(ts.body.version).toBe(round);
        const snap = (await request(b.url, 'GET', `/v2/${sim.gun}/_trust/tuf/snapshot.json`)).body;
        expect((ts.signed.meta as JsonObject).snapshot).toEqual(fileMetaOf(snap));
      }
      // and a deletion through A is seen by B at once
      expect((await request(a.url, 'DELETE', `/v2/${sim.gun}/_trust/tuf/`)).status).toBe(200);
      expect((await request(b.url, 'GET', `/v2/${sim.gun}/_trust/tuf/targets.json`)).status).toBe(404);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe('routing', () => {
  it('answers GET /v2/ with {} (row 1) and other methods on it from the catch-all', async () => {
    const res = await request(srv.url, 'GET', '/v2/');
    expect(res.status).toBe(200);
    expect(res.text).toBe('{}');
    expect((await request(srv.url, 'POST', '/v2/')).status).toBe(404);
  });

  it.each(['PATCH', 'OPTIONS', 'PROPFIND'])('answers %s with 405 and an empty body (row 45)', async (method) => {
    const res = await request(srv.url, method, '/v2/example.com/a/_trust/tuf/root.json');
    expect(res.status).toBe(405);
    expect(res.body.length).toBe(0);
  });

  it('answers unknown paths with METADATA_NOT_FOUND without detail', async () => {
    for (const [m, p] of [['GET', '/'], ['GET', '/v2/example.com/a/_trust/tuf/root.key'], ['POST', '/v2/example.com/a/_trust/tuf/targets.key'], ['PUT', '/v2/x'], ['DELETE', '/v2/example.com/a/_trust/tuf/root.json']]) {
      const res = await request(srv.url, m as string, p as string);
      expect(res.status).toBe(404);
      expect(res.json()).toEqual({ errors: [{ code: 'METADATA_NOT_FOUND', message: 'You have requested metadata that does not exist.' }] });
    }
  });

  it('routes role names as Notary\'s mux does (upper case reaches the store and is simply not found)', async () => {
    const res = await request(srv.url, 'GET', '/v2/example.com/a/_trust/tuf/targets/Releases.json');
    expect(res.status).toBe(404);
    expect(res.json().errors[0].detail).toEqual({});
  });

  it('redirects unclean paths (301) to their clean form, keeping the query', async () => {
    const cases: Array<[string, string]> = [
      ['/v2/example.com//a/_trust/tuf/root.json', '/v2/example.com/a/_trust/tuf/root.json'],
      ['/v2/example.com/a/./_trust/tuf/root.json', '/v2/example.com/a/_trust/tuf/root.json'],
      ['/v2/example.com/a/b/../_trust/tuf/root.json', '/v2/example.com/a/_trust/tuf/root.json'],
      ['/v2/example.com/a/%2e%2e/b/_trust/tuf/root.json', '/v2/example.com/b/_trust/tuf/root.json'],
      ['/v2/../../etc/passwd', '/etc/passwd'],
      ['/v2/x/_trust/changefeed/../changefeed?records=1', '/v2/x/_trust/changefeed?records=1'],
    ];
    for (const [from, to] of cases) {
      const res = await request(srv.url, 'GET', from);
      expect(res.status).toBe(301);
      expect(res.headers.location).toBe(to);
    }
  });

  it('percent-decodes the path, so an encoded GUN reaches the same repository', async () => {
    const { sim, root } = await serverSnapshotRepo('decode');
    const res = await request(srv.url, 'GET', `/v2/${encodeURIComponent(sim.gun)}/_trust/tuf/root.json`);
    expect(res.status).toBe(200);
    expect(res.body.equals(root.bytes)).toBe(true);
  });

  it('answers a broken percent-escape with 400', async () => {
    expect((await request(srv.url, 'GET', '/v2/example.com/%zz/_trust/tuf/root.json')).status).toBe(400);
  });
});

describe('key endpoints', () => {
  it('creates a timestamp key for an unknown GUN and writes it as Go does (row 5)', async () => {
    const res = await get(newGun('newkey'), 'timestamp.key');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^\{"keytype":"ed25519","keyval":\{"public":"[A-Za-z0-9+/]+=*","private":null\}\}$/);
  });

  it('returns the key root names, every time, once a root is stored (row 6)', async () => {
    const { sim } = await serverSnapshotRepo('stable');
    for (const role of ['timestamp', 'snapshot'] as const) {
      const want = role === 'timestamp' ? sim.timestampKey : sim.serverSnapshotKey;
      for (let i = 0; i < 2; i++) {
        const key = parsePublicKey((await get(sim.gun, `${role}.key`)).json());
        expect(key.id).toBe(want?.id);
      }
    }
  });

  it('rotates: POST snapshot.key gives a new key and leaves the stored root alone (row 7)', async () => {
    const { sim, root } = await serverSnapshotRepo('rotate');
    const res = await request(srv.url, 'POST', `/v2/${sim.gun}/_trust/tuf/snapshot.key`);
    expect(res.status).toBe(200);
    const fresh = parsePublicKey(res.json());
    expect(fresh.id).not.toBe(sim.serverSnapshotKey?.id);
    expect((await get(sim.gun, 'root.json')).body.equals(root.bytes)).toBe(true);
    // GET still answers with the key the stored root names
    expect(parsePublicKey((await get(sim.gun, 'snapshot.key')).json()).id).toBe(sim.serverSnapshotKey?.id);
  });

  it('does not route root.key or targets.key (row 8)', async () => {
    expect((await get(newGun('k'), 'root.key')).status).toBe(404);
    expect((await request(srv.url, 'POST', `/v2/${newGun('k')}/_trust/tuf/targets.key`)).status).toBe(404);
  });

  it('answers a failing key service with 500 UNKNOWN and {} detail', async () => {
    keys.down = true;
    try {
      const res = await get(newGun('down'), 'timestamp.key');
      expect(res.status).toBe(500);
      expect(res.json()).toEqual({ errors: [{ code: 'UNKNOWN', message: 'unknown error', detail: {} }] });
    } finally {
      keys.down = false;
    }
  });

  it('does not hand out keys for GUNs that cannot exist', async () => {
    const res = await request(srv.url, 'GET', '/v2/example.com/a%0Ab/_trust/tuf/timestamp.key');
    expect(res.status).toBe(400);
    expect(res.json().errors[0].code).toBe('INVALID_GUN');
  });
});

describe('DELETE', () => {
  it('removes every version, writes a deletion record, and lets the GUN start again (row 37)', async () => {
    const { sim } = await serverSnapshotRepo('delete');
    expect((await get(sim.gun, 'root.json')).status).toBe(200);
    const res = await request(srv.url, 'DELETE', `/v2/${sim.gun}/_trust/tuf/`);
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    for (const f of ['root.json', 'targets.json', 'snapshot.json', 'timestamp.json', '1.root.json']) expect((await get(sim.gun, f)).status).toBe(404);
    const feedRes = await request(srv.url, 'GET', `/v2/${sim.gun}/_trust/changefeed?records=0`);
    expect(matchesSchema('changefeed', parseJson(feedRes.body))).toBe(true);
    const feed = feedRes.json();
    const last = feed.records[feed.records.length - 1];
    expect(last).toMatchObject({ GUN: sim.gun, Version: 0, SHA256: '', Category: 'deletion' });
    // versions restart at 1 with a fresh root
    const again = new RepoSim(sim.gun);
    await again.fetchServerKeys(srv.url, true);
    expect((await publish(srv.url, sim.gun, { root: again.root(1), targets: again.targets(1) })).status).toBe(200);
  });

  it('answers 200 for a GUN that never existed, without a changefeed record', async () => {
    const gun = newGun('nothing');
    expect((await request(srv.url, 'DELETE', `/v2/${gun}/_trust/tuf/`)).status).toBe(200);
    expect((await request(srv.url, 'GET', `/v2/${gun}/_trust/changefeed?records=0`)).json()).toEqual({ count: 0, records: [] });
  });

  it('deletes exactly the GUN, not GUNs it is a prefix of', async () => {
    const base = newGun('prefix');
    const a = new RepoSim(base);
    const b = new RepoSim(`${base}c`);
    for (const sim of [a, b]) {
      await sim.fetchServerKeys(srv.url, true);
      expect((await publish(srv.url, sim.gun, { root: sim.root(1), targets: sim.targets(1) })).status).toBe(200);
    }
    expect((await request(srv.url, 'DELETE', `/v2/${a.gun}/_trust/tuf/`)).status).toBe(200);
    expect((await get(a.gun, 'root.json')).status).toBe(404);
    expect((await get(b.gun, 'root.json')).status).toBe(200);
  });

  it('removes the online keys held for the GUN', async () => {
    const { sim } = await serverSnapshotRepo('keys-gone');
    expect(await keys.getKeyInfo(sim.timestampKey!.id)).not.toBeNull();
    expect((await request(srv.url, 'DELETE', `/v2/${sim.gun}/_trust/tuf/`)).status).toBe(200);
    expect(await keys.getKeyInfo(sim.timestampKey!.id)).toBeNull();
  });
});

describe('changefeed', () => {
  it('needs the records parameter (row 38)', async () => {
    const res = await request(srv.url, 'GET', '/v2/example.com/x/_trust/changefeed');
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({
      errors: [{ code: 'INVALID_PARAMETERS', message: 'The parameters provided are not valid.', detail: 'invalid records parameter: strconv.ParseInt: parsing "": invalid syntax' }],
    });
    const bad = await request(srv.url, 'GET', '/v2/_trust/changefeed?records=abc');
    expect(bad.json().errors[0].detail).toBe('invalid records parameter: strconv.ParseInt: parsing "abc": invalid syntax');
    const big = await request(srv.url, 'GET', '/v2/_trust/changefeed?records=99999999999');
    expect(big.json().errors[0].detail).toBe('invalid records parameter: strconv.ParseInt: parsing "99999999999": value out of range');
    const id = await request(srv.url, 'GET', '/v2/_trust/changefeed?records=1&change_id=x');
    expect(id.status).toBe(400);
    expect(id.json().errors[0]).toEqual({ code: 'INVALID_PARAMETERS', message: 'The parameters provided are not valid.', detail: {} });
  });

  it('lists one record per stored timestamp, oldest first, in Go\'s field order (row 39)', async () => {
    const { sim } = await serverSnapshotRepo('feed');
    expect((await publish(srv.url, sim.gun, { targets: sim.targets(2) })).status).toBe(200);
    const res = await request(srv.url, 'GET', `/v2/${sim.gun}/_trust/changefeed?records=0`);
    expect(res.status).toBe(200);
    const feed = res.json();
    expect(feed.count).toBe(2);
    expect(feed.records.map((r: { Version: number }) => r.Version)).toEqual([1, 2]);
    const ts = (await get(sim.gun, 'timestamp.json')).body;
    expect(feed.records[1].SHA256).toBe(sha256(ts));
    expect(Object.keys(feed.records[0])).toEqual(['ID', 'CreatedAt', 'GUN', 'Version', 'SHA256', 'Category']);
    expect(feed.records[0].ID).toMatch(/^\d+$/);
    expect(feed.records[0].CreatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    expect(Number(feed.records[1].ID)).toBeGreaterThan(Number(feed.records[0].ID));
    // paging: after the first record's ID
    const after = (await request(srv.url, 'GET', `/v2/${sim.gun}/_trust/changefeed?records=10&change_id=${feed.records[0].ID}`)).json();
    expect(after.records.map((r: { Version: number }) => r.Version)).toEqual([2]);
  });

  it('walks backwards from the newest with negative records and change_id=-1 (row 40)', async () => {
    await serverSnapshotRepo('back1');
    await serverSnapshotRepo('back2');
    await serverSnapshotRepo('back3');
    const all = (await request(srv.url, 'GET', '/v2/_trust/changefeed?records=-1000&change_id=-1')).json();
    const last3 = (await request(srv.url, 'GET', '/v2/_trust/changefeed?records=-3&change_id=-1')).json();
    expect(last3.count).toBe(3);
    expect(last3.records).toEqual(all.records.slice(-3));
    const ids = last3.records.map((r: { ID: string }) => Number(r.ID));
    expect(ids).toEqual([...ids].sort((x: number, y: number) => x - y));
  });

  it('caps records=0 at 100 and answers an unknown GUN with an empty list', async () => {
    const all = (await request(srv.url, 'GET', '/v2/_trust/changefeed?records=0')).json();
    expect(all.count).toBeLessThanOrEqual(100);
    expect((await request(srv.url, 'GET', '/v2/example.com/none/_trust/changefeed?records=5')).json()).toEqual({ count: 0, records: [] });
  });
});

describe('server-signed metadata stays fresh', () => {
  afterEach(() => {
    srv.clock.now = Date.now();
  });

  it('re-signs the timestamp once less than a quarter of its life remains, with a changefeed record (row 35)', async () => {
    const t0 = srv.clock.now;
    const { sim } = await serverSnapshotRepo('fresh', srv.url, () => t0);
    const feed = async () => (await request(srv.url, 'GET', `/v2/${sim.gun}/_trust/changefeed?records=0`)).json().count;
    const v1 = (await get(sim.gun, 'timestamp.json')).body;
    expect(versionOf(v1, 'timestamp')).toBe(1);
    srv.clock.now = t0 + 10 * DAY;
    expect((await get(sim.gun, 'timestamp.json')).body.equals(v1)).toBe(true);
    expect(await feed()).toBe(1);
    srv.clock.now = t0 + 11 * DAY;
    const v2 = (await get(sim.gun, 'timestamp.json')).body;
    expect(versionOf(v2, 'timestamp')).toBe(2);
    expect(parseMetadata(v2, 'timestamp').body.expires).toBeGreaterThan(srv.clock.now + 13 * DAY);
    expect(await feed()).toBe(2);
    // it still names the same snapshot, which is not due
    expect((parseMetadata(v2, 'timestamp').signed.meta as JsonObject).snapshot).toEqual((parseMetadata(v1, 'timestamp').signed.meta as JsonObject).snapshot);
    // and the old one stays available by version for clients that pinned it
    expect((await get(sim.gun, '1.timestamp.json')).body.equals(v1)).toBe(true);
  });

  it('re-signs an already expired timestamp on the next GET (Notary\'s rule)', async () => {
    const t0 = srv.clock.now;
    const { sim } = await serverSnapshotRepo('expired-ts', srv.url, () => t0);
    await get(sim.gun, 'timestamp.json');
    srv.clock.now = t0 + 20 * DAY;
    const ts = parseMetadata((await get(sim.gun, 'timestamp.json')).body, 'timestamp');
    expect(ts.body.version).toBe(2);
    expect(ts.body.expires).toBeGreaterThan(srv.clock.now);
  });

  it('signs one new timestamp when many clients ask at once', async () => {
    const t0 = srv.clock.now;
    const { sim } = await serverSnapshotRepo('herd', srv.url, () => t0);
    await get(sim.gun, 'timestamp.json');
    srv.clock.now = t0 + 12 * DAY;
    const bodies = await Promise.all(Array.from({ length: 12 }, () => get(sim.gun, 'timestamp.json')));
    for (const b of bodies) {
      expect(b.status).toBe(200);
      expect(versionOf(b.body, 'timestamp')).toBe(2);
    }
    expect((await get(sim.gun, '3.timestamp.json')).status).toBe(404);
  });

  it('re-signs a server-held snapshot near its expiry, with the root entry recomputed', async () => {
    const t0 = srv.clock.now;
    const { sim, root } = await serverSnapshotRepo('fresh-snap', srv.url, () => t0);
    srv.clock.now = t0 + 830 * DAY;
    const ts = parseMetadata((await get(sim.gun, 'timestamp.json')).body, 'timestamp');
    const snapBytes = (await get(sim.gun, 'snapshot.json')).body;
    const snap = parseMetadata(snapBytes, 'snapshot');
    expect(snap.body.version).toBe(2);
    expect(snap.body.expires).toBeGreaterThan(srv.clock.now + 1000 * DAY);
    expect((snap.signed.meta as JsonObject).root).toEqual(fileMetaOf(root.bytes));
    expect((ts.signed.meta as JsonObject).snapshot).toEqual(fileMetaOf(snapBytes));
  });

  it('keeps re-signing timestamps over a client-held snapshot but never touches that snapshot', async () => {
    const t0 = srv.clock.now;
    const { sim, snapshot } = await clientSnapshotRepo('client-fresh');
    srv.clock.now = t0 + 900 * DAY;
    const ts = parseMetadata((await get(sim.gun, 'timestamp.json')).body, 'timestamp');
    expect(ts.body.version).toBe(2);
    expect((await get(sim.gun, 'snapshot.json')).body.equals(snapshot.bytes)).toBe(true);
  });

  it('never signs over an expired root: the stored timestamp is served as it is', async () => {
    const t0 = srv.clock.now;
    const { sim } = await serverSnapshotRepo('dead-root', srv.url, () => t0);
    const v1 = (await get(sim.gun, 'timestamp.json')).body;
    srv.clock.now = t0 + 3700 * DAY;
    const res = await get(sim.gun, 'timestamp.json');
    expect(res.status).toBe(200);
    expect(res.body.equals(v1)).toBe(true);
    expect(srv.logs.text).toMatch(/root has expired/);
  });
});

describe('health and metrics', () => {
  it('reports healthy storage and key service as 200 {}', async () => {
    const res = await request(srv.url, 'GET', '/_notary_server/health');
    expect(res.status).toBe(200);
    expect(res.text).toBe('{}');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('reports a key service that is down as 503 with a map of failing checks (row 44)', async () => {
    keys.down = true;
    try {
      const res = await request(srv.url, 'GET', '/_notary_server/health');
      expect(res.status).toBe(503);
      expect(res.json()).toEqual({ 'Trust operational': 'rpc error: code = Unavailable desc = connection refused' });
    } finally {
      keys.down = false;
    }
  });

  it('exposes Prometheus metrics with Notary\'s operation names', async () => {
    await get('example.com/meta/metrics', 'root.json');
    const res = await request(srv.url, 'GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.text).toMatch(/^# TYPE vouch_http_requests_total counter$/m);
    expect(res.text).toMatch(/^vouch_http_requests_total\{operation="GetRole",method="GET",code="404"\} \d+$/m);
    expect(res.text).toMatch(/^vouch_http_requests_total\{operation="UpdateTUF",method="POST",code="200"\} \d+$/m);
    expect(res.text).toMatch(/^vouch_http_request_duration_seconds_bucket\{operation="GetRole",le="\+Inf"\} \d+$/m);
    expect(res.text).toMatch(/^vouch_publishes_total\{outcome="ok"\} \d+$/m);
  });
});

describe('when the key service is down', () => {
  afterEach(() => {
    keys.down = false;
    srv.clock.now = Date.now();
  });

  it('keeps serving a timestamp that is due for re-signing but still valid', async () => {
    const t0 = srv.clock.now;
    const { sim } = await serverSnapshotRepo('down-due', srv.url, () => t0);
    const v1 = (await get(sim.gun, 'timestamp.json')).body;
    keys.down = true;
    srv.clock.now = t0 + 12 * DAY;
    const res = await get(sim.gun, 'timestamp.json');
    expect(res.status).toBe(200);
    expect(res.body.equals(v1)).toBe(true);
    // once the key service is back, the next look re-signs it
    keys.down = false;
    srv.clock.now = t0 + 12 * DAY + 2 * 60_000;
    expect(versionOf((await get(sim.gun, 'timestamp.json')).body, 'timestamp')).toBe(2);
  });

  it('answers 500 rather than serve a timestamp that has expired', async () => {
    const t0 = srv.clock.now;
    const { sim } = await serverSnapshotRepo('down-expired', srv.url, () => t0);
    await get(sim.gun, 'timestamp.json');
    keys.down = true;
    srv.clock.now = t0 + 15 * DAY;
    const res = await get(sim.gun, 'timestamp.json');
    expect(res.status).toBe(500);
    expect(res.json().errors[0].code).toBe('UNKNOWN');
  });

  it('refuses a publish with 500 and stores nothing', async () => {
    const { sim } = await serverSnapshotRepo('down-publish');
    keys.down = true;
    const res = await publish(srv.url, sim.gun, { targets: sim.targets(2) });
    expect(res.status).toBe(500);
    keys.down = false;
    expect((await srv.store.getCurrent(sim.gun, 'targets'))?.version).toBe(1);
  });
});
