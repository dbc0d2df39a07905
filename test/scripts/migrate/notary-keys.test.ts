/**
 * notary-signer's encrypted keys, from the real notary 0.7 fixtures: the JWE opens with the
 * alias's passphrase, the keys are the ones the metadata names, and anything else fails closed.
 */
import * as crypto from 'node:crypto';
import { keyRowsFromExport } from '../../../scripts/migrate/sources';
import { decryptNotaryJwe, encryptNotaryJwe, JweError, JWE_LIMITS } from '../../../scripts/migrate/jwe';
import { KeyImportError, NotaryKeyRow, openNotaryKey } from '../../../scripts/migrate/notary-keys';
import { computeKeyId, parseMetadata, signedMessage, signRaw, verifySignature } from '../../../tuf';
import { fixture, FIXTURES } from '../../helpers/fixtures';

const PASSPHRASE = Buffer.from('acceptance-signer-passphrase');
const rows = keyRowsFromExport(`${FIXTURES}/server-state/signer-private-keys.json`);
const row = (role: string, gunSuffix: string): NotaryKeyRow => {
  const r = rows.find((x) => x.role === role && x.gun.endsWith(gunSuffix));
  if (!r) throw new Error(`no fixture key for ${role} ${gunSuffix}`);
  return r;
};

/** The signatures on `file` made by `keyId` all verify with `key`; returns how many there were. */
function verifiesFixture(file: string, kind: 'timestamp' | 'snapshot', keyId: string, key: ReturnType<typeof openNotaryKey>): number {
  const md = parseMetadata(fixture(file), kind);
  const sigs = md.signatures.filter((s) => s.keyid === keyId);
  for (const s of sigs) expect(verifySignature(key.public, s.method, signedMessage(md), Buffer.from(s.sig, 'base64'))).toBe(true);
  return sigs.length;
}

