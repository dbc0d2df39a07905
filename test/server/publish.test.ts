/**
 * POST /v2/<gun>/_trust/tuf/ over HTTP against the real app (in-process, real SQLite file,
 * in-process key service): spec 1.4 and checklist rows 9-30 and 36, plus the points where we
 * are stricter than Notary. Every refused publish must leave storage exactly as it was.
 */
import * as crypto from 'node:crypto';
import { fileMetaOf, generatePrivateKey, JsonObject, makePublicKey, makeRootCertificateKey, parseMetadata, signMetadata, targetsSigned, withFields } from '../../tuf';
import { fixture } from '../helpers/fixtures';
import { DAY, multipart, publish, RepoSim, request, sha256, startTestServer, storedState, targetMeta, TestServer } from './helpers';

let srv: TestServer;
let n = 0;
/** a fresh GUN per test */
const newGun = (label: string) => `example.com/publish/${label}-${++n}`;

beforeAll(async () => {
  srv = await startTestServer({ limits: { maxUploadFiles: 8 } });
});
afterAll(async () => {
  await srv.close();
});

/** A repository whose first publish (root, targets v1, client snapshot) has been accepted. */
async function clientSnapshotRepo(label: string, targets: JsonObject = { v1: targetMeta('one') }) {
  const sim = new RepoSim(newGun(label));
  await sim.fetchServerKeys(srv.url);
  const root = sim.root(1);
  const t = sim.targets(1, targets);
  const s = sim.snapshot(1, { root, targets: t });
  const res = await publish(srv.url, sim.gun, { root, targets: t, snapshot: s });
  expect(res.status).toBe(200);
  return { sim, root, targets: t, snapshot: s };
}

/** A repository whose snapshot key the server holds (Docker's layout), first publish done. */
async function serverSnapshotRepo(label: string, targets: JsonObject = { v1: targetMeta('one') }) {
  const sim = new RepoSim(newGun(label));
  await sim.fetchServerKeys(srv.url, true);
  const root = sim.root(1);
  const t = sim.targets(1, targets);
  const res = await publish(srv.url, sim.gun, { root, targets: t });
  expect(res.status).toBe(200);
  return { sim, root, targets: t };
}

async function get(gun: string, file: string) {
  return request(srv.url, 'GET', `/v2/${gun}/_trust/tuf/${file}`);
}

/** Assert a 400 INVALID_UPDATE with this validation class and message, and nothing stored. */
async function expectRefused(gun: string, send: () => Promise<{ status: number; json(): any; text: string }>, name: string, msg: string | RegExp) {
  const before = await storedState(srv.store, gun);
  const res = await send();
  expect(res.status).toBe(400);
  const body = res.json();
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0].code).toBe('INVALID_UPDATE');
  expect(body.errors[0].message).toBe('Update sent by the client is invalid.');
  expect(body.errors[0].detail.Name).toBe(name);
  if (typeof msg === 'string') expect(body.errors[0].detail.Error.Msg).toBe(msg);
  else expect(body.errors[0].detail.Error.Msg).toMatch(msg);
  // the Go client reads only 1 KiB of an error body
  expect(Buffer.byteLength(res.text)).toBeLessThanOrEqual(1024);
  expect(await storedState(srv.store, gun)).toBe(before);
  return body.errors[0];
}

async function expectError(gun: string, send: () => Promise<{ status: number; json(): any; headers: Record<string, unknown> }>, status: number, code: string) {
  const before = await storedState(srv.store, gun);
  const res = await send();
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  const body = res.json();
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0].code).toBe(code);
  expect(await storedState(srv.store, gun)).toBe(before);
  return body.errors[0];
}

