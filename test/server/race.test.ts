/**
 * Publishes racing on one GUN never both win and never leave a broken repository: the loser
 * gets Notary's VERSION error and the stored state is exactly the winner's. The key service
 * signs slowly here, so that both publishes have validated before either stores.
 */
import { JsonObject, parseMetadata, generatePrivateKey } from '../../tuf';
import { DAY, publish, RepoSim, request, Response, sha256, startTestServer, SwitchableKeyService, targetMeta, TestServer } from './helpers';

let srv: TestServer;
let keys: SwitchableKeyService;

beforeAll(async () => {
  keys = new SwitchableKeyService();
  srv = await startTestServer({ keys });
});
afterAll(async () => {
  await srv.close();
});

/**
 * Walk the repository as a client does: timestamp -> snapshot by hash -> every role the
 * snapshot lists by hash. Returns the snapshot's meta; throws if anything is missing.
 */
async function walk(url: string, gun: string): Promise<JsonObject> {
  const ts = parseMetadata((await request(url, 'GET', `/v2/${gun}/_trust/tuf/timestamp.json`)).body, 'timestamp');
  const snapSha = ts.body.snapshot.hashes.sha256?.toString('hex');
  const snapRes = await request(url, 'GET', `/v2/${gun}/_trust/tuf/snapshot.${snapSha}.json`);
  expect(snapRes.status).toBe(200);
  const snapshot = parseMetadata(snapRes.body, 'snapshot');
  for (const [role, meta] of snapshot.body.meta) {
    const hex = meta.hashes.sha256?.toString('hex');
    const res = await request(url, 'GET', `/v2/${gun}/_trust/tuf/${role}.${hex}.json`);
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(hex);
    expect(res.body.length).toBe(meta.length);
  }
  return snapshot.signed.meta as JsonObject;
}

async function newRepo(label: string, url = srv.url) {
  const sim = new RepoSim(`example.com/race/${label}`, { now: () => srv.clock.now });
  await sim.fetchServerKeys(url, true);
  expect((await publish(url, sim.gun, { root: sim.root(1), targets: sim.targets(1) })).status).toBe(200);
  return sim;
}

function outcome(results: Response[]): { winners: number; losers: Response[] } {
  const winners = results.filter((r) => r.status === 200).length;
  return { winners, losers: results.filter((r) => r.status !== 200) };
}

describe('racing publishes in one process', () => {
  beforeEach(() => {
    keys.signDelayMs = 40;
  });
  afterEach(() => {
    keys.signDelayMs = 0;
  });

  it('lets exactly one of two targets publishes of the same version win; the loser gets VERSION', async () => {
    for (let round = 0; round < 3; round++) {
      const sim = await newRepo(`same-version-${round}`);
      const a = sim.targets(2, { a: targetMeta('a') });
      const b = sim.targets(2, { b: targetMeta('b') });
      const results = await Promise.all([publish(srv.url, sim.gun, { targets: a }), publish(srv.url, sim.gun, { targets: b })]);
      const { winners, losers } = outcome(results);
      expect(winners).toBe(1);
      expect(losers).toHaveLength(1);
      expect(losers[0]?.status).toBe(400);
      expect(losers[0]?.json().errors[0]).toEqual({ code: 'VERSION', message: 'A newer version of metadata is already available.', detail: {} });
      const winner = results[0]?.status === 200 ? a : b;
      expect((await request(srv.url, 'GET', `/v2/${sim.gun}/_trust/tuf/targets.json`)).body.equals(winner.bytes)).toBe(true);
      const meta = await walk(srv.url, sim.gun);
      expect(((meta.targets as JsonObject).hashes as JsonObject).sha256).toBe(Buffer.from(sha256(winner.bytes), 'hex').toString('base64'));
      expect(parseMetadata((await request(srv.url, 'GET', `/v2/${sim.gun}/_trust/tuf/timestamp.json`)).body, 'timestamp').body.version).toBe(2);
    }
  });

  it('lets one of two publishes of different roles win, so no snapshot forgets the other\'s file', async () => {
    const sim = await newRepo('different-roles');
    const relKey = generatePrivateKey('ecdsa');
    keys.signDelayMs = 0;
    expect((await publish(srv.url, sim.gun, { targets: sim.targets(2, {}, [{ name: 'targets/releases', key: relKey }]) })).status).toBe(200);
    keys.signDelayMs = 40;
    const t3 = sim.targets(3, { t: targetMeta('t') }, [{ name: 'targets/releases', key: relKey }]);
    const rel = sim.delegation('targets/releases', 1, { r: targetMeta('r') });
    const results = await Promise.all([publish(srv.url, sim.gun, { targets: t3 }), publish(srv.url, sim.gun, { 'targets/releases': rel })]);
    const { winners, losers } = outcome(results);
    expect(winners).toBe(1);
    expect(losers[0]?.json().errors[0].code).toBe('VERSION');
    const meta = await walk(srv.url, sim.gun);
    // whatever won is in the snapshot; what lost is nowhere
    if (results[0]?.status === 200) {
      expect(meta['targets/releases']).toBeUndefined();
      expect((await request(srv.url, 'GET', `/v2/${sim.gun}/_trust/tuf/targets/releases.json`)).status).toBe(404);
    } else {
      expect(meta['targets/releases']).toBeDefined();
      expect((await request(srv.url, 'GET', `/v2/${sim.gun}/_trust/tuf/targets.json`)).body.equals(t3.bytes)).toBe(false);
    }
  });

  it('keeps the repository whole when a publish races a timestamp refresh', async () => {
    const t0 = srv.clock.now;
    try {
      const sim = await newRepo('refresh');
      await request(srv.url, 'GET', `/v2/${sim.gun}/_trust/tuf/timestamp.json`);
      srv.clock.now = t0 + 12 * DAY;
      const t2 = sim.targets(2, { x: targetMeta('x') });
      const [get, pub] = await Promise.all([request(srv.url, 'GET', `/v2/${sim.gun}/_trust/tuf/timestamp.json`), publish(srv.url, sim.gun, { targets: t2 })]);
      expect(get.status).toBe(200);
      expect([200, 400]).toContain(pub.status);
      if (pub.status === 400) expect(pub.json().errors[0].code).toBe('VERSION');
      await walk(srv.url, sim.gun);
      // a retry after a lost race goes through
      if (pub.status !== 200) expect((await publish(srv.url, sim.gun, { targets: t2 })).status).toBe(200);
      const meta = await walk(srv.url, sim.gun);
      expect(((meta.targets as JsonObject).hashes as JsonObject).sha256).toBe(Buffer.from(sha256(t2.bytes), 'hex').toString('base64'));
    } finally {
      srv.clock.now = Date.now();
    }
  });
});

describe('racing publishes through two servers on one SQLite file', () => {
  it('lets exactly one win', async () => {
    const other = await startTestServer({ dbFile: `${srv.dir}/server.db`, keys });
    try {
      keys.signDelayMs = 40;
      const sim = await newRepo('two-servers');
      const a = sim.targets(2, { a: targetMeta('a') });
      const b = sim.targets(2, { b: targetMeta('b') });
      const results = await Promise.all([publish(srv.url, sim.gun, { targets: a }), publish(other.url, sim.gun, { targets: b })]);
      const { winners, losers } = outcome(results);
      expect(winners).toBe(1);
      expect(losers[0]?.json().errors[0].code).toBe('VERSION');
      await walk(srv.url, sim.gun);
      await walk(other.url, sim.gun);
    } finally {
      keys.signDelayMs = 0;
      await other.close();
    }
  });
});