describe('notary-signer private keys (real notary 0.7 rows)', () => {
  it('reads the exported rows: three keys under alias acceptancealias', () => {
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((r) => r.passphraseAlias))).toEqual(new Set(['acceptancealias']));
    // the export has no last_used column: unknown, not "never used"
    expect(rows.every((r) => r.lastUsed === undefined)).toBe(true);
  });

  it('decrypts every key with the alias passphrase; each public part equals public_b64 and its ID the key_id', () => {
    for (const r of rows) {
      const key = openNotaryKey(r, PASSPHRASE);
      expect(key.keytype).toBe('ecdsa');
      expect(key.public.publicBytes.equals(r.public)).toBe(true);
      expect(key.public.id).toBe(r.keyId);
    }
  });

  it("the decrypted timestamp key verifies the fixture timestamps it signed, before and after root rotation", () => {
    const app = row('timestamp', '/app');
    const key = openNotaryKey(app, PASSPHRASE);
    expect(verifiesFixture('app/before-root-rotation/timestamp.json', 'timestamp', app.keyId, key)).toBe(1);
    expect(verifiesFixture('app/after-root-rotation/timestamp.json', 'timestamp', app.keyId, key)).toBe(1);
    const ss = row('timestamp', '/server-snapshot');
    expect(verifiesFixture('server-snapshot/timestamp.json', 'timestamp', ss.keyId, openNotaryKey(ss, PASSPHRASE))).toBe(1);
  });

  it('the decrypted server-held snapshot key verifies the fixture snapshot', () => {
    const snap = row('snapshot', '/server-snapshot');
    expect(verifiesFixture('server-snapshot/snapshot.json', 'snapshot', snap.keyId, openNotaryKey(snap, PASSPHRASE))).toBe(1);
  });

  it('the decrypted key signs new messages the published timestamp key verifies', () => {
    const app = row('timestamp', '/app');
    const published = JSON.parse(fixture('app/before-root-rotation/timestamp.key').toString()) as { keyval: { public: string } };
    expect(published.keyval.public).toBe(app.public.toString('base64'));
    const key = openNotaryKey(app, PASSPHRASE);
    const msg = Buffer.from('a message only the migrated key can sign');
    const { method, sig } = signRaw(key, msg);
    expect(verifySignature(key.public, method, msg, sig)).toBe(true);
  });

  it('a wrong passphrase is refused with the alias named and no key material in the message', () => {
    const r = row('timestamp', '/app');
    let err: unknown;
    try {
      openNotaryKey(r, Buffer.from('not-the-passphrase'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyImportError);
    expect((err as Error).message).toMatch(/passphrase of alias "acceptancealias" does not open it/);
    expect((err as Error).message).not.toContain('acceptance-signer-passphrase');
  });

  it('a tampered ciphertext fails its integrity check instead of yielding a key', () => {
    const r = row('timestamp', '/app');
    const parts = r.privateJwe.split('.');
    const ct = Buffer.from(parts[3] as string, 'base64url');
    ct[5] = (ct[5] as number) ^ 0x01;
    parts[3] = ct.toString('base64url');
    expect(() => decryptNotaryJwe(parts.join('.'), PASSPHRASE)).toThrow(/integrity/);
  });

  it('a tampered protected header (it is the AAD) is refused', () => {
    const r = row('timestamp', '/app');
    const parts = r.privateJwe.split('.');
    const header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString()) as Record<string, unknown>;
    // same parameters, different encoding: the key unwraps, the GCM tag does not verify
    parts[0] = Buffer.from(JSON.stringify({ enc: header.enc, alg: header.alg, p2c: header.p2c, p2s: header.p2s })).toString('base64url');
    expect(() => decryptNotaryJwe(parts.join('.'), PASSPHRASE)).toThrow(JweError);
  });

  it('refuses algorithms notary-signer does not write, before deriving any key', () => {
    const make = (h: object) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${'A'.repeat(54)}.${'A'.repeat(16)}.AAAA.${'A'.repeat(22)}`;
    const p2s = crypto.randomBytes(12).toString('base64url');
    expect(() => decryptNotaryJwe(make({ alg: 'dir', enc: 'A256GCM' }), PASSPHRASE)).toThrow(/alg "dir" is not PBES2-HS256\+A128KW/);
    expect(() => decryptNotaryJwe(make({ alg: 'PBES2-HS256+A128KW', enc: 'A128CBC-HS256', p2c: 8192, p2s }), PASSPHRASE)).toThrow(/enc/);
    expect(() => decryptNotaryJwe(make({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', p2c: 8192, p2s, zip: 'DEF' }), PASSPHRASE)).toThrow(/compressed/);
  });

  it('bounds the PBKDF2 iteration count (a stored p2c of 2^31 would hang the migration)', () => {
    const jwe = encryptNotaryJwe(Buffer.from('x'), PASSPHRASE, 8192).split('.');
    const h = JSON.parse(Buffer.from(jwe[0] as string, 'base64url').toString()) as Record<string, unknown>;
    jwe[0] = Buffer.from(JSON.stringify({ ...h, p2c: 2 ** 31 })).toString('base64url');
    const started = Date.now();
    expect(() => decryptNotaryJwe(jwe.join('.'), PASSPHRASE)).toThrow(new RegExp(`p2c must be an integer ${JWE_LIMITS.minIterations}`));
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('opens an ed25519 key in Notary form (public || seed || public) and refuses one whose halves disagree', () => {
    const kp = crypto.generateKeyPairSync('ed25519');
    const jwk = kp.privateKey.export({ format: 'jwk' });
    const pub = Buffer.from(jwk.x as string, 'base64url');
    const seed = Buffer.from(jwk.d as string, 'base64url');
    const plain = Buffer.concat([pub, seed, pub]);
    const base = { gun: 'example.com/a', role: 'timestamp', algorithm: 'ed25519', encryptionAlg: 'A256GCM', keywrapAlg: 'PBES2-HS256+A128KW', passphraseAlias: 'a', public: pub, createdAt: null, lastUsed: null };
    const keyId = computeKeyId('ed25519', pub.toString('base64'));
    const key = openNotaryKey({ ...base, keyId, privateJwe: encryptNotaryJwe(plain, PASSPHRASE) }, PASSPHRASE);
    const msg = Buffer.from('ed25519 message');
    expect(crypto.verify(null, msg, kp.publicKey, signRaw(key, msg).sig)).toBe(true);

    const other = crypto.randomBytes(32);
    expect(() => openNotaryKey({ ...base, keyId, privateJwe: encryptNotaryJwe(Buffer.concat([pub, seed, other]), PASSPHRASE) }, PASSPHRASE)).toThrow(/inconsistent/);
  });

  it('refuses a row whose private key is not the one its public key and ID name (swapped rows)', () => {
    const a = row('timestamp', '/app');
    const b = row('timestamp', '/server-snapshot');
    expect(() => openNotaryKey({ ...a, privateJwe: b.privateJwe }, PASSPHRASE)).toThrow(/does not match the stored public key/);
  });

  it('refuses a row encrypted with another scheme', () => {
    const a = row('timestamp', '/app');
    expect(() => openNotaryKey({ ...a, keywrapAlg: 'A256KW' }, PASSPHRASE)).toThrow(/encrypted with A256KW/);
  });
});