describe('first publishes', () => {
  it('accepts root+targets with a server-held snapshot key and serves snapshot v1 and timestamp v1 (row 9)', async () => {
    const { sim, root, targets } = await serverSnapshotRepo('docker-style');
    const snap = await get(sim.gun, 'snapshot.json');
    const ts = await get(sim.gun, 'timestamp.json');
    expect(snap.status).toBe(200);
    expect(ts.status).toBe(200);
    const snapshot = parseMetadata(snap.body, 'snapshot');
    const timestamp = parseMetadata(ts.body, 'timestamp');
    expect(snapshot.body.version).toBe(1);
    expect(timestamp.body.version).toBe(1);
    // row 36: the server's meta hashes the exact stored bytes of root and targets
    expect(snapshot.signed.meta).toEqual({ root: fileMetaOf(root.bytes), targets: fileMetaOf(targets.bytes) });
    expect((timestamp.signed.meta as JsonObject).snapshot).toEqual(fileMetaOf(snap.body));
    // signed by the keys root names
    expect(snapshot.signatures.map((s) => s.keyid)).toEqual([sim.serverSnapshotKey?.id]);
    expect(timestamp.signatures.map((s) => s.keyid)).toEqual([sim.timestampKey?.id]);
  });

  it('answers a publish with 200 and an empty body without a content type', async () => {
    const sim = new RepoSim(newGun('empty-200'));
    await sim.fetchServerKeys(srv.url, true);
    const res = await publish(srv.url, sim.gun, { root: sim.root(1), targets: sim.targets(1) });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    expect(res.headers['content-type']).toBeUndefined();
  });

  it('accepts root, targets and a client snapshot (notary init) and generates timestamp v1 over it', async () => {
    const { sim, snapshot } = await clientSnapshotRepo('client-snap');
    const ts = parseMetadata((await get(sim.gun, 'timestamp.json')).body, 'timestamp');
    expect(ts.body.version).toBe(1);
    expect((ts.signed.meta as JsonObject).snapshot).toEqual(fileMetaOf(snapshot.bytes));
    expect((await get(sim.gun, 'snapshot.json')).body.equals(snapshot.bytes)).toBe(true);
  });

  it('accepts file names with .json (targets.json is targets) (row 11)', async () => {
    const sim = new RepoSim(newGun('dotjson'));
    await sim.fetchServerKeys(srv.url, true);
    const root = sim.root(1);
    const targets = sim.targets(1, { a: targetMeta('a') });
    const { body, contentType } = multipart([
      { filename: 'root.json', body: root.bytes },
      { filename: 'targets.json', body: targets.bytes },
    ]);
    const res = await request(srv.url, 'POST', `/v2/${sim.gun}/_trust/tuf/`, { headers: { 'Content-Type': contentType }, body });
    expect(res.status).toBe(200);
    expect((await get(sim.gun, 'targets.json')).body.equals(targets.bytes)).toBe(true);
  });

  it('accepts multipart/mixed as Go does and ignores the field name', async () => {
    const sim = new RepoSim(newGun('mixed'));
    await sim.fetchServerKeys(srv.url, true);
    const { body, contentType } = multipart([
      { filename: 'root', name: 'whatever', body: sim.root(1).bytes },
      { filename: 'targets', name: 'other', body: sim.targets(1).bytes },
    ]);
    const res = await request(srv.url, 'POST', `/v2/${sim.gun}/_trust/tuf/`, {
      headers: { 'Content-Type': contentType.replace('multipart/form-data', 'multipart/mixed') },
      body,
    });
    expect(res.status).toBe(200);
  });

  it('accepts a first root of version 2', async () => {
    const sim = new RepoSim(newGun('root-v2'));
    await sim.fetchServerKeys(srv.url, true);
    const res = await publish(srv.url, sim.gun, { root: sim.root(2), targets: sim.targets(1) });
    expect(res.status).toBe(200);
    expect((await get(sim.gun, '2.root.json')).status).toBe(200);
  });

  it('accepts a root whose certificate CN is a prefix wildcard covering the GUN (row 19)', async () => {
    const gun = newGun('wild');
    const sim = new RepoSim(gun);
    sim.rootCert = makeRootCertificateKey('example.com/publish/*', sim.rootKey);
    await sim.fetchServerKeys(srv.url, true);
    const res = await publish(srv.url, gun, { root: sim.root(1), targets: sim.targets(1) });
    expect(res.status).toBe(200);
  });

  it('refuses a publish to an empty GUN without a root (row 16)', async () => {
    const sim = new RepoSim(newGun('noroot'));
    await sim.fetchServerKeys(srv.url, true);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: sim.targets(1) }), 'ErrValidation', 'no pre-existing root and no root provided in update.');
  });

  it('refuses a first publish without targets when the server must make the first snapshot', async () => {
    const sim = new RepoSim(newGun('notargets'));
    await sim.fetchServerKeys(srv.url, true);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { root: sim.root(1) }), 'ErrValidation', 'targets must be loaded first');
  });
});

describe('the publish route', () => {
  it('answers with a request ID, and logs and counts each publish, accepted or refused', async () => {
    const { sim, root } = await clientSnapshotRepo('reqid');
    const t2 = sim.targets(2);
    const ok = await publish(srv.url, sim.gun, { targets: t2, snapshot: sim.snapshot(2, { root, targets: t2 }) });
    const bad = await publish(srv.url, sim.gun, { targets: 'not json' });
    expect(ok.status).toBe(200);
    expect(bad.status).toBe(400);
    expect(bad.json().errors[0].code).toBe('MALFORMED_JSON');
    const ids = [ok, bad].map((r) => r.headers['x-request-id']);
    for (const id of ids) expect(id).toMatch(/^[0-9a-z]+-[0-9a-z]+$/);
    expect(ids[0]).not.toBe(ids[1]);
    const logged = (id: unknown) => srv.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.reqId === id);
    expect(logged(ids[0])).toMatchObject({ method: 'POST', op: 'UpdateTUF', gun: sim.gun, status: 200 });
    expect(logged(ids[1])).toMatchObject({ method: 'POST', op: 'UpdateTUF', gun: sim.gun, status: 400 });
    const metrics = (await request(srv.url, 'GET', '/metrics')).body.toString();
    expect(metrics).toMatch(/^vouch_http_requests_total\{operation="UpdateTUF",method="POST",code="400"\} [1-9]/m);
    expect(metrics).toMatch(/^vouch_http_requests_total\{operation="UpdateTUF",method="POST",code="200"\} [1-9]/m);
  });
});

