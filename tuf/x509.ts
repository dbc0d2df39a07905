/**
 * X.509 certificates: root certificates as the notary client makes them (spec 3.4), their
 * validation as the notary client and server do it, and a small general builder that also makes
 * the dev TLS material (CA, server and client certificates).
 */
import * as crypto from 'node:crypto';
import { der, OID } from './asn1';
import { TufError } from './errors';
import { ROOT_CERT_VALIDITY_MS } from './limits';
import { keyCertificates, makePublicKey, pemEncode, PrivateKey, PublicKey } from './keys';

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

function name(cn: string): Buffer {
  // Go writes PrintableString when every character allows it, else UTF8String
  const value = PRINTABLE.test(cn) ? der.printableString(cn) : der.utf8String(cn);
  return der.sequence(der.set(der.sequence(der.oid(OID.commonName), value)));
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.oid(oid), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

export interface CertificateSpec {
  subjectCN: string;
  /** the key certified (public part is taken from it) */
  subjectKey: crypto.KeyObject;
  /** the CA's name and key; omit for self-signed */
  issuerCN?: string;
  issuerKey?: crypto.KeyObject;
  notBefore: Date;
  notAfter: Date;
  isCA?: boolean;
  /** KeyUsage bits, e.g. digitalSignature(0x80) | keyEncipherment(0x20) */
  keyUsage: number;
  extKeyUsage?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
}

function ipBytes(ip: string): Buffer {
  if (ip.includes(':')) {
    // expand IPv6 (only the forms we write: ::1 and full addresses)
    const [head = '', tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    return Buffer.from(groups.map((g) => g.padStart(4, '0')).join(''), 'hex');
  }
  return Buffer.from(ip.split('.').map(Number));
}

/** Build and sign a certificate; returns DER. ECDSA keys sign with SHA-256. */
export function buildCertificate(spec: CertificateSpec): Buffer {
  const signer = spec.issuerKey ?? spec.subjectKey;
  if (signer.asymmetricKeyType !== 'ec') throw new TufError('KEY_UNSUPPORTED', 'certificates are signed with ECDSA keys');
  const pub = crypto.createPublicKey(spec.subjectKey).export({ format: 'der', type: 'spki' });
  const exts: Buffer[] = [];
  // KeyUsage as a BIT STRING: bits are numbered from the most significant bit of the first byte
  const ku = spec.keyUsage & 0xff;
  let unused = 0;
  while (unused < 7 && ((ku >> unused) & 1) === 0) unused++;
  exts.push(extension(OID.keyUsage, true, Buffer.concat([Buffer.from([0x03, 0x02, unused, ku])])));
  if (spec.extKeyUsage && spec.extKeyUsage.length > 0) {
    exts.push(extension(OID.extKeyUsage, false, der.sequence(...spec.extKeyUsage.map((o) => der.oid(o)))));
  }
  exts.push(extension(OID.basicConstraints, true, spec.isCA ? der.sequence(der.boolean(true)) : der.sequence()));
  const sans: Buffer[] = [
    ...(spec.dnsNames ?? []).map((d) => Buffer.concat([Buffer.from([0x82, d.length]), Buffer.from(d, 'latin1')])),
    ...(spec.ipAddresses ?? []).map((ip) => {
      const b = ipBytes(ip);
      return Buffer.concat([Buffer.from([0x87, b.length]), b]);
    }),
  ];
  if (sans.length > 0) exts.push(extension('2.5.29.17', false, der.sequence(...sans)));

  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const sigAlg = der.sequence(der.oid(OID.ecdsaWithSha256));
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)),
    der.unsignedInteger(serial),
    sigAlg,
    name(spec.issuerCN ?? spec.subjectCN),
    der.sequence(der.time(spec.notBefore), der.time(spec.notAfter)),
    name(spec.subjectCN),
    pub,
    der.explicit(3, der.sequence(...exts)),
  );
  const sig = crypto.sign('sha256', tbs, signer); // DER ECDSA-Sig-Value, as X.509 wants
  return der.sequence(tbs, sigAlg, der.bitString(sig));
}

const KU_DIGITAL_SIGNATURE = 0x80;
const KU_KEY_ENCIPHERMENT = 0x20;
export const KU_CERT_SIGN = 0x04;
export const KU = { digitalSignature: KU_DIGITAL_SIGNATURE, keyEncipherment: KU_KEY_ENCIPHERMENT, certSign: KU_CERT_SIGN };

/**
 * A root certificate for `gun` as the notary client makes it: self-signed, CN = GUN, ten years
 * from now, digitalSignature+keyEncipherment, codeSigning, CA:FALSE. Returns the `ecdsa-x509`
 * public key whose `public` is the Go-layout PEM.
 */
