/**
 * The client reads real trust data made by the real notary 0.7 client and server
 * (../shared/fixtures/notary-0.7), served by the simulator's HTTP server exactly as notary-server
 * served it. The fixtures' timestamps expire on 2026-12-07, so the clock is pinned.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MetadataCache } from '../../../cli/cache';
import { findTarget, listTargets, TrustedRepo, updateRepository, verifyTargetBytes } from '../../../cli/client';
import { Remote } from '../../../cli/remote';
import {
  fileMetaOf,
  generatePrivateKey,
  JsonObject,
  parseMetadata,
  PrivateKey,
  privateKeyFromKeyObject,
  Root,
  sha256Hex,
  signMetadata,
  timestampSigned,
  withFields,
  formatGoTime,
} from '../../../tuf';
import { FIXTURES, fixture, FIXTURE_APP_GUN as APP, FIXTURE_NOW as NOW, FIXTURE_SERVER_SNAPSHOT_GUN as SERVER_SNAPSHOT } from '../../helpers/fixtures';
import { RepositorySimulator } from '../simulator';

const BEFORE = path.join(FIXTURES, 'app/before-root-rotation');
const AFTER = path.join(FIXTURES, 'app/after-root-rotation');

/** A client key from the fixture trust dir (encrypted PKCS#8 with `role:`/`gun:` headers). */
function fixtureKey(id: string, passphrase: string): PrivateKey {
  const pem = fixture(`keys/client-private/${id}.key`)
    .toString('utf8')
    .replace(/^(role|gun): .*\n/gm, '')
    .replace(/-----\n\n/, '-----\n');
  return privateKeyFromKeyObject(crypto.createPrivateKey({ key: pem, format: 'pem', passphrase }));
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('reading the real notary 0.7 fixtures', () => {
  let trustDir: string;
  let sim: RepositorySimulator;
  let remote: Remote;
  let cache: MetadataCache;
  const update = (gun = APP) => updateRepository({ gun, remote, cache, now: NOW });

  beforeEach(async () => {
    trustDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-fixtures-'));
    sim = new RepositorySimulator({ gun: APP, now: NOW });
    await sim.start();
    remote = new Remote({ url: sim.url });
    cache = new MetadataCache(trustDir);
  });
  afterEach(async () => {
    remote.close();
    await sim.stop();
    fs.rmSync(trustDir, { recursive: true, force: true });
  });

  function expectAppListing(repo: TrustedRepo) {
    // `notary list example.com/notary-fixtures/app`, as recorded in the fixtures' README
    expect(listTargets(repo).map((t) => [t.name, t.meta.hashes.sha256!.toString('hex'), t.meta.length, t.role])).toEqual([
      ['hello', '25476a9274c1fbd87643304f1e322f6533cceae717651a87f257a2a383bac84b', 35, 'targets'],
      ['release-1', '6f0602131b7705f713d860518e0f4919dd6311844f24cc95da767ea93672ab57', 18, 'targets/releases'],
      ['v1.0', '9be8dca9978b667e589a2b70873242aa1325da4d7559d64371e62c370348bea5', 29, 'targets'],
    ]);
  }

  it('lists and verifies what notary published, fetching by hash, and caches the exact bytes', async () => {
    sim.serveDirectory(BEFORE);
    const fingerprints: string[] = [];
    const repo = await updateRepository({ gun: APP, remote, cache, now: NOW, onFirstUse: (fp) => fingerprints.push(fp) });
    expect(fingerprints).toEqual(['f68ed88bf3c44ce26cf8a3b556220f92f9d35edb10b48a5ed0a50c713c75013d']);
    expectAppListing(repo);
    expect(repo.warnings).toEqual([]);
    const snapshotBytes = fixture('app/before-root-rotation/snapshot.json');
    expect(sim.requests).toContain(`GET /v2/${APP}/_trust/tuf/snapshot.${sha256(snapshotBytes)}.json`);
    expect(sim.requests).toContain(`GET /v2/${APP}/_trust/tuf/targets/releases.${sha256(fixture('app/before-root-rotation/targets/releases.json'))}.json`);
    for (const role of ['root', 'timestamp', 'snapshot', 'targets', 'targets/releases']) {
      expect(cache.read(APP, role)!.equals(fixture(`app/before-root-rotation/${role}.json`))).toBe(true);
    }
    // the payloads verify against the trust data
    for (const [name, file] of [['hello', 'hello.txt'], ['release-1', 'release-1.txt'], ['v1.0', 'v1.0.txt']] as const) {
      expect(() => verifyTargetBytes(findTarget(repo, name)!, fixture(`target-files/${file}`))).not.toThrow();
    }
  });

  it('follows the real root rotation from the before-rotation root to the after-rotation root', async () => {
    sim.serveDirectory(BEFORE);
    await update();
    sim.served.clear();
    sim.serveDirectory(AFTER);
    const mark = sim.requests.length;
    const repo = await update();
    expect(repo.root.body.version).toBe(2);
    expect(repo.root.bytes.equals(fixture('app/after-root-rotation/2.root.json'))).toBe(true);
    expect(cache.read(APP, 'root')!.equals(fixture('app/after-root-rotation/2.root.json'))).toBe(true);
    // the new snapshot named the new root, which was fetched by that hash
    const newRoot = fixture('app/after-root-rotation/root.json');
    expect(sim.requests.slice(mark)).toContain(`GET /v2/${APP}/_trust/tuf/root.${sha256(newRoot)}.json`);
    expectAppListing(repo);
  });

  it('walks 1.root.json and 2.root.json to a root version 3 that only the version 2 key signed', async () => {
    sim.serveDirectory(BEFORE);
    await update();

    // the repository owner rotates again: root v3 signed only by the v2 root key, a new
    // timestamp key, and a new snapshot and timestamp (signed with the fixture snapshot key)
    const v2: Root = parseMetadata(fixture('app/after-root-rotation/2.root.json'), 'root');
    const v2RootKeyId = v2.body.roles.get('root')!.keyids[0]!;
    const v2RootKey = fixtureKey('952df16d5b028c01d7e5e31df71c3e91cc1efe310be406eb0c0a750310f97808', 'fixture-root-passphrase');
    const snapshotKey = fixtureKey('0a72af5f67ca5b1725c19b6608d415f69900fba151aa9bb1c3d07ba2f4080551', 'fixture-snapshot-passphrase');
    expect(snapshotKey.public.id).toBe(v2.body.roles.get('snapshot')!.keyids[0]);
    const timestampKey = generatePrivateKey('ed25519');
    const keys = { ...(v2.signed.keys as JsonObject) };
    const oldTimestampId = v2.body.roles.get('timestamp')!.keyids[0]!;
    delete keys[oldTimestampId];
    keys[timestampKey.public.id] = { keytype: 'ed25519', keyval: { private: null, public: timestampKey.public.publicB64 } };
    const roles = { ...(v2.signed.roles as JsonObject), timestamp: { keyids: [timestampKey.public.id], threshold: 1 } };
    const v3 = signMetadata('root', withFields(v2.signed, { version: 3, keys, roles }), [{ key: v2RootKey, keyid: v2RootKeyId }]);
    // version 3 does not carry a signature by the version 1 root key
    expect(v3.signatures.map((s) => s.keyid)).toEqual([v2RootKeyId]);

    const oldSnapshot = parseMetadata(fixture('app/after-root-rotation/snapshot.json'), 'snapshot');
    const snapshot = signMetadata(
      'snapshot',
      withFields(oldSnapshot.signed, { version: 8, meta: { ...(oldSnapshot.signed.meta as JsonObject), root: fileMetaOf(v3.bytes) } }),
      [{ key: snapshotKey }],
    );
    const timestamp = signMetadata('timestamp', timestampSigned({ snapshotBytes: snapshot.bytes, version: 7, expires: formatGoTime(NOW + 7 * 86400_000) }), [
      { key: timestampKey },
    ]);

    sim.served.clear();
    sim.serveDirectory(AFTER);
    for (const [name, md] of [['root', v3], ['3.root', v3], ['snapshot', snapshot], ['timestamp', timestamp]] as const) sim.serve(name, md.bytes);
    sim.serve(`root.${sha256Hex(v3.bytes)}`, v3.bytes);
    sim.serve(`snapshot.${sha256Hex(snapshot.bytes)}`, snapshot.bytes);

    const mark = sim.requests.length;
    const repo = await update();
    expect(repo.root.body.version).toBe(3);
    expect(repo.timestamp.bytes.equals(timestamp.bytes)).toBe(true);
    const fetched = sim.requests.slice(mark);
    expect(fetched).toContain(`GET /v2/${APP}/_trust/tuf/root.json`);
    expect(fetched).toContain(`GET /v2/${APP}/_trust/tuf/2.root.json`);
    expect(cache.read(APP, 'root')!.equals(v3.bytes)).toBe(true);
    expectAppListing(repo);
  });

  it('reads the repository whose snapshot key the server holds', async () => {
    const s = new RepositorySimulator({ gun: SERVER_SNAPSHOT, now: NOW });
    await s.start();
    const r = new Remote({ url: s.url });
    try {
      s.serveDirectory(path.join(FIXTURES, 'server-snapshot'));
      const repo = await updateRepository({ gun: SERVER_SNAPSHOT, remote: r, cache, now: NOW });
      expect(listTargets(repo).map((t) => [t.name, t.meta.length, t.role])).toEqual([['hello', 35, 'targets']]);
      expect(() => verifyTargetBytes(findTarget(repo, 'hello')!, fixture('target-files/hello.txt'))).not.toThrow();
    } finally {
      r.close();
      await s.stop();
    }
  });

  it('refuses the fixtures once their timestamp has expired (the clock matters)', async () => {
    sim.serveDirectory(BEFORE);
    await expect(updateRepository({ gun: APP, remote, cache, now: Date.parse('2026-12-08T00:00:00Z') })).rejects.toMatchObject({ code: 'EXPIRED', role: 'timestamp' });
  });
});