describe('roots', () => {
  it('refuses a root whose version jumps by two (row 17)', async () => {
    const { sim } = await serverSnapshotRepo('jump');
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { root: sim.root(3) }), 'ErrBadRoot', 'Root modifications must increment the version. Current 1, new 3');
  });

  it('refuses a root whose root key is a plain ecdsa key, not a certificate (row 18)', async () => {
    const sim = new RepoSim(newGun('plainkey'));
    await sim.fetchServerKeys(srv.url, true);
    const plain = sim.rootKey.public;
    const body = sim.rootSignedBody(1, { rootCerts: [plain] });
    const root = signMetadata('root', body, [{ key: sim.rootKey }]);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { root, targets: sim.targets(1) }), 'ErrBadRoot', 'could not validate the path to a trusted root: unable to retrieve valid leaf certificates');
  });

  it('refuses a root whose certificate CN is another GUN (row 18)', async () => {
    const sim = new RepoSim(newGun('cn'));
    sim.rootCert = makeRootCertificateKey('example.com/someone/else', sim.rootKey);
    await sim.fetchServerKeys(srv.url, true);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { root: sim.root(1), targets: sim.targets(1) }), 'ErrBadRoot', /unable to retrieve valid leaf certificates/);
  });

  it('refuses a rotated root signed only by the new root key (row 20)', async () => {
    const { sim } = await serverSnapshotRepo('rot-new-only');
    const newKey = generatePrivateKey('ecdsa');
    const newCert = makeRootCertificateKey(sim.gun, newKey);
    const body = sim.rootSignedBody(2, { rootCerts: [newCert] });
    const root = signMetadata('root', body, [{ key: newKey, keyid: newCert.id }]);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { root }), 'ErrBadRoot', 'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates');
  });

  it('refuses a rotated root signed only by the old root key (its own threshold not met)', async () => {
    const { sim } = await serverSnapshotRepo('rot-old-only');
    const newKey = generatePrivateKey('ecdsa');
    const newCert = makeRootCertificateKey(sim.gun, newKey);
    const root = signMetadata('root', sim.rootSignedBody(2, { rootCerts: [newCert] }), [{ key: sim.rootKey, keyid: sim.rootCert.id }]);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { root }), 'ErrBadRoot', 'could not validate the path to a trusted root: failed to validate integrity of roots');
  });

  it('accepts a rotated root signed by the old and the new key, and keeps serving every root version (rows 21, 33)', async () => {
    const { sim, root: v1 } = await serverSnapshotRepo('rotate');
    const newKey = generatePrivateKey('ecdsa');
    const newCert = makeRootCertificateKey(sim.gun, newKey);
    const body = sim.rootSignedBody(2, { rootCerts: [newCert] });
    // the old certificate stays in keys, as the notary client leaves it
    (body.keys as JsonObject)[sim.rootCert.id] = { keytype: sim.rootCert.keytype, keyval: { private: null, public: sim.rootCert.publicB64 } };
    const v2 = signMetadata('root', body, [
      { key: sim.rootKey, keyid: sim.rootCert.id },
      { key: newKey, keyid: newCert.id },
    ]);
    expect((await publish(srv.url, sim.gun, { root: v2 })).status).toBe(200);
    expect((await get(sim.gun, '1.root.json')).body.equals(v1.bytes)).toBe(true);
    expect((await get(sim.gun, '2.root.json')).body.equals(v2.bytes)).toBe(true);
    expect((await get(sim.gun, '01.root.json')).body.equals(v1.bytes)).toBe(true);
    expect((await get(sim.gun, '0.root.json')).status).toBe(404);
    expect((await get(sim.gun, 'root.json')).body.equals(v2.bytes)).toBe(true);
    // the server's new snapshot names the new root's exact bytes
    const snapshot = parseMetadata((await get(sim.gun, 'snapshot.json')).body, 'snapshot');
    expect((snapshot.signed.meta as JsonObject).root).toEqual(fileMetaOf(v2.bytes));
    expect(snapshot.body.version).toBe(2);
  });

  it('refuses a root naming a timestamp key the server does not hold (row 28)', async () => {
    const sim = new RepoSim(newGun('foreign-ts'));
    await sim.fetchServerKeys(srv.url, true);
    sim.timestampKey = generatePrivateKey('ed25519').public;
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { root: sim.root(1), targets: sim.targets(1) }), 'ErrBadRoot', 'no  timestamp keys exist on the server');
  });

  it('refuses an expired root', async () => {
    const sim = new RepoSim(newGun('expired-root'));
    await sim.fetchServerKeys(srv.url, true);
    const body = withFields(sim.rootSignedBody(1), { expires: '2020-01-01T00:00:00Z' });
    const root = signMetadata('root', body, [{ key: sim.rootKey, keyid: sim.rootCert.id }]);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { root, targets: sim.targets(1) }), 'ErrBadRoot', /root expired at/);
  });

  it('re-sends of the current root version are refused by version (VERSION)', async () => {
    const { sim, root } = await serverSnapshotRepo('same-root');
    const err = await expectError(sim.gun, () => publish(srv.url, sim.gun, { root }), 400, 'VERSION');
    expect(err.detail).toEqual({});
  });

  it('never signs new metadata under a stored root that has expired', async () => {
    const { sim } = await serverSnapshotRepo('stale-root');
    const saved = srv.clock.now;
    try {
      srv.clock.now = saved + 3651 * DAY;
      const t2 = sim.targets(2, {}, [], { expires: new Date(srv.clock.now + 30 * DAY).toISOString() });
      await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2 }), 'ErrBadRoot', /^root expired at .*publish a new root$/);
    } finally {
      srv.clock.now = saved;
    }
  });
});

