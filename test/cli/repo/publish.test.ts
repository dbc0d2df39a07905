/**
 * The publishing engine without a network: notary-written changes applied to an editable copy
 * of a repository, and what signing then produces (versions, expiries, snapshot meta, key
 * pruning, root rotation signatures, thresholds). The real server and clients accepting all of it
 * is proven in test/e2e/cli-notary-interop.test.ts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DEFAULT_EXPIRY_MS,
  expiryFrom,
  fileMetaOf,
  makeRootCertificateKey,
  parseMetadata,
  parseRfc3339,
  PrivateKey,
  serializeMetadata,
  signMetadata,
  snapshotSigned,
  targetsSigned,
  verifyRoot,
} from '../../../tuf';
import { delegationContent, parseChange, serializeChange, targetContent } from '../../../cli/changelist';
import { KeyStore } from '../../../cli/keystore';
import { Output } from '../../../cli/output';
import { fixedPassphrases } from '../../../cli/passphrase';
import { EditableRepo } from '../../../cli/repo/model';
import { applyChange, applyChangelist } from '../../../cli/repo/publish';
import { adopt, signRoot, signSnapshot, signTargets } from '../../../cli/repo/sign';
import { delegationKeyFromPem } from '../../../cli/commands/delegation';
import { FIXTURES } from '../../helpers/fixtures';
import { rootWithOneKeyPerRole } from '../../helpers/tuf';

const GUN = 'example.com/engine/test';
const NOW = Date.parse('2026-11-23T12:00:00Z');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-publish-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const passes = fixedPassphrases({ root: 'root-passphrase', targets: 'targets-passphrase', snapshot: 'snapshot-passphrase', delegation: 'delegation-passphrase' });
const quiet = new Output('json', false, { stdout: { write: () => true }, stderr: { write: () => true } });

interface Fixture {
  store: KeyStore;
  rootKey: PrivateKey;
  repo: EditableRepo;
}

/** A published-looking repository: root v1, targets v3, snapshot v3, keys in a fresh trust dir. */
async function fixture(): Promise<Fixture> {
  const store = new KeyStore(fs.mkdtempSync(path.join(dir, 'trust-')), passes);
  const rootKey = await store.generate('ecdsa', 'root');
  const cert = makeRootCertificateKey(GUN, rootKey, new Date(NOW));
  const targetsKey = await store.generate('ed25519', 'targets', GUN);
  const snapshotKey = await store.generate('ed25519', 'snapshot', GUN);
  const timestamp = crypto.generateKeyPairSync('ed25519').publicKey;
  const tsRaw = Buffer.from(timestamp.export({ format: 'jwk' }).x as string, 'base64url');
  const { makePublicKey } = await import('../../../tuf');
  const tsKey = makePublicKey('ed25519', tsRaw);
  const root = signMetadata(
    'root',
    rootWithOneKeyPerRole({
      root: [cert],
      targets: targetsKey.public,
      snapshot: snapshotKey.public,
      timestamp: tsKey,
      version: 1,
      expires: expiryFrom(NOW, DEFAULT_EXPIRY_MS.root),
    }),
    [{ key: rootKey, keyid: cert.id }],
  );
  const targets = signMetadata(
    'targets',
    targetsSigned({ targets: { existing: fileMetaOf(Buffer.from('existing')) }, version: 3, expires: expiryFrom(NOW, DEFAULT_EXPIRY_MS.targets) }),
    [{ key: targetsKey }],
  );
  const snapshot = signMetadata(
    'snapshot',
    snapshotSigned({ meta: { root: fileMetaOf(root.bytes), targets: fileMetaOf(targets.bytes) }, version: 3, expires: expiryFrom(NOW, DEFAULT_EXPIRY_MS.snapshot) }),
    [{ key: snapshotKey }],
  );
  return { store, rootKey, repo: new EditableRepo(GUN, { root, targets: new Map([['targets', targets]]), snapshot }) };
}

const releasesCert = () => delegationKeyFromPem(fs.readFileSync(path.join(FIXTURES, 'keys/delegation/releases.crt'), 'utf8'), 'releases.crt', NOW);

