/**
 * Keys and signatures, cross-checked with an independent implementation (the openssl CLI) in
 * both directions for every key type we sign with, and verification-only for RSA.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  canonicalKeyId,
  certificateKeyFromPem,
  children,
  der,
  generatePrivateKey,
  keyCertificates,
  makePublicKey,
  makeRootCertificateKey,
  parseMetadata,
  parsePublicKey,
  privateKeyFromKeyObject,
  readNode,
  sign,
  signMetadata,
  targetsSigned,
  TufError,
  verifySignature,
  verifyThreshold,
} from '../../tuf';
import { readNode as readDer } from '../../tuf/asn1';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-keys-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const f = (name: string) => path.join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const message = Buffer.from('{"_type":"Targets","expires":"2029-01-01T00:00:00Z","version":1}');

/** raw r||s (64 bytes) -> DER ECDSA-Sig-Value, for openssl */
function rawToDer(raw: Buffer): Buffer {
  return der.sequence(der.unsignedInteger(raw.subarray(0, 32)), der.unsignedInteger(raw.subarray(32)));
}

/** DER ECDSA-Sig-Value -> raw r||s */
function derToRaw(sig: Buffer): Buffer {
  const [r, s] = children(readDer(sig)).map((n) => {
    const v = n.content[0] === 0 ? n.content.subarray(1) : n.content;
    return Buffer.concat([Buffer.alloc(32 - v.length), v]);
  });
  return Buffer.concat([r!, s!]);
}