describe('targets and delegations', () => {
  it('accepts a delegation whose multipart file name holds a slash (row 10)', async () => {
    const { sim } = await serverSnapshotRepo('deleg');
    const releasesKey = generatePrivateKey('ecdsa');
    const t2 = sim.targets(2, {}, [{ name: 'targets/releases', key: releasesKey }]);
    const rel = sim.delegation('targets/releases', 1, { 'release-1': targetMeta('r1') });
    expect((await publish(srv.url, sim.gun, { targets: t2, 'targets/releases': rel })).status).toBe(200);
    const got = await get(sim.gun, 'targets/releases.json');
    expect(got.status).toBe(200);
    expect(got.body.equals(rel.bytes)).toBe(true);
    const snapshot = parseMetadata((await get(sim.gun, 'snapshot.json')).body, 'snapshot');
    expect((snapshot.signed.meta as JsonObject)['targets/releases']).toEqual(fileMetaOf(rel.bytes));
    expect(snapshot.body.version).toBe(2);
  });

  it('validates parents before children whatever the part order, three levels deep', async () => {
    const { sim } = await serverSnapshotRepo('deep');
    const aKey = generatePrivateKey('ecdsa');
    const bKey = generatePrivateKey('ecdsa');
    const t2 = sim.targets(2, {}, [{ name: 'targets/a', key: aKey, paths: ['lib/'] }]);
    const a = sim.delegation('targets/a', 1, { 'lib/x': targetMeta('x') }, [{ name: 'targets/a/b', key: bKey, paths: ['lib/b/'] }]);
    const b = sim.delegation('targets/a/b', 1, { 'lib/b/y': targetMeta('y') });
    const res = await publish(srv.url, sim.gun, { 'targets/a/b': b, 'targets/a': a, targets: t2 });
    expect(res.status).toBe(200);
    // a later child-only publish loads its parents from storage
    const b2 = sim.delegation('targets/a/b', 2, { 'lib/b/y': targetMeta('y'), 'lib/b/z': targetMeta('z') });
    expect((await publish(srv.url, sim.gun, { 'targets/a/b': b2 })).status).toBe(200);
    expect((await get(sim.gun, 'targets/a/b.json')).body.equals(b2.bytes)).toBe(true);
  });

  it('refuses targets with a corrupted signature with exactly the body Notary sends (row 22)', async () => {
    const { sim } = await serverSnapshotRepo('badsig');
    const t2 = sim.targets(2, { v2: targetMeta('two') });
    const sigs = t2.signatures.map((s) => ({ ...s, sig: Buffer.from(crypto.randomBytes(64)).toString('base64') }));
    const doc = Buffer.from(`{"signed":${t2.bytes.toString().slice('{"signed":'.length, t2.bytes.toString().indexOf(',"signatures":'))},"signatures":${JSON.stringify(sigs)}}`);
    const before = await storedState(srv.store, sim.gun);
    const res = await publish(srv.url, sim.gun, { targets: doc });
    expect(res.status).toBe(400);
    expect(res.body.equals(fixture('http-errors/400-invalid-update-bad-signature.json'))).toBe(true);
    expect(await storedState(srv.store, sim.gun)).toBe(before);
  });

  it('refuses targets signed by a key root does not name for targets', async () => {
    const { sim } = await serverSnapshotRepo('wrongkey');
    const t2 = sim.targets(2, {}, [], { key: generatePrivateKey('ecdsa') });
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2 }), 'ErrBadTargets', 'valid signatures did not meet threshold for targets');
  });

  it('refuses a delegation its parent does not declare (row 23)', async () => {
    const { sim } = await serverSnapshotRepo('undeclared');
    const nope = sim.delegation('targets/nope', 1, {}, [], { key: generatePrivateKey('ecdsa') });
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { 'targets/nope': nope }), 'ErrBadTargets', 'tuf: invalid role targets/nope. delegation does not exist');
  });

  it('refuses a delegation signed by a key other than the one its parent names', async () => {
    const { sim } = await serverSnapshotRepo('deleg-wrongkey');
    const t2 = sim.targets(2, {}, [{ name: 'targets/releases', key: generatePrivateKey('ecdsa') }]);
    expect((await publish(srv.url, sim.gun, { targets: t2 })).status).toBe(200);
    const rel = sim.delegation('targets/releases', 1, { x: targetMeta('x') }, [], { key: generatePrivateKey('ecdsa') });
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { 'targets/releases': rel }), 'ErrBadTargets', 'valid signatures did not meet threshold for targets/releases');
  });

  it('refuses expired targets with Go\'s date layout (row 24)', async () => {
    const { sim } = await serverSnapshotRepo('expired');
    const t2 = sim.targets(2, {}, [], { expires: '2020-01-01T00:00:00Z' });
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2 }), 'ErrBadTargets', 'targets expired at Wed Jan 1 00:00:00 UTC 2020');
  });

  it('refuses the same targets version again with exactly Notary\'s VERSION body (row 25)', async () => {
    const { sim, targets } = await serverSnapshotRepo('replay');
    const before = await storedState(srv.store, sim.gun);
    const res = await publish(srv.url, sim.gun, { targets });
    expect(res.status).toBe(400);
    expect(res.body.equals(fixture('http-errors/400-version-replayed-targets.json'))).toBe(true);
    expect(await storedState(srv.store, sim.gun)).toBe(before);
  });

  it('refuses an older targets version (rollback)', async () => {
    const { sim } = await serverSnapshotRepo('rollback');
    expect((await publish(srv.url, sim.gun, { targets: sim.targets(3) })).status).toBe(200);
    await expectError(sim.gun, () => publish(srv.url, sim.gun, { targets: sim.targets(2) }), 400, 'VERSION');
  });

  it('refuses a delegated target outside the paths its parent delegates (stricter than Notary)', async () => {
    const { sim } = await serverSnapshotRepo('paths');
    const relKey = generatePrivateKey('ecdsa');
    const t2 = sim.targets(2, {}, [{ name: 'targets/releases', key: relKey, paths: ['release/'] }]);
    const ok = sim.delegation('targets/releases', 1, { 'release/1': targetMeta('1') });
    expect((await publish(srv.url, sim.gun, { targets: t2, 'targets/releases': ok })).status).toBe(200);
    const bad = sim.delegation('targets/releases', 2, { 'release/1': targetMeta('1'), 'latest': targetMeta('evil') });
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { 'targets/releases': bad }), 'ErrBadTargets', 'tuf: target "latest" is outside the paths delegated to targets/releases');
  });

  it('applies the parent\'s paths to a grandchild (effective paths)', async () => {
    const { sim } = await serverSnapshotRepo('effective');
    const aKey = generatePrivateKey('ecdsa');
    const bKey = generatePrivateKey('ecdsa');
    const t2 = sim.targets(2, {}, [{ name: 'targets/a', key: aKey, paths: ['lib/'] }]);
    // the child claims "" (everything), but only lib/ reaches it through targets/a
    const a = sim.delegation('targets/a', 1, {}, [{ name: 'targets/a/b', key: bKey, paths: [''] }]);
    const b = sim.delegation('targets/a/b', 1, { 'bin/tool': targetMeta('t') });
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2, 'targets/a': a, 'targets/a/b': b }), 'ErrBadTargets', /"bin\/tool" is outside the paths delegated to targets\/a\/b/);
  });

  it('keeps allowing an unchanged target that narrowed paths have left outside', async () => {
    const { sim } = await serverSnapshotRepo('narrowed');
    const relKey = generatePrivateKey('ecdsa');
    const t2 = sim.targets(2, {}, [{ name: 'targets/releases', key: relKey, paths: [''] }]);
    const r1 = sim.delegation('targets/releases', 1, { old: targetMeta('old') });
    expect((await publish(srv.url, sim.gun, { targets: t2, 'targets/releases': r1 })).status).toBe(200);
    const t3 = sim.targets(3, {}, [{ name: 'targets/releases', key: relKey, paths: ['new/'] }]);
    expect((await publish(srv.url, sim.gun, { targets: t3 })).status).toBe(200);
    // witness-style re-sign: "old" is unchanged and stays; a new target must fit the paths
    const r2 = sim.delegation('targets/releases', 2, { old: targetMeta('old'), 'new/1': targetMeta('n') });
    expect((await publish(srv.url, sim.gun, { 'targets/releases': r2 })).status).toBe(200);
    const r3 = sim.delegation('targets/releases', 3, { old: targetMeta('changed') });
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { 'targets/releases': r3 }), 'ErrBadTargets', /"old" is outside/);
  });

  it('refuses a targets file that delegates to a role that is not its direct child', async () => {
    const { sim } = await serverSnapshotRepo('grandchild');
    const t2 = sim.targets(2, {}, [{ name: 'targets/a/b', key: generatePrivateKey('ecdsa') }]);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2 }), 'ErrBadTargets', /targets\/a\/b.*direct children/);
  });

  it('refuses a delegation listing a key that the delegation keys do not hold', async () => {
    const { sim } = await serverSnapshotRepo('missingkey');
    const k = generatePrivateKey('ecdsa');
    const signed = targetsSigned({ targets: {}, delegations: [{ name: 'targets/x', keyids: [k.public.id], threshold: 1, paths: [''] }], version: 2, expires: sim.expires('targets') });
    const t2 = signMetadata('targets', signed, [{ key: sim.targetsKey }]);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2 }), 'ErrBadTargets', /key .* is not in targets's delegation keys/);
  });

  it('hashes the exact uploaded bytes, whitespace and all, where Notary would break the repository', async () => {
    const { sim } = await serverSnapshotRepo('whitespace');
    const t2 = sim.targets(2, { v2: targetMeta('two') });
    // pretty-printed, still correctly signed (signatures cover the canonical form)
    const pretty = Buffer.from(JSON.stringify(JSON.parse(t2.bytes.toString()), null, 2));
    expect((await publish(srv.url, sim.gun, { targets: pretty })).status).toBe(200);
    const snapshot = parseMetadata((await get(sim.gun, 'snapshot.json')).body, 'snapshot');
    expect((snapshot.signed.meta as JsonObject).targets).toEqual(fileMetaOf(pretty));
    const byHash = await get(sim.gun, `targets.${sha256(pretty)}.json`);
    expect(byHash.status).toBe(200);
    expect(byHash.body.equals(pretty)).toBe(true);
  });

  it('a duplicated role in one upload keeps the last part, as Notary does', async () => {
    const { sim } = await serverSnapshotRepo('dup');
    const a = sim.targets(2, { a: targetMeta('a') });
    const b = sim.targets(2, { b: targetMeta('b') });
    const { body, contentType } = multipart([
      { filename: 'targets', body: a.bytes },
      { filename: 'targets', body: b.bytes },
    ]);
    expect((await request(srv.url, 'POST', `/v2/${sim.gun}/_trust/tuf/`, { headers: { 'Content-Type': contentType }, body })).status).toBe(200);
    expect((await get(sim.gun, 'targets.json')).body.equals(b.bytes)).toBe(true);
  });
});