export function makeRootCertificateKey(gun: string, key: PrivateKey, now: Date = new Date()): PublicKey {
  if (key.keytype !== 'ecdsa') throw new TufError('KEY_UNSUPPORTED', 'root certificates hold ECDSA keys');
  const certDer = buildCertificate({
    subjectCN: gun,
    subjectKey: key.keyObject,
    notBefore: now,
    notAfter: new Date(now.getTime() + ROOT_CERT_VALIDITY_MS),
    keyUsage: KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT,
    extKeyUsage: [OID.codeSigning],
  });
  return makePublicKey('ecdsa-x509', Buffer.from(pemEncode('CERTIFICATE', certDer), 'utf8'));
}

/** An ecdsa-x509 / rsa-x509 key from certificate PEM text, re-encoded in Go's PEM layout. */
export function certificateKeyFromPem(pemText: string): PublicKey {
  const certs = keyCertificates(makePublicKey('ecdsa-x509', Buffer.from(pemText, 'utf8')));
  if (!certs) throw new TufError('CERTIFICATE', 'no certificate in PEM');
  const leaf = certs[0] as crypto.X509Certificate;
  const keytype = leaf.publicKey.asymmetricKeyType === 'rsa' ? 'rsa-x509' : 'ecdsa-x509';
  const pem = certs.map((c) => pemEncode('CERTIFICATE', c.raw)).join('');
  return makePublicKey(keytype, Buffer.from(pem, 'utf8'));
}

function commonName(cert: crypto.X509Certificate): string | null {
  const m = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return m ? (m[1] as string) : null;
}

/** Whether a certificate CN covers a GUN: equal, or a `prefix*` wildcard (spec 3.4). */
export function cnMatchesGun(cn: string, gun: string): boolean {
  if (cn === gun) return true;
  return cn.endsWith('*') && gun.startsWith(cn.slice(0, -1));
}

function usesSha1(cert: crypto.X509Certificate): boolean {
  // node does not expose the signature algorithm; read it from the DER: the outer
  // SEQUENCE's second element is the signature AlgorithmIdentifier
  const raw = cert.raw.toString('hex');
  return (
    raw.includes('06072a8648ce3d0401') || // ecdsa-with-SHA1
    raw.includes('06092a864886f70d010105') // sha1WithRSAEncryption
  );
}

export interface LeafCheck {
  /** enforce NotBefore/NotAfter against `now` (new roots: yes; trusted old roots: no) */
  checkExpiry: boolean;
  now: Date;
}

/**
 * The root-role keys of a root whose certificates pass spec 3.4: PEM certificates, a non-CA leaf
 * first, CN matching the GUN, no SHA-1, RSA >= 2048, and (if asked) currently valid with one day
 * of tolerance on NotBefore. Returns the keys that pass; a key whose PEM is not in Go's layout
 * cannot match its own ID and so is dropped.
 */
export function validRootCertificateKeys(keys: PublicKey[], gun: string, check: LeafCheck): PublicKey[] {
  const out: PublicKey[] = [];
  for (const key of keys) {
    if (key.keytype !== 'ecdsa-x509' && key.keytype !== 'rsa-x509') continue;
    const certs = keyCertificates(key);
    if (!certs || certs.length === 0) continue;
    const leaf = certs[0] as crypto.X509Certificate;
    if (leaf.ca || certs.slice(1).some((c) => !c.ca)) continue;
    const cn = commonName(leaf);
    if (cn === null || !cnMatchesGun(cn, gun)) continue;
    if (usesSha1(leaf)) continue;
    if (leaf.publicKey.asymmetricKeyType === 'rsa' && (leaf.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) continue;
    const notBefore = new Date(leaf.validFrom).getTime();
    const notAfter = new Date(leaf.validTo).getTime();
    if (!(notBefore <= notAfter)) continue;
    if (check.checkExpiry) {
      const now = check.now.getTime();
      if (notBefore > now + 24 * 3600 * 1000 || notAfter <= now) continue;
    }
    // the key must already be in Go's PEM layout: rebuild and compare IDs (spec 3.4)
    const rebuilt = certs.map((c) => pemEncode('CERTIFICATE', c.raw)).join('');
    if (makePublicKey(key.keytype, Buffer.from(rebuilt, 'utf8')).id !== key.id) continue;
    out.push(key);
  }
  return out;
}

export function certificateNotAfter(key: PublicKey): Date | null {
  const leaf = keyCertificates(key)?.[0];
  return leaf ? new Date(leaf.validTo) : null;
}
