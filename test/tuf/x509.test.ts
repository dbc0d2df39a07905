/**
 * Root certificates as the notary client makes them (spec 3.4), checked with openssl, and the
 * certificate rules that the notary client and server enforce on roots.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildCertificate,
  canonicalKeyId,
  cnMatchesGun,
  generatePrivateKey,
  keyCertificates,
  KU,
  makePublicKey,
  makeRootCertificateKey,
  OID,
  pemEncode,
  validRootCertificateKeys,
} from '../../tuf';

const GUN = 'registry.example.com:5000/team/app';
const now = new Date('2026-11-23T12:00:00Z');
const check = { checkExpiry: true, now };

describe('root certificates', () => {
  const key = generatePrivateKey('ecdsa');
  const certKey = makeRootCertificateKey(GUN, key, now);
  const pem = certKey.publicBytes.toString('utf8');

  it('is a self-signed X.509 v3 certificate with the fields notary writes (checked by openssl)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-x509-'));
    try {
      fs.writeFileSync(path.join(dir, 'root.crt'), pem);
      const text = execFileSync('openssl', ['x509', '-in', path.join(dir, 'root.crt'), '-noout', '-text']).toString();
      expect(text).toMatch(/Version: 3 \(0x2\)/);
      expect(text).toContain(`Issuer: CN = ${GUN}`);
      expect(text).toContain(`Subject: CN = ${GUN}`);
      expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
      expect(text).toMatch(/Not Before: Nov 23 12:00:00 2026 GMT/);
      expect(text).toMatch(/Not After : Nov 20 12:00:00 2036 GMT/);
      expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
      expect(text).toMatch(/X509v3 Extended Key Usage:\s+Code Signing/);
      expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      // self-signed: it verifies against itself
      expect(execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'root.crt'), '-partial_chain', path.join(dir, 'root.crt')]).toString()).toMatch(/OK/);
      const serial = /Serial Number:\s*\n?\s*([0-9a-f:]+)/.exec(text)?.[1]?.replace(/:/g, '') ?? '';
      expect(serial.length).toBeGreaterThanOrEqual(30);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is written in Go's PEM layout: 64-character lines, LF, final newline", () => {
    const lines = pem.split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----');
    expect(lines.at(-2)).toBe('-----END CERTIFICATE-----');
    expect(lines.at(-1)).toBe('');
    for (const l of lines.slice(1, -3)) expect(l).toHaveLength(64);
    expect(pem).not.toContain('\r');
  });

  it('its canonical ID is the ID of the bare ecdsa key', () => {
    expect(canonicalKeyId(certKey)).toBe(key.public.id);
    expect(certKey.id).not.toBe(key.public.id);
  });

  it('passes the root certificate rules for its GUN, and only for it', () => {
    expect(validRootCertificateKeys([certKey], GUN, check)).toEqual([certKey]);
    expect(validRootCertificateKeys([certKey], GUN + 'x', check)).toEqual([]);
  });

  it('accepts a `prefix*` wildcard CN covering the GUN', () => {
    expect(cnMatchesGun('registry.example.com:5000/team/*', GUN)).toBe(true);
    expect(cnMatchesGun('registry.example.com:5000/other/*', GUN)).toBe(false);
    const wild = makeRootCertificateKey('registry.example.com:5000/team/*', key, now);
    expect(validRootCertificateKeys([wild], GUN, check)).toEqual([wild]);
  });

  it('refuses expired or not-yet-valid certificates for new roots, but not for trusted ones', () => {
    const later = new Date(now.getTime() + 3651 * 24 * 3600 * 1000);
    expect(validRootCertificateKeys([certKey], GUN, { checkExpiry: true, now: later })).toEqual([]);
    expect(validRootCertificateKeys([certKey], GUN, { checkExpiry: false, now: later })).toEqual([certKey]);
    // NotBefore may lie up to one day in the future
    const early = new Date(now.getTime() - 23 * 3600 * 1000);
    expect(validRootCertificateKeys([certKey], GUN, { checkExpiry: true, now: early })).toEqual([certKey]);
    const tooEarly = new Date(now.getTime() - 25 * 3600 * 1000);
    expect(validRootCertificateKeys([certKey], GUN, { checkExpiry: true, now: tooEarly })).toEqual([]);
  });

  it('refuses a plain ecdsa root key', () => {
    expect(validRootCertificateKeys([key.public], GUN, check)).toEqual([]);
  });

  it('refuses a certificate in another PEM layout (CRLF), whose key ID no signature can match', () => {
    const crlf = makePublicKey('ecdsa-x509', Buffer.from(pem.replace(/\n/g, '\r\n')));
    expect(keyCertificates(crlf)).toHaveLength(1);
    expect(validRootCertificateKeys([crlf], GUN, check)).toEqual([]);
  });

  it('refuses a CA certificate as leaf', () => {
    const caDer = buildCertificate({
      subjectCN: GUN,
      subjectKey: key.keyObject,
      notBefore: now,
      notAfter: new Date(now.getTime() + 86400000 * 10),
      isCA: true,
      keyUsage: KU.certSign,
      extKeyUsage: [OID.codeSigning],
    });
    const ca = makePublicKey('ecdsa-x509', Buffer.from(pemEncode('CERTIFICATE', caDer)));
    expect(validRootCertificateKeys([ca], GUN, check)).toEqual([]);
  });

  it('refuses a SHA-1 signed certificate', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-x509-'));
    try {
      fs.writeFileSync(path.join(dir, 'k.pem'), key.keyObject.export({ format: 'pem', type: 'pkcs8' }));
      // a leaf (CA:FALSE) certificate, as openssl's default config would make a CA
      fs.writeFileSync(path.join(dir, 'req.cnf'), '[req]\ndistinguished_name=dn\nx509_extensions=ext\n[dn]\n[ext]\nbasicConstraints=critical,CA:FALSE\n');
      const make = (digest: string) => {
        const out = path.join(dir, `${digest}.pem`);
        execFileSync('openssl', ['req', '-config', path.join(dir, 'req.cnf'), '-x509', '-new', '-key', path.join(dir, 'k.pem'), `-${digest}`, '-days', '30', '-subj', `/CN=${GUN.replace(/\//g, '\\/')}`, '-out', out]);
        const c = new crypto.X509Certificate(fs.readFileSync(out));
        return makePublicKey('ecdsa-x509', Buffer.from(pemEncode('CERTIFICATE', c.raw)));
      };
      const sha256 = make('sha256');
      const sha1 = make('sha1');
      // the same certificate with SHA-256 passes, so SHA-1 is the reason for refusal
      expect(validRootCertificateKeys([sha256], GUN, { checkExpiry: false, now })).toEqual([sha256]);
      expect(validRootCertificateKeys([sha1], GUN, { checkExpiry: false, now })).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