describe('snapshots and timestamps', () => {
  it('refuses a publish without a snapshot when the client holds the snapshot key (row 26)', async () => {
    const { sim } = await clientSnapshotRepo('client-held');
    const err = await expectRefused(
      sim.gun,
      () => publish(srv.url, sim.gun, { targets: sim.targets(2) }),
      'ErrBadHierarchy',
      'no snapshot was included in update and server does not hold current snapshot key for repository',
    );
    expect(err.detail.Error.Missing).toBe('snapshot');
    expect(Object.keys(err.detail.Error)).toEqual(['Missing', 'Msg']);
  });

  it('refuses a client snapshot whose root hash does not match the root (row 27)', async () => {
    const { sim, root } = await clientSnapshotRepo('mixmatch');
    const t2 = sim.targets(2);
    const otherRoot = Buffer.concat([root.bytes, Buffer.from(' ')]);
    const s2 = sim.snapshot(2, { root: otherRoot, targets: t2 });
    const claimed = crypto.createHash('sha256').update(otherRoot).digest('hex');
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2, snapshot: s2 }), 'ErrBadSnapshot', `sha256 checksum for root did not match: expected ${claimed}`);
  });

  it('refuses a client snapshot that names other targets bytes than the ones uploaded (mix-and-match)', async () => {
    const { sim, root } = await clientSnapshotRepo('mixtargets');
    const t2 = sim.targets(2, { x: targetMeta('x') });
    const s2 = sim.snapshot(2, { root, targets: sim.targets(2, { y: targetMeta('y') }) });
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2, snapshot: s2 }), 'ErrBadSnapshot', /^sha256 checksum for targets did not match/);
  });

  it('refuses a client snapshot whose length for a role is wrong (stricter than Notary)', async () => {
    const { sim, root } = await clientSnapshotRepo('badlength');
    const t2 = sim.targets(2);
    const meta: JsonObject = { root: fileMetaOf(root.bytes), targets: { ...fileMetaOf(t2.bytes), length: t2.bytes.length + 1 } };
    const s2 = signMetadata('snapshot', { _type: 'Snapshot', expires: sim.expires('snapshot'), meta, version: 2 }, [{ key: sim.snapshotKey! }]);
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2, snapshot: s2 }), 'ErrBadSnapshot', /^length for targets did not match/);
  });

  it('refuses a snapshot signed by a key that is not root\'s snapshot key', async () => {
    const { sim, root } = await clientSnapshotRepo('snapkey');
    const t2 = sim.targets(2);
    const s2 = sim.snapshot(2, { root, targets: t2 }, { key: generatePrivateKey('ecdsa') });
    await expectRefused(sim.gun, () => publish(srv.url, sim.gun, { targets: t2, snapshot: s2 }), 'ErrBadSnapshot', 'valid signatures did not meet threshold for snapshot');
  });

  it('ignores an uploaded timestamp and signs its own (row 29)', async () => {
    const { sim } = await serverSnapshotRepo('ts-upload');
    const fakeKey = generatePrivateKey('ed25519');
    const fake = signMetadata('timestamp', { _type: 'Timestamp', expires: sim.expires('timestamp'), meta: { snapshot: fileMetaOf(Buffer.from('x')) }, version: 7 }, [{ key: fakeKey }]);
    const res = await publish(srv.url, sim.gun, { targets: sim.targets(2), timestamp: fake });
    expect(res.status).toBe(200);
    const ts = parseMetadata((await get(sim.gun, 'timestamp.json')).body, 'timestamp');
    expect(ts.body.version).toBe(2);
    expect(ts.signatures.map((s) => s.keyid)).toEqual([sim.timestampKey?.id]);
  });

  it('accepts an empty publish when it holds the snapshot key: snapshot and timestamp each +1 (row 30)', async () => {
    const { sim } = await serverSnapshotRepo('empty');
    const before = parseMetadata((await get(sim.gun, 'snapshot.json')).body, 'snapshot');
    const { body, contentType } = multipart([]);
    const res = await request(srv.url, 'POST', `/v2/${sim.gun}/_trust/tuf/`, { headers: { 'Content-Type': contentType }, body });
    expect(res.status).toBe(200);
    const after = parseMetadata((await get(sim.gun, 'snapshot.json')).body, 'snapshot');
    const ts = parseMetadata((await get(sim.gun, 'timestamp.json')).body, 'timestamp');
    expect(after.body.version).toBe(before.body.version + 1);
    expect(ts.body.version).toBe(2);
    expect(after.signed.meta).toEqual(before.signed.meta);
  });

  it('refuses an empty publish when the client holds the snapshot key', async () => {
    const { sim } = await clientSnapshotRepo('empty-client');
    const { body, contentType } = multipart([]);
    await expectRefused(sim.gun, () => request(srv.url, 'POST', `/v2/${sim.gun}/_trust/tuf/`, { headers: { 'Content-Type': contentType }, body }), 'ErrBadHierarchy', /server does not hold current snapshot key/);
  });

  it('moves the snapshot to the server when root names the server\'s snapshot key (key rotate snapshot -r)', async () => {
    const { sim } = await clientSnapshotRepo('to-server');
    const rot = await request(srv.url, 'POST', `/v2/${sim.gun}/_trust/tuf/snapshot.key`);
    expect(rot.status).toBe(200);
    sim.serverSnapshotKey = makePublicKey(rot.json().keytype, Buffer.from(rot.json().keyval.public, 'base64'));
    sim.snapshotKey = null;
    expect((await publish(srv.url, sim.gun, { root: sim.root(2) })).status).toBe(200);
    const snapshot = parseMetadata((await get(sim.gun, 'snapshot.json')).body, 'snapshot');
    expect(snapshot.body.version).toBe(2);
    expect(snapshot.signatures.map((s) => s.keyid)).toEqual([sim.serverSnapshotKey.id]);
    // from now on the client publishes without a snapshot
    expect((await publish(srv.url, sim.gun, { targets: sim.targets(2) })).status).toBe(200);
  });
});