describe('signatures cross-checked with openssl', () => {
  beforeAll(() => fs.writeFileSync(f('msg'), message));

  it('an ed25519 signature made by us verifies with openssl', () => {
    const key = generatePrivateKey('ed25519');
    const s = sign(key, message);
    expect(s.method).toBe('eddsa');
    fs.writeFileSync(f('ed.pub'), crypto.createPublicKey(key.keyObject).export({ format: 'pem', type: 'spki' }));
    fs.writeFileSync(f('ed.sig'), Buffer.from(s.sig, 'base64'));
    expect(openssl('pkeyutl', '-verify', '-pubin', '-inkey', f('ed.pub'), '-rawin', '-in', f('msg'), '-sigfile', f('ed.sig'))).toMatch(/Signature Verified Successfully/);
  });

  it('an ecdsa signature made by us (raw r||s over SHA-256) verifies with openssl', () => {
    const key = generatePrivateKey('ecdsa');
    const s = sign(key, message);
    expect(s.method).toBe('ecdsa');
    const raw = Buffer.from(s.sig, 'base64');
    expect(raw).toHaveLength(64);
    fs.writeFileSync(f('ec.pub'), crypto.createPublicKey(key.keyObject).export({ format: 'pem', type: 'spki' }));
    fs.writeFileSync(f('ec.sig'), rawToDer(raw));
    expect(openssl('dgst', '-sha256', '-verify', f('ec.pub'), '-signature', f('ec.sig'), f('msg'))).toMatch(/Verified OK/);
  });

  it('an ed25519 signature made by openssl verifies with ours', () => {
    openssl('genpkey', '-algorithm', 'ed25519', '-out', f('o-ed.key'));
    openssl('pkeyutl', '-sign', '-inkey', f('o-ed.key'), '-rawin', '-in', f('msg'), '-out', f('o-ed.sig'));
    const pub = privateKeyFromKeyObject(crypto.createPrivateKey(fs.readFileSync(f('o-ed.key')))).public;
    expect(verifySignature(pub, 'eddsa', message, fs.readFileSync(f('o-ed.sig')))).toBe(true);
    expect(verifySignature(pub, 'eddsa', Buffer.concat([message, Buffer.from(' ')]), fs.readFileSync(f('o-ed.sig')))).toBe(false);
  });

  it('an ecdsa signature made by openssl verifies with ours once in r||s form, and never as DER', () => {
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('o-ec.key'));
    openssl('dgst', '-sha256', '-sign', f('o-ec.key'), '-out', f('o-ec.sig'), f('msg'));
    const pub = privateKeyFromKeyObject(crypto.createPrivateKey(fs.readFileSync(f('o-ec.key')))).public;
    const derSig = fs.readFileSync(f('o-ec.sig'));
    expect(verifySignature(pub, 'ecdsa', message, derToRaw(derSig))).toBe(true);
    // DER-encoded ECDSA signatures are rejected by length, as Notary does
    expect(verifySignature(pub, 'ecdsa', message, derSig)).toBe(false);
  });

  it('an ecdsa-x509 key (openssl certificate) verifies openssl signatures by its certificate', () => {
    openssl('req', '-x509', '-new', '-key', f('o-ec.key'), '-sha256', '-days', '30', '-subj', '/CN=releases-signer', '-out', f('o-ec.crt'));
    const key = certificateKeyFromPem(fs.readFileSync(f('o-ec.crt'), 'utf8'));
    expect(key.keytype).toBe('ecdsa-x509');
    expect(verifySignature(key, 'ecdsa', message, derToRaw(fs.readFileSync(f('o-ec.sig'))))).toBe(true);
    // the canonical ID is the ID of the bare ecdsa key inside the certificate
    const bare = privateKeyFromKeyObject(crypto.createPrivateKey(fs.readFileSync(f('o-ec.key')))).public;
    expect(canonicalKeyId(key)).toBe(bare.id);
    expect(key.id).not.toBe(bare.id);
  });

  it('RSA-PSS (salt 32) and PKCS#1 v1.5 signatures made by openssl verify with ours (rsa and rsa-x509)', () => {
    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', f('rsa.key'));
    openssl('dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sign', f('rsa.key'), '-out', f('rsa-pss.sig'), f('msg'));
    openssl('dgst', '-sha256', '-sign', f('rsa.key'), '-out', f('rsa-v15.sig'), f('msg'));
    const spki = crypto.createPublicKey(fs.readFileSync(f('rsa.key'))).export({ format: 'der', type: 'spki' });
    const key = makePublicKey('rsa', spki);
    expect(verifySignature(key, 'rsapss', message, fs.readFileSync(f('rsa-pss.sig')))).toBe(true);
    expect(verifySignature(key, 'rsapkcs1v15', message, fs.readFileSync(f('rsa-v15.sig')))).toBe(true);
    expect(verifySignature(key, 'rsapss', message, fs.readFileSync(f('rsa-v15.sig')))).toBe(false);
    openssl('req', '-x509', '-new', '-key', f('rsa.key'), '-sha256', '-days', '30', '-subj', '/CN=rsa', '-out', f('rsa.crt'));
    const certKey = certificateKeyFromPem(fs.readFileSync(f('rsa.crt'), 'utf8'));
    expect(certKey.keytype).toBe('rsa-x509');
    expect(verifySignature(certKey, 'RSAPSS', message, fs.readFileSync(f('rsa-pss.sig')))).toBe(true);
  });

  it('refuses RSA keys shorter than 2048 bits', () => {
    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', f('rsa1k.key'));
    openssl('dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sign', f('rsa1k.key'), '-out', f('rsa1k.sig'), f('msg'));
    const spki = crypto.createPublicKey(fs.readFileSync(f('rsa1k.key'))).export({ format: 'der', type: 'spki' });
    expect(verifySignature(makePublicKey('rsa', spki), 'rsapss', message, fs.readFileSync(f('rsa1k.sig')))).toBe(false);
  });
});

