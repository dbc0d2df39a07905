/**
 * The trust-dir key store: reads every private key the real notary 0.7 client wrote (fixtures),
 * writes keys in the exact PBES2 / PKCS#8 forms notary's Go code reads, and keeps files private.
 * The real `notary` binary reading our files is proven in test/e2e/cli-notary-interop.test.ts.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { children, decodeOid, der, OID, readNode } from '../../tuf/asn1';
import { generatePrivateKey, pemDecodeAll, pemEncode, sign, verifySignature } from '../../tuf/keys';
import {
  decodePrivateKeyPem,
  decryptPrivateKeyInfo,
  encodePrivateKeyPem,
  encryptPrivateKeyInfo,
  KeyStore,
  privateKeyInfoDer,
  WrongPassphraseError,
} from '../../cli/keystore';
import { fixedPassphrases, PassphraseSource } from '../../cli/passphrase';
import { CliError } from '../../cli/output';
import { FIXTURES } from '../helpers/fixtures';

const FIXTURE_PASSPHRASES: Record<string, string> = {
  root: 'fixture-root-passphrase',
  targets: 'fixture-targets-passphrase',
  snapshot: 'fixture-snapshot-passphrase',
  'targets/releases': 'fixture-delegation-passphrase',
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-keystore-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function tempTrustDir(): string {
  return fs.mkdtempSync(path.join(dir, 'trust-'));
}


describe('reading the real notary client key files', () => {
  const keyDir = path.join(FIXTURES, 'keys/client-private');
  const files = fs.readdirSync(keyDir).filter((f) => f.endsWith('.key'));

  it('has the six client keys of the fixtures', () => {
    expect(files).toHaveLength(6);
  });

  it.each(files)('decrypts %s with its role passphrase and finds the key its name promises', (file) => {
    const text = fs.readFileSync(path.join(keyDir, file), 'utf8');
    const role = /^role: (.+)$/m.exec(text)?.[1] as string;
    const { key, headers, encrypted } = decodePrivateKeyPem(text, FIXTURE_PASSPHRASES[role]);
    expect(encrypted).toBe(true);
    expect(headers.role).toBe(role);
    expect(key.keytype).toBe('ecdsa');
    // the file name is the canonical key ID (spec 3.2)
    expect(key.public.id).toBe(file.replace(/\.key$/, ''));
    // and the key signs: a signature verifies with its public key
    const msg = Buffer.from('signed bytes');
    const s = sign(key, msg);
    expect(verifySignature(key.public, s.method, msg, Buffer.from(s.sig, 'base64'))).toBe(true);
  });

  it('refuses a wrong passphrase with a WrongPassphraseError, not garbage', () => {
    const text = fs.readFileSync(path.join(keyDir, files[0] as string), 'utf8');
    expect(() => decodePrivateKeyPem(text, 'not-the-passphrase')).toThrow(WrongPassphraseError);
  });

  it('reads the unencrypted openssl delegation key (standard PKCS#8, version 0)', () => {
    const text = fs.readFileSync(path.join(FIXTURES, 'keys/delegation/releases.key'), 'utf8');
    const { key, encrypted } = decodePrivateKeyPem(text);
    expect(encrypted).toBe(false);
    expect(key.public.id).toBe('3fe9d02257be6e707104ebd7da194c573e61a50acc6c06d3d51c5f898f42f72a');
  });

  it('finds every fixture key through a KeyStore over a copy of the trust dir', async () => {
    const trust = tempTrustDir();
    fs.mkdirSync(path.join(trust, 'private'), { mode: 0o700 });
    for (const f of files) fs.copyFileSync(path.join(keyDir, f), path.join(trust, 'private', f));
    const store = new KeyStore(trust, fixedPassphrases({ ...FIXTURE_PASSPHRASES, delegation: 'fixture-delegation-passphrase' }));
    const list = store.list();
    expect(list.map((k) => k.role).sort()).toEqual(['root', 'root', 'snapshot', 'targets', 'targets', 'targets/releases']);
    expect(list.find((k) => k.role === 'snapshot')?.gun).toBe('example.com/notary-fixtures/app');
    expect(list.find((k) => k.role === 'root')?.gun).toBe('');
    for (const k of list) expect((await store.get(k.keyId)).public.id).toBe(k.keyId);
  });
});

describe('writing key files notary reads', () => {
  function structure(pemText: string) {
    const [block] = pemDecodeAll(pemText);
    const top = readNode(block!.der);
    const [alg] = children(top);
    const [pbes2Oid, pbes2Params] = children(alg!);
    const [kdf, scheme] = children(pbes2Params!);
    const [kdfOid, kdfParams] = children(kdf!);
    const kp = children(kdfParams!);
    const [cipherOid, iv] = children(scheme!);
    return { block: block!, pbes2: decodeOid(pbes2Oid!.content), kdf: decodeOid(kdfOid!.content), kdfParams: kp, cipher: decodeOid(cipherOid!.content), iv: iv!.content };
  }

  it('writes PBES2 with PBKDF2 (salt, 2048 iterations only: HMAC-SHA1 by default) and AES-256-CBC', () => {
    const key = generatePrivateKey('ecdsa');
    const s = structure(encodePrivateKeyPem(key, { role: 'targets', gun: 'example.com/a', passphrase: 'passphrase-1' }));
    expect(s.block.type).toBe('ENCRYPTED PRIVATE KEY');
    expect(s.pbes2).toBe(OID.pbes2);
    expect(s.kdf).toBe(OID.pbkdf2);
    // exactly two parameters: no key length, no PRF element (Node would write HMAC-SHA256 here)
    expect(s.kdfParams).toHaveLength(2);
    expect(s.kdfParams[0]!.content).toHaveLength(8);
    expect(s.kdfParams[1]!.content.readUIntBE(0, s.kdfParams[1]!.content.length)).toBe(2048);
    expect(s.cipher).toBe(OID.aes256cbc);
    expect(s.iv).toHaveLength(16);
  });

  it('writes the role and gun headers as notary does: gun only for targets, snapshot and timestamp', () => {
    const key = generatePrivateKey('ecdsa');
    const headersOf = (role: string) => pemDecodeAll(encodePrivateKeyPem(key, { role, gun: 'g/u/n', passphrase: 'passphrase-1' }))[0]!.headers;
    expect(headersOf('targets')).toEqual({ gun: 'g/u/n', role: 'targets' });
    expect(headersOf('snapshot')).toEqual({ gun: 'g/u/n', role: 'snapshot' });
    expect(headersOf('root')).toEqual({ role: 'root' });
    expect(headersOf('targets/releases')).toEqual({ role: 'targets/releases' });
    // Go sorts the headers and leaves a blank line before the base64
    expect(encodePrivateKeyPem(key, { role: 'targets', gun: 'g', passphrase: 'passphrase-1' })).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\ngun: g\nrole: targets\n\n/);
  });

  it('writes ECDSA keys as notary does (version 1, ecPublicKey + P-256, SEC1 inside)', () => {
    const key = generatePrivateKey('ecdsa');
    const info = privateKeyInfoDer(key);
    const [version, alg, priv] = children(readNode(info));
    expect(version!.content).toEqual(Buffer.from([1]));
    expect(children(alg!).map((n) => decodeOid(n.content))).toEqual([OID.ecPublicKey, OID.prime256v1]);
    // the SEC1 key is what openssl reads as an EC key
    const sec1 = crypto.createPrivateKey({ key: priv!.content, format: 'der', type: 'sec1' });
    expect(crypto.createPublicKey(sec1).export({ format: 'der', type: 'spki' }).equals(key.public.publicBytes)).toBe(true);
  });

  it('writes Ed25519 keys in the Go form (OID 1.3.6.1.4.1.11591.15.1, public||seed||public)', () => {
    const key = generatePrivateKey('ed25519');
    const info = privateKeyInfoDer(key);
    const [version, alg, priv] = children(readNode(info));
    expect(version!.content).toEqual(Buffer.from([0]));
    expect(children(alg!).map((n) => decodeOid(n.content))).toEqual([OID.ed25519Go]);
    expect(priv!.content).toHaveLength(96);
    expect(priv!.content.subarray(0, 32).equals(key.public.publicBytes)).toBe(true);
    expect(priv!.content.subarray(64, 96).equals(key.public.publicBytes)).toBe(true);
  });

  it.each(['ecdsa', 'ed25519'] as const)('round-trips a %s key through encryption', (t) => {
    const key = generatePrivateKey(t);
    const back = decodePrivateKeyPem(encodePrivateKeyPem(key, { role: 'targets', gun: 'a/b', passphrase: 'passphrase-1' }), 'passphrase-1');
    expect(back.key.public.id).toBe(key.public.id);
    expect(() => decodePrivateKeyPem(encodePrivateKeyPem(key, { role: 'targets', gun: 'a/b', passphrase: 'passphrase-1' }), 'passphrase-2')).toThrow(WrongPassphraseError);
  });

  it('is decrypted by an independent implementation (openssl pkcs8) to the same EC key', () => {
    const key = generatePrivateKey('ecdsa');
    const pem = encodePrivateKeyPem(key, { role: 'targets', gun: 'a', passphrase: 'passphrase-1' });
    const bare = pem.replace(/^(gun|role): .*\n/gm, '').replace(/-----\n\n/, '-----\n');
    const spki = execFileSync('openssl', ['pkey', '-passin', 'pass:passphrase-1', '-pubout', '-outform', 'DER'], { input: bare });
    expect(spki.equals(key.public.publicBytes)).toBe(true);
  });

  it('refuses to write a root key unencrypted', () => {
    expect(() => encodePrivateKeyPem(generatePrivateKey('ecdsa'), { role: 'root' })).toThrow(/always encrypted/);
  });

  it('reads what Node writes too (PBES2 with an HMAC-SHA256 PRF) and RFC 8410 Ed25519', () => {
    const ec = generatePrivateKey('ecdsa');
    const nodePem = ec.keyObject.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'passphrase-1' }) as string;
    expect(decodePrivateKeyPem(nodePem, 'passphrase-1').key.public.id).toBe(ec.public.id);
    const ed = generatePrivateKey('ed25519');
    const edPem = ed.keyObject.export({ format: 'pem', type: 'pkcs8' }) as string;
    expect(decodePrivateKeyPem(edPem).key.public.id).toBe(ed.public.id);
  });

  it('reads legacy EC PRIVATE KEY blocks, plain and with legacy PEM encryption', () => {
    const ec = generatePrivateKey('ecdsa');
    const plain = ec.keyObject.export({ format: 'pem', type: 'sec1' }) as string;
    expect(decodePrivateKeyPem(plain).key.public.id).toBe(ec.public.id);
    const legacy = ec.keyObject.export({ format: 'pem', type: 'sec1', cipher: 'aes-256-cbc', passphrase: 'passphrase-1' }) as string;
    expect(legacy).toMatch(/Proc-Type: 4,ENCRYPTED/);
    expect(decodePrivateKeyPem(legacy, 'passphrase-1').key.public.id).toBe(ec.public.id);
    expect(() => decodePrivateKeyPem(legacy, 'wrong-passphrase')).toThrow(WrongPassphraseError);
  });

  it('reads the legacy ED25519 PRIVATE KEY block (96 raw bytes)', () => {
    const ed = generatePrivateKey('ed25519');
    const raw = children(readNode(privateKeyInfoDer(ed)))[2]!.content;
    expect(decodePrivateKeyPem(pemEncode('ED25519 PRIVATE KEY', raw, { role: 'targets' })).key.public.id).toBe(ed.public.id);
  });

  it('refuses an ed25519 key whose embedded public key does not match its seed', () => {
    const ed = generatePrivateKey('ed25519');
    const raw = Buffer.from(children(readNode(privateKeyInfoDer(ed)))[2]!.content);
    raw[0] = (raw[0] as number) ^ 1;
    raw[64] = (raw[64] as number) ^ 1;
    expect(() => decodePrivateKeyPem(pemEncode('ED25519 PRIVATE KEY', raw))).toThrow(/does not match/);
  });

  it('refuses key files that demand absurd PBKDF2 work before deriving anything', () => {
    const kdf = der.sequence(der.oid(OID.pbkdf2), der.sequence(der.octetString(Buffer.alloc(8)), der.unsignedInteger(Buffer.from('7fffffff', 'hex'))));
    const scheme = der.sequence(der.oid(OID.aes256cbc), der.octetString(Buffer.alloc(16)));
    const enc = der.sequence(der.sequence(der.oid(OID.pbes2), der.sequence(kdf, scheme)), der.octetString(Buffer.alloc(32)));
    const started = Date.now();
    expect(() => decryptPrivateKeyInfo(enc, 'passphrase-1')).toThrow(/refusing PBKDF2 with 2147483647 iterations/);
    expect(Date.now() - started).toBeLessThan(1000);
    // the well-formed counterpart is fine
    expect(decryptPrivateKeyInfo(encryptPrivateKeyInfo(privateKeyInfoDer(generatePrivateKey('ecdsa')), 'passphrase-1'), 'passphrase-1').length).toBeGreaterThan(0);
  });
});

describe('KeyStore files', () => {
  const passes = fixedPassphrases({ root: 'root-passphrase', targets: 'targets-passphrase', snapshot: 'snapshot-passphrase', delegation: 'delegation-passphrase' });

  it('writes private/<canonical ID>.key with mode 0600 in a 0700 directory, and lists it', async () => {
    const trust = tempTrustDir();
    const store = new KeyStore(trust, passes);
    const key = await store.generate('ed25519', 'targets', 'example.com/x');
    const file = path.join(trust, 'private', `${key.public.id}.key`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(trust, 'private')).mode & 0o777).toBe(0o700);
    expect(store.list()).toEqual([{ keyId: key.public.id, role: 'targets', gun: 'example.com/x', file, encrypted: true }]);
    // a fresh store (new process) decrypts it with the passphrase
    const again = new KeyStore(trust, passes);
    expect((await again.get(key.public.id)).public.id).toBe(key.public.id);
  });

  it('asks for a new passphrase when adding (createNew) and for the role alias when reading', async () => {
    const trust = tempTrustDir();
    const asked: string[] = [];
    const source: PassphraseSource = async (req) => {
      asked.push(`${req.alias}:${req.createNew}:${req.attempt}`);
      return 'delegation-passphrase';
    };
    const store = new KeyStore(trust, source);
    const key = await store.generate('ecdsa', 'targets/releases');
    await new KeyStore(trust, source).get(key.public.id);
    expect(asked).toEqual(['targets/releases:true:0', 'targets/releases:false:0']);
  });

  it('retries a wrong passphrase through the source, then succeeds', async () => {
    const trust = tempTrustDir();
    const store = new KeyStore(trust, passes);
    const key = await store.generate('ecdsa', 'targets', 'g');
    const attempts: number[] = [];
    const flaky: PassphraseSource = async (req) => {
      attempts.push(req.attempt);
      return req.attempt === 0 ? 'wrong-passphrase' : 'targets-passphrase';
    };
    expect((await new KeyStore(trust, flaky).get(key.public.id)).public.id).toBe(key.public.id);
    expect(attempts).toEqual([0, 1]);
  });

  it('fails with a KEYS error for a wrong environment passphrase instead of looping', async () => {
    const trust = tempTrustDir();
    const key = await new KeyStore(trust, passes).generate('ecdsa', 'targets', 'g');
    const wrong = new KeyStore(trust, fixedPassphrases({ targets: 'another-passphrase' }));
    await expect(wrong.get(key.public.id)).rejects.toMatchObject({ code: 'KEYS' });
  });

  it('refuses a key file that holds a different key than its name says', async () => {
    const trust = tempTrustDir();
    const store = new KeyStore(trust, passes);
    const a = await store.generate('ecdsa', 'targets', 'g');
    const other = '0'.repeat(64);
    fs.copyFileSync(path.join(trust, 'private', `${a.public.id}.key`), path.join(trust, 'private', `${other}.key`));
    await expect(new KeyStore(trust, passes).get(other)).rejects.toThrow(/holds key/);
  });

  it('exports with path headers and imports back (also an unencrypted key, encrypting it)', async () => {
    const src = tempTrustDir();
    const store = new KeyStore(src, passes);
    const t = await store.generate('ecdsa', 'targets', 'example.com/exp');
    const r = await store.generate('ecdsa', 'root');
    const exported = store.exportPem();
    expect(exported.match(/^path: [0-9a-f]{64}$/gm)).toHaveLength(2);
    const dst = tempTrustDir();
    const store2 = new KeyStore(dst, passes);
    const imported = await store2.importPem(exported);
    expect(imported.map((k) => k.keyId).sort()).toEqual([t.public.id, r.public.id].sort());
    expect(store2.info(t.public.id)?.gun).toBe('example.com/exp');
    expect((await store2.get(r.public.id)).public.id).toBe(r.public.id);

    const plain = fs.readFileSync(path.join(FIXTURES, 'keys/delegation/releases.key'), 'utf8');
    const [d] = await store2.importPem(plain, { role: 'targets/releases' });
    expect(d!.keyId).toBe('3fe9d02257be6e707104ebd7da194c573e61a50acc6c06d3d51c5f898f42f72a');
    expect(fs.readFileSync(d!.file, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: targets\/releases\n\n/);
  });

  it('refuses to import an unencrypted root key', async () => {
    const store = new KeyStore(tempTrustDir(), passes);
    const ec = generatePrivateKey('ecdsa');
    await expect(store.importPem(ec.keyObject.export({ format: 'pem', type: 'pkcs8' }) as string, { role: 'root' })).rejects.toBeInstanceOf(CliError);
  });

  it('imports an encrypted key without a path header by decrypting it with its role passphrase', async () => {
    const store = new KeyStore(tempTrustDir(), passes);
    const ec = generatePrivateKey('ecdsa');
    const [k] = await store.importPem(encodePrivateKeyPem(ec, { role: 'targets/x', passphrase: 'delegation-passphrase' }));
    expect(k!.keyId).toBe(ec.public.id);
    const wrong = new KeyStore(tempTrustDir(), fixedPassphrases({ delegation: 'not-the-one' }));
    await expect(wrong.importPem(encodePrivateKeyPem(ec, { role: 'targets/x', passphrase: 'delegation-passphrase' }))).rejects.toMatchObject({ code: 'KEYS' });
  });

  it('changes a passphrase (key passwd) and removes keys', async () => {
    const trust = tempTrustDir();
    const store = new KeyStore(trust, passes);
    const k = await store.generate('ecdsa', 'targets/releases');
    const newPass = new KeyStore(trust, async (req) => (req.createNew ? 'brand-new-passphrase' : 'delegation-passphrase'));
    await newPass.changePassphrase(k.public.id);
    const text = fs.readFileSync(path.join(trust, 'private', `${k.public.id}.key`), 'utf8');
    expect(decodePrivateKeyPem(text, 'brand-new-passphrase').key.public.id).toBe(k.public.id);
    expect(() => decodePrivateKeyPem(text, 'delegation-passphrase')).toThrow(WrongPassphraseError);
    store.remove(k.public.id);
    expect(store.list()).toEqual([]);
    expect(() => store.remove(k.public.id)).toThrow(CliError);
  });

  it('migrates the pre-0.4 root_keys/ and tuf_keys/<gun>/ layout to private/<id>.key with headers', async () => {
    const trust = tempTrustDir();
    const root = generatePrivateKey('ecdsa');
    const targets = generatePrivateKey('ecdsa');
    fs.mkdirSync(path.join(trust, 'private/root_keys'), { recursive: true });
    fs.mkdirSync(path.join(trust, 'private/tuf_keys/example.com/old'), { recursive: true });
    const strip = (s: string) => s.replace(/^role: .*\n\n/m, '');
    fs.writeFileSync(path.join(trust, 'private/root_keys', `${root.public.id}_root.key`), strip(encodePrivateKeyPem(root, { role: 'root', passphrase: 'root-passphrase' })));
    fs.writeFileSync(path.join(trust, 'private/tuf_keys/example.com/old', `${targets.public.id}_targets.key`), strip(encodePrivateKeyPem(targets, { role: 'targets', passphrase: 'targets-passphrase' })));
    const store = new KeyStore(trust, passes);
    expect(fs.existsSync(path.join(trust, 'private/root_keys'))).toBe(false);
    const list = store.list();
    expect(list.find((k) => k.keyId === root.public.id)?.role).toBe('root');
    expect(list.find((k) => k.keyId === targets.public.id)).toMatchObject({ role: 'targets', gun: 'example.com/old' });
    expect((await store.get(targets.public.id)).public.id).toBe(targets.public.id);
  });

  it('refuses key IDs that are not 64 hex characters (no path tricks)', async () => {
    const store = new KeyStore(tempTrustDir(), passes);
    await expect(store.get('../../etc/passwd')).rejects.toMatchObject({ code: 'USAGE' });
  });
});