describe('malformed uploads', () => {
  let gun: string;
  let before: string;
  beforeAll(async () => {
    gun = (await serverSnapshotRepo('malformed')).sim.gun;
  });
  beforeEach(async () => {
    before = await storedState(srv.store, gun);
  });
  afterEach(async () => {
    expect(await storedState(srv.store, gun)).toBe(before);
  });
  const post = (body: Buffer | string, contentType: string) => request(srv.url, 'POST', `/v2/${gun}/_trust/tuf/`, { headers: { 'Content-Type': contentType }, body });

  it('refuses a part without a file name (row 12)', async () => {
    const { body, contentType } = multipart([{ body: '{}' }]);
    const err = await expectError(gun, () => post(body, contentType), 400, 'NO_FILENAME');
    expect(err.message).toBe('No file/role name provided.');
    expect(err.detail).toBeUndefined();
  });

  it('refuses an empty file name', async () => {
    const { body, contentType } = multipart([{ filename: '', body: '{}' }]);
    await expectError(gun, () => post(body, contentType), 400, 'NO_FILENAME');
  });

  it.each(['foo', 'targets/Foo', 'targets/a.b', 'targets/../root', 'targets//x', 'Root', 'timestamp.key'])('refuses the role %p with INVALID_ROLE naming it (row 13)', async (role) => {
    const { body, contentType } = multipart([{ filename: role, body: '{}' }]);
    const err = await expectError(gun, () => post(body, contentType), 400, 'INVALID_ROLE');
    expect(err.detail).toBe(role);
  });

  it('refuses a role name longer than 255 bytes and delegations deeper than the bound', async () => {
    const long = 'targets/' + 'a'.repeat(300);
    const { body, contentType } = multipart([{ filename: long, body: '{}' }]);
    const e1 = await expectError(gun, () => post(body, contentType), 400, 'INVALID_ROLE');
    expect(e1.detail.length).toBeLessThanOrEqual(300);
    const deep = 'targets' + '/x'.repeat(17);
    const m2 = multipart([{ filename: deep, body: '{}' }]);
    await expectError(gun, () => post(m2.body, m2.contentType), 400, 'INVALID_ROLE');
  });

  it('refuses a body that is not multipart (row 14)', async () => {
    const err = await expectError(gun, () => post('{"signed":{}}', 'application/json'), 400, 'MALFORMED_UPLOAD');
    expect(err.message).toBe('The body of your request is malformed.');
    await expectError(gun, () => post('x', 'multipart/form-data'), 400, 'MALFORMED_UPLOAD');
    await expectError(gun, () => request(srv.url, 'POST', `/v2/${gun}/_trust/tuf/`, { body: 'x' }), 400, 'MALFORMED_UPLOAD');
  });

  it('refuses a truncated multipart body', async () => {
    const { body, contentType } = multipart([{ filename: 'targets', body: '{}' }]);
    await expectError(gun, () => post(body.subarray(0, body.length - 20), contentType), 400, 'MALFORMED_UPLOAD');
    await expectError(gun, () => post('', contentType), 400, 'MALFORMED_UPLOAD');
  });

  it.each([
    ['not JSON', 'not json at all'],
    ['truncated JSON', '{"signed":{"_type":"Targets"'],
    ['a JSON array', '[]'],
    ['a bad expiry', '{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"tomorrow","targets":{},"version":2},"signatures":[]}'],
    ['a non-integer version', '{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{},"version":2.5},"signatures":[]}'],
    ['URL-safe base64 in a signature', '{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{},"version":2},"signatures":[{"keyid":"ab","method":"ecdsa","sig":"__--"}]}'],
    ['duplicate keys', '{"signed":{"_type":"Targets","_type":"Root","delegations":{"keys":{},"roles":[]},"expires":"2030-01-01T00:00:00Z","targets":{},"version":2},"signatures":[]}'],
    ['the wrong _type for the role', fixture('app/before-root-rotation/root.json').toString()],
    ['deep nesting', '['.repeat(100000) + ']'.repeat(100000)],
  ])('refuses %s with MALFORMED_JSON (row 15)', async (_what, doc) => {
    const { body, contentType } = multipart([{ filename: 'targets', body: doc }]);
    const err = await expectError(gun, () => post(body, contentType), 400, 'MALFORMED_JSON');
    expect(err.message).toBe('JSON sent by the client could not be parsed by the server');
  });

  it('decides by the first bad part, as Notary reads parts in order', async () => {
    const { body, contentType } = multipart([
      { filename: 'nope', body: '{}' },
      { filename: 'targets', body: 'garbage' },
    ]);
    await expectError(gun, () => post(body, contentType), 400, 'INVALID_ROLE');
  });

  it('refuses more files than the bound in one upload', async () => {
    // this server runs with maxUploadFiles = 8
    const parts = Array.from({ length: 9 }, (_, i) => ({ filename: `targets/r${i}`, body: '{}' }));
    const { body, contentType } = multipart(parts);
    await expectError(gun, () => post(body, contentType), 400, 'MALFORMED_UPLOAD');
  });

  it('refuses a declared body larger than the bound before reading it', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const net = require('node:net') as typeof import('node:net');
      const u = new URL(srv.url);
      const sock = net.connect(Number(u.port), u.hostname, () => {
        sock.write(`POST /v2/${gun}/_trust/tuf/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${200 * 1024 * 1024}\r\n\r\n--b\r\n`);
      });
      let data = '';
      sock.on('data', (d) => {
        data += d.toString();
        if (data.includes('\r\n\r\n') && data.includes('}\n')) {
          sock.destroy();
          resolve({ status: Number(data.split(' ')[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) });
        }
      });
      sock.on('error', reject);
    });
    expect(res.status).toBe(400);
    expect(res.body).toContain('MALFORMED_UPLOAD');
  });
});