describe('applying changes notary wrote', () => {
  it('adds, hashes and removes targets, keeping custom data and Go-shaped file meta', async () => {
    const { repo } = await fixture();
    // the exact change bytes the real notary CLI wrote for `notary add ... --custom` and `addhash`
    applyChange(
      repo,
      parseChange(
        Buffer.from(
          '{"action":"create","role":"targets","type":"target","path":"v2","data":"eyJsZW5ndGgiOjYsImhhc2hlcyI6eyJzaGEyNTYiOiJXSkcxdFNMVjN3aHREL0N4RVB2WjBodTAvSEZqcnpUUWdvYWk2RWIydmdNPSIsInNoYTUxMiI6IjU4SXJtVXhaMmM4clNPVkpzZUpHWm1OZ1JaTU5QYWZCckxLWjBjTzMrVEg1U3E1Qjdkb3NLeUI2TnVFUGk4dU5SU0krVkllUFd6RnVmT08ydkFHV0tRPT0ifSwiY3VzdG9tIjp7ImIiOjEsImEiOlsxLDJdfX0="}',
        ),
      ),
    );
    applyChange(repo, parseChange(Buffer.from('{"action":"create","role":"targets","type":"target","path":"v3","data":"eyJsZW5ndGgiOjI5LCJoYXNoZXMiOnsic2hhMjU2IjoibStqY3FaZUxabjVZbWl0d2h6SkNxaE1sMmsxMVdkWkRjZVlzTndOSXZxVT0ifX0="}')));
    applyChange(repo, parseChange(Buffer.from('{"action":"delete","role":"targets","type":"target","path":"existing","data":null}')));
    const t = repo.targets.get('targets')!;
    expect([...t.targets.keys()].sort()).toEqual(['v2', 'v3']);
    expect(t.targets.get('v2')).toEqual({ custom: { b: 1, a: [1, 2] }, hashes: { sha256: 'WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=', sha512: expect.any(String) }, length: 6 });
    expect(t.dirty).toBe(true);
  });

  it('creates a delegation from notary change bytes (keys, then paths), prunes unused keys on removal', async () => {
    const { repo } = await fixture();
    const cert = releasesCert();
    applyChange(repo, { action: 'create', scope: 'targets/releases', type: 'delegation', path: '', content: delegationContent({ threshold: 1, addKeys: [cert] }) });
    applyChange(repo, parseChange(Buffer.from('{"action":"create","role":"targets/releases","type":"delegation","path":"","data":"eyJhZGRfcGF0aHMiOlsiIl19"}')));
    const top = repo.targets.get('targets')!;
    expect(top.delegations).toEqual([{ name: 'targets/releases', keyids: [cert.id], threshold: 1, paths: [''] }]);
    expect([...top.delegationKeys.keys()]).toEqual([cert.id]);
    // notary's purge names the canonical ID (the bare key in the certificate)
    applyChange(repo, parseChange(Buffer.from('{"action":"update","role":"targets/*","type":"delegation","path":"","data":"eyJyZW1vdmVfa2V5cyI6WyIzZmU5ZDAyMjU3YmU2ZTcwNzEwNGViZDdkYTE5NGM1NzNlNjFhNTBhY2M2YzA2ZDNkNTFjNWY4OThmNDJmNzJhIl19"}')));
    expect(top.delegations[0]!.keyids).toEqual([]);
    expect(top.delegationKeys.size).toBe(0);
    applyChange(repo, { action: 'delete', scope: 'targets/releases', type: 'delegation', path: '', content: null });
    expect(top.delegations).toEqual([]);
  });

  it('refuses a target outside the delegation paths, and roles nobody declared', async () => {
    const { repo, store } = await fixture();
    const k = await store.generate('ed25519', 'targets/qa');
    repo.updateDelegationKeys('targets/qa', [k.public], [], 1);
    repo.updateDelegationPaths('targets/qa', ['qa-'], [], false);
    expect(() => repo.addTarget('targets/qa', 'prod-1', fileMetaOf(Buffer.from('x')))).toThrow(/paths do not include/);
    repo.addTarget('targets/qa', 'qa-1', fileMetaOf(Buffer.from('x')));
    expect(() => repo.addTarget('targets/nobody', 'x', fileMetaOf(Buffer.from('x')))).toThrow(/this role is not known/);
    expect(() => repo.updateDelegationKeys('targets/Bad', [k.public], [], 1)).toThrow(/not a valid delegation name/);
  });

  it('names the failing change when a changelist cannot apply', async () => {
    const { repo } = await fixture();
    const bad = { action: 'create' as const, scope: 'targets/ghost', type: 'target' as const, path: 'x', content: targetContent({ length: 1, hashes: { sha256: Buffer.alloc(32) } }), file: 'f' };
    expect(() => applyChangelist(repo, [bad], quiet)).toThrow(/staged change #0 \(create target "x" on targets\/ghost\)/);
  });
});

describe('signing what changed', () => {
  it('re-signs a dirty role with version + 1 and a fresh 1095-day expiry, in Go-normal bytes', async () => {
    const { repo, store } = await fixture();
    repo.addTarget('targets', 'with-custom', { hashes: { sha256: Buffer.alloc(32).toString('base64') }, length: 1, custom: { z: 1, a: 'x<y' } });
    const md = await signTargets(repo, repo.targets.get('targets')!, store, { now: NOW });
    expect(md.body.version).toBe(4);
    expect(md.body.expires).toBe(parseRfc3339(expiryFrom(NOW, DEFAULT_EXPIRY_MS.targets)));
    // Go-normal: re-serialising the parsed document gives the same bytes (spec 2.9)
    expect(serializeMetadata(md.signed, md.signatures).equals(md.bytes)).toBe(true);
    expect(md.bytes.toString()).toContain('"custom":{"a":"x\\u003cy","z":1}');
    expect(md.signatures[0]!.method).toBe('eddsa');
  });

  it('builds the snapshot from the exact bytes of root and every targets file and drops deleted delegations', async () => {
    const { repo, store } = await fixture();
    const k = await store.generate('ecdsa', 'targets/releases');
    repo.updateDelegationKeys('targets/releases', [k.public], [], 1);
    repo.updateDelegationPaths('targets/releases', [''], [], false);
    repo.addTarget('targets/releases', 'r1', fileMetaOf(Buffer.from('r1')));
    const files = new Map<string, Buffer>([['root', repo.root.bytes!]]);
    for (const t of repo.dirtyTargets()) {
      const md = await signTargets(repo, t, store, { now: NOW });
      adopt(repo, t.role, md);
      files.set(t.role, md.bytes);
    }
    expect(repo.targets.get('targets/releases')!.version).toBe(1);
    const snap = await signSnapshot(repo, files, store, { now: NOW });
    expect(snap.body.version).toBe(4);
    for (const [role, bytes] of files) {
      expect(snap.body.meta.get(role)!.hashes.sha256!.equals(crypto.createHash('sha256').update(bytes).digest())).toBe(true);
      expect(snap.body.meta.get(role)!.length).toBe(bytes.length);
    }
    adopt(repo, 'snapshot', snap);
    repo.deleteDelegation('targets/releases');
    const after = await signSnapshot(repo, new Map([['root', repo.root.bytes!], ['targets', repo.targets.get('targets')!.bytes!]]), store, { now: NOW });
    expect([...after.body.meta.keys()].sort()).toEqual(['root', 'targets']);
  });

  it('refuses to sign without the keys the role needs (exit class KEYS), and below a threshold', async () => {
    const { repo } = await fixture();
    const empty = new KeyStore(fs.mkdtempSync(path.join(dir, 'empty-')), passes);
    await expect(signTargets(repo, repo.targets.get('targets')!, empty, { now: NOW })).rejects.toMatchObject({ code: 'KEYS', message: expect.stringMatching(/could not find necessary signing keys for targets/) });
    const { repo: repo2, store } = await fixture();
    const a = await store.generate('ecdsa', 'targets/two');
    const other = crypto.generateKeyPairSync('ed25519').publicKey;
    const { makePublicKey } = await import('../../../tuf');
    const b = makePublicKey('ed25519', Buffer.from(other.export({ format: 'jwk' }).x as string, 'base64url'));
    repo2.updateDelegationKeys('targets/two', [a.public, b], [], 2);
    repo2.updateDelegationPaths('targets/two', [''], [], false);
    repo2.addTarget('targets/two', 'x', fileMetaOf(Buffer.from('x')));
    await expect(signTargets(repo2, repo2.targets.get('targets/two')!, store, { now: NOW })).rejects.toMatchObject({ code: 'KEYS', message: expect.stringMatching(/holds 1 of the 2/) });
  });

  it('a root rotation is signed by the old and the new root keys, keeps the old certificate, and passes spec 3.5 against the old root', async () => {
    const { repo, store, rootKey } = await fixture();
    const oldRoot = parseMetadata(repo.root.bytes!, 'root');
    const oldRole = repo.baseRole('root');
    const newKey = await store.generate('ecdsa', 'root');
    const newCert = makeRootCertificateKey(GUN, newKey, new Date(NOW));
    repo.replaceBaseKeys('root', [newCert]);
    // without the old root's signature the rotation must not be produced
    const copy = fs.mkdtempSync(path.join(dir, 'no-old-root-'));
    fs.cpSync(path.join(store.trustDir, 'private'), path.join(copy, 'private'), { recursive: true });
    const noOld = new KeyStore(copy, passes);
    noOld.remove(rootKey.public.id);
    await expect(signRoot(repo, noOld, { now: NOW, extraSigners: [oldRole] })).rejects.toMatchObject({ code: 'KEYS' });
    const rotated = await signRoot(repo, store, { now: NOW, extraSigners: [oldRole] });
    expect(rotated.body.version).toBe(2);
    expect(rotated.signatures.map((s) => s.keyid).sort()).toEqual([oldRole.keys[0]!.id, newCert.id].sort());
    expect(rotated.body.keys.has(oldRole.keys[0]!.id)).toBe(true);
    expect(() => verifyRoot(rotated, { gun: GUN, trusted: oldRoot, now: NOW, checkExpiry: true })).not.toThrow();
  });

  it('rotating targets removes the old targets key from root keys', async () => {
    const { repo, store } = await fixture();
    const oldId = repo.baseRole('targets').keys[0]!.id;
    const k = await store.generate('ed25519', 'targets', GUN);
    repo.replaceBaseKeys('targets', [k.public]);
    expect(repo.root.keys.has(oldId)).toBe(false);
    expect(repo.root.roles.get('targets')).toEqual({ keyids: [k.public.id], threshold: 1 });
    const md = await signTargets(repo, repo.targets.get('targets')!, store, { now: NOW });
    expect(md.signatures.map((s) => s.keyid)).toEqual([k.public.id]);
  });
});

describe('witnessing a delegation the update refused', () => {
  it('takes in an expired delegation whose signatures still meet its threshold, and never a forged one', async () => {
    const { repo, store } = await fixture();
    const k = await store.generate('ed25519', 'targets/old');
    repo.updateDelegationKeys('targets/old', [k.public], [], 1);
    repo.updateDelegationPaths('targets/old', [''], [], false);
    const expired = signMetadata('targets', targetsSigned({ targets: { a: fileMetaOf(Buffer.from('a')) }, version: 7, expires: '2020-01-01T00:00:00Z' }), [{ key: k }]);
    const forged = signMetadata('targets', targetsSigned({ targets: { evil: fileMetaOf(Buffer.from('e')) }, version: 8, expires: '2020-01-01T00:00:00Z' }), [
      { key: (await fixture()).rootKey, keyid: k.public.id },
    ]);
    expect(repo.adoptExpired('targets/old', forged)).toBe(false);
    expect(repo.adoptExpired('targets/old', expired)).toBe(true);
    repo.witness('targets/old');
    const md = await signTargets(repo, repo.targets.get('targets/old')!, store, { now: NOW });
    expect(md.body.version).toBe(8);
    expect(md.body.expires).toBeGreaterThan(NOW);
    expect([...md.body.targets.keys()]).toEqual(['a']);
  });
});

it('serialises staged changes back to notary bytes that parse to the same change', () => {
  const c = { action: 'update' as const, scope: 'targets/releases', type: 'delegation' as const, path: '', content: delegationContent({ removePaths: ['a'], clearPaths: true }) };
  expect(parseChange(serializeChange(c))).toEqual(c);
});