describe('key objects', () => {
  it('parses every key type and refuses malformed key objects with typed errors', () => {
    const ed = generatePrivateKey('ed25519').public;
    expect(parsePublicKey({ keytype: 'ed25519', keyval: { public: ed.publicB64, private: null } }).id).toBe(ed.id);
    expect(parsePublicKey({ keytype: 'ed25519', keyval: { public: ed.publicB64 } }).id).toBe(ed.id);
    const bad: unknown[] = [
      null,
      [],
      { keytype: 'ed25519' },
      { keytype: 5, keyval: { public: ed.publicB64 } },
      { keytype: 'ed25519', keyval: { public: 'not base64!' } },
      { keytype: 'ed25519', keyval: { public: ed.publicB64.replace(/=+$/, '') } },
      { keytype: 'ed25519', keyval: { public: ed.publicB64, private: 'c2VjcmV0' } },
    ];
    for (const b of bad) {
      expect(() => parsePublicKey(b as never)).toThrow(TufError);
    }
  });

  it('an unknown key type parses but verifies nothing', () => {
    const ed = generatePrivateKey('ed25519');
    const s = sign(ed, message);
    const alien = parsePublicKey({ keytype: 'dilithium', keyval: { public: ed.public.publicB64, private: null } });
    expect(verifySignature(alien, 'eddsa', message, Buffer.from(s.sig, 'base64'))).toBe(false);
    expect(verifySignature(ed.public, 'eddsa', message, Buffer.from(s.sig, 'base64'))).toBe(true);
    // a method that does not fit the key type never verifies
    expect(verifySignature(ed.public, 'ecdsa', message, Buffer.from(s.sig, 'base64'))).toBe(false);
  });

  it('parses the certificates of an x509 key once per key ID, and keeps refusing a malformed PEM', () => {
    const cert = makeRootCertificateKey('example.com/certs', generatePrivateKey('ecdsa'), new Date());
    const first = keyCertificates(cert);
    expect(first).toHaveLength(1);
    // another object for the same key (as every parse of a document makes) finds them parsed
    expect(keyCertificates(makePublicKey(cert.keytype, Buffer.from(cert.publicBytes)))).toBe(first);
    expect(keyCertificates(makePublicKey('ecdsa-x509', Buffer.from('no certificate here')))).toBeNull();
    const broken = makePublicKey('ecdsa-x509', Buffer.from('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n'));
    for (let i = 0; i < 2; i++) expect(() => keyCertificates(broken)).toThrow(TufError);
  });

  it('readNode rejects truncated DER with a typed error', () => {
    expect(() => readNode(Buffer.from([0x30, 0x05, 0x01]))).toThrow(TufError);
  });
});

describe('threshold counting', () => {
  const a = generatePrivateKey('ecdsa');
  const b = generatePrivateKey('ed25519');
  const c = generatePrivateKey('ecdsa');
  const keys = new Map([a, b, c].map((k) => [k.public.id, k.public]));
  const signed = targetsSigned({ targets: {}, version: 1, expires: '2030-01-01T00:00:00Z' });
  const role = (threshold: number, ids = [a, b].map((k) => k.public.id)) => ({ keyids: ids, threshold });

  it('counts distinct valid keys of the role', () => {
    const md = signMetadata('targets', signed, [{ key: a }, { key: b }]);
    expect(verifyThreshold(md, keys, role(2), 'targets').size).toBe(2);
  });

  it("one key's signature duplicated counts once (arbitrary software)", () => {
    const md = signMetadata('targets', signed, [{ key: a }]);
    const dup = parseMetadata(Buffer.from(md.bytes.toString().replace(/"signatures":\[(.*)\]/, '"signatures":[$1,$1]')), 'targets');
    expect(dup.signatures).toHaveLength(2);
    expect(() => verifyThreshold(dup, keys, role(2), 'targets')).toThrow(/did not meet threshold for targets/);
  });

  it('ignores signatures by keys the role does not list', () => {
    const md = signMetadata('targets', signed, [{ key: a }, { key: c }]);
    expect(() => verifyThreshold(md, keys, role(2), 'targets')).toThrow(/did not meet threshold/);
    expect(verifyThreshold(md, keys, role(1), 'targets')).toEqual(new Set([a.public.id]));
  });

  it('fails below threshold, and with no signatures at all', () => {
    const none = parseMetadata(Buffer.from(signMetadata('targets', signed, [{ key: a }]).bytes.toString().replace(/"signatures":\[.*\]/, '"signatures":[]')), 'targets');
    expect(() => verifyThreshold(none, keys, role(1), 'targets')).toThrow(/no signatures/);
  });

  it('a key listed under an ID that is not its own fails hard', () => {
    const md = signMetadata('targets', signed, [{ key: a }]);
    const lying = new Map([[a.public.id, b.public]]);
    expect(() => verifyThreshold(md, lying, role(1), 'targets')).toThrow(/key ID is not valid for key content/);
  });

  it('a signature over other content does not count (tampered signed body)', () => {
    const md = signMetadata('targets', signed, [{ key: a }, { key: b }]);
    const tampered = parseMetadata(Buffer.from(md.bytes.toString().replace('"version":1', '"version":2')), 'targets');
    expect(() => verifyThreshold(tampered, keys, role(1), 'targets')).toThrow(/did not meet threshold/);
  });
});