describe('publishes on bounded servers', () => {
  let small: TestServer;
  beforeAll(async () => {
    small = await startTestServer({ limits: { maxUploadBytes: 64 * 1024, maxFileBytes: 16 * 1024 } });
  });
  afterAll(async () => {
    await small.close();
  });

  it('refuses a file larger than the per-file bound and stores nothing', async () => {
    const sim = new RepoSim('example.com/bounded/file');
    await sim.fetchServerKeys(small.url, true);
    const big: JsonObject = {};
    for (let i = 0; i < 400; i++) big[`t${i}`] = targetMeta(String(i));
    const res = await publish(small.url, sim.gun, { root: sim.root(1), targets: sim.targets(1, big) });
    expect(res.status).toBe(400);
    expect(res.json().errors[0].code).toBe('MALFORMED_UPLOAD');
    expect((await request(small.url, 'GET', `/v2/${sim.gun}/_trust/tuf/root.json`)).status).toBe(404);
  });

  it('refuses a streamed body larger than the total bound', async () => {
    const sim = new RepoSim('example.com/bounded/total');
    await sim.fetchServerKeys(small.url, true);
    // a preamble before the first boundary is legal multipart and counts towards the total
    const m = multipart([{ filename: 'targets', body: '{}' }]);
    const body = Buffer.concat([Buffer.alloc(100 * 1024, 0x20), Buffer.from('\r\n'), m.body]);
    const contentType = m.contentType;
    // chunked: no Content-Length to refuse up front
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const http = require('node:http') as typeof import('node:http');
      const u = new URL(small.url);
      const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: `/v2/${sim.gun}/_trust/tuf/`, headers: { 'Content-Type': contentType, 'Transfer-Encoding': 'chunked' } }, (r) => {
        let t = '';
        r.on('data', (d: Buffer) => (t += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text: t }));
      });
      req.on('error', reject);
      for (let i = 0; i < body.length; i += 8192) req.write(body.subarray(i, i + 8192));
      req.end();
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).errors[0].code).toBe('MALFORMED_UPLOAD');
  });
});

describe('GUN handling on publish', () => {
  it('redirects an unclean path instead of publishing (301)', async () => {
    const res = await request(srv.url, 'POST', '/v2/example.com/x/../y/_trust/tuf/', { headers: { 'Content-Type': 'multipart/form-data; boundary=b' }, body: '--b--\r\n' });
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/v2/example.com/y/_trust/tuf/');
  });

  it('percent-decodes GUNs, so an encoded slash is a slash', async () => {
    const sim = new RepoSim(newGun('enc'));
    await sim.fetchServerKeys(srv.url, true);
    const { body, contentType } = multipart([
      { filename: 'root', body: sim.root(1).bytes },
      { filename: 'targets', body: sim.targets(1).bytes },
    ]);
    const res = await request(srv.url, 'POST', `/v2/${encodeURIComponent(sim.gun)}/_trust/tuf/`, { headers: { 'Content-Type': contentType }, body });
    expect(res.status).toBe(200);
    expect((await get(sim.gun, 'root.json')).status).toBe(200);
  });

  it('refuses GUNs with control characters or spaces (INVALID_GUN) and stores nothing', async () => {
    const { body, contentType } = multipart([]);
    for (const raw of ['example.com/a%0Ab', 'example.com/a%20b', 'example.com/a%00b']) {
      const res = await request(srv.url, 'POST', `/v2/${raw}/_trust/tuf/`, { headers: { 'Content-Type': contentType }, body });
      expect(res.status).toBe(400);
      expect(res.json().errors[0].code).toBe('INVALID_GUN');
    }
  });

  it('sends a GUN with * to the catch-all (404), never to the store', async () => {
    const { body, contentType } = multipart([]);
    const res = await request(srv.url, 'POST', '/v2/example.com/*/_trust/tuf/', { headers: { 'Content-Type': contentType }, body });
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({ errors: [{ code: 'METADATA_NOT_FOUND', message: 'You have requested metadata that does not exist.' }] });
  });

  it('needs the trailing slash on the collection URL', async () => {
    const { body, contentType } = multipart([]);
    const res = await request(srv.url, 'POST', '/v2/example.com/a/_trust/tuf', { headers: { 'Content-Type': contentType }, body });
    expect(res.status).toBe(404);
  });
});

describe('GUN prefixes', () => {
  let restricted: TestServer;
  beforeAll(async () => {
    restricted = await startTestServer({ gunPrefixes: ['docker.io/', 'example.com/'] });
  });
  afterAll(async () => {
    await restricted.close();
  });

  it('refuses a publish outside the allowed prefixes with INVALID_GUN and Go\'s slice formatting', async () => {
    const { body, contentType } = multipart([]);
    const res = await request(restricted.url, 'POST', '/v2/quay.io/a/_trust/tuf/', { headers: { 'Content-Type': contentType }, body });
    expect(res.status).toBe(400);
    expect(res.json().errors[0]).toEqual({ code: 'INVALID_GUN', message: 'The server does not support actions on images of this name.', detail: 'Require GUNs with prefix: [docker.io/ example.com/]' });
  });

  it('answers other routes outside the prefixes with 404 without detail', async () => {
    for (const p of ['/v2/quay.io/a/_trust/tuf/root.json', '/v2/quay.io/a/_trust/tuf/timestamp.key', '/v2/quay.io/a/_trust/changefeed?records=1']) {
      const res = await request(restricted.url, 'GET', p);
      expect(res.status).toBe(404);
      expect(res.json().errors[0]).toEqual({ code: 'METADATA_NOT_FOUND', message: 'You have requested metadata that does not exist.' });
    }
  });

  it('serves GUNs inside the prefixes', async () => {
    const sim = new RepoSim('example.com/allowed/repo');
    await sim.fetchServerKeys(restricted.url, true);
    expect((await publish(restricted.url, sim.gun, { root: sim.root(1), targets: sim.targets(1) })).status).toBe(200);
  });
});
