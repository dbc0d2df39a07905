/**
 * notary-signer's private keys at rest (spec 4.4): a JWE in compact serialisation (RFC 7516),
 * key management `PBES2-HS256+A128KW` (RFC 7518 4.8: PBKDF2-HMAC-SHA256 over the alias's
 * passphrase, salt = "PBES2-HS256+A128KW" || 0x00 || p2s, p2c iterations, then AES-128 key wrap
 * of the content key) and content encryption `A256GCM` with the protected header as AAD.
 *
 * Only that exact combination is accepted: it is the only one notary-signer writes, and a
 * decryptor that follows whatever `alg` a stored header names is how JWE libraries got broken.
 * Every size and the iteration count are bounded before any work is done.
 */
import * as crypto from 'node:crypto';

export const NOTARY_KEYWRAP_ALG = 'PBES2-HS256+A128KW';
export const NOTARY_ENCRYPTION_ALG = 'A256GCM';

export const JWE_LIMITS = {
  /** a compact JWE of a private key is a few hundred bytes; RSA-4096 PKCS#1 stays under 4 KiB */
  maxCompactChars: 16 * 1024,
  maxHeaderBytes: 1024,
  /** Notary uses 8192; anything far above is a denial of service, anything far below is weak */
  minIterations: 1000,
  maxIterations: 1_000_000,
  minSaltBytes: 8,
  maxSaltBytes: 64,
} as const;

/** A JWE that cannot be opened; `reason` never holds key material or the passphrase. */
export class JweError extends Error {
  constructor(
    readonly reason: 'MALFORMED' | 'UNSUPPORTED' | 'WRONG_PASSPHRASE',
    message: string,
  ) {
    super(message);
    this.name = 'JweError';
  }
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const KEY_WRAP_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

function b64url(part: string, what: string): Buffer {
  if (!B64URL.test(part) || part.length % 4 === 1) throw new JweError('MALFORMED', `JWE ${what} is not base64url`);
  return Buffer.from(part, 'base64url');
}

interface Pbes2Header {
  alg: string;
  enc: string;
  p2c: number;
  p2s: Buffer;
}

function parseHeader(part: string): Pbes2Header {
  const bytes = b64url(part, 'header');
  if (bytes.length > JWE_LIMITS.maxHeaderBytes) throw new JweError('MALFORMED', 'JWE header is too large');
  let h: unknown;
  try {
    h = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new JweError('MALFORMED', 'JWE header is not JSON');
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new JweError('MALFORMED', 'JWE header is not an object');
  const o = h as Record<string, unknown>;
  if (o.alg !== NOTARY_KEYWRAP_ALG) throw new JweError('UNSUPPORTED', `JWE alg ${JSON.stringify(String(o.alg).slice(0, 40))} is not ${NOTARY_KEYWRAP_ALG}`);
  if (o.enc !== NOTARY_ENCRYPTION_ALG) throw new JweError('UNSUPPORTED', `JWE enc ${JSON.stringify(String(o.enc).slice(0, 40))} is not ${NOTARY_ENCRYPTION_ALG}`);
  // a compressed or critical-extension JWE is not what notary-signer writes
  if (o.zip !== undefined) throw new JweError('UNSUPPORTED', 'compressed JWE payloads are not supported');
  if (o.crit !== undefined) throw new JweError('UNSUPPORTED', 'JWE critical header extensions are not supported');
  const p2c = o.p2c;
  if (typeof p2c !== 'number' || !Number.isInteger(p2c) || p2c < JWE_LIMITS.minIterations || p2c > JWE_LIMITS.maxIterations) {
    throw new JweError('UNSUPPORTED', `JWE p2c must be an integer ${JWE_LIMITS.minIterations}..${JWE_LIMITS.maxIterations}`);
  }
  if (typeof o.p2s !== 'string') throw new JweError('MALFORMED', 'JWE header has no p2s');
  const p2s = b64url(o.p2s, 'p2s');
  if (p2s.length < JWE_LIMITS.minSaltBytes || p2s.length > JWE_LIMITS.maxSaltBytes) throw new JweError('UNSUPPORTED', 'JWE p2s has an unusual length');
  return { alg: o.alg, enc: o.enc, p2c, p2s };
}

/**
 * Decrypt a notary-signer private key JWE with its alias's passphrase. Returns the plaintext
 * (the caller zeroes it when done). A wrong passphrase and a tampered value look the same:
 * the AES key unwrap or the GCM tag fails.
 */
export function decryptNotaryJwe(compact: string, passphrase: Buffer): Buffer {
  if (typeof compact !== 'string' || compact.length > JWE_LIMITS.maxCompactChars) throw new JweError('MALFORMED', 'JWE is too large');
  const parts = compact.trim().split('.');
  if (parts.length !== 5) throw new JweError('MALFORMED', 'not a compact JWE (five dot-separated parts)');
  const [headerPart, wrappedPart, ivPart, ctPart, tagPart] = parts as [string, string, string, string, string];
  const header = parseHeader(headerPart);
  const wrapped = b64url(wrappedPart, 'encrypted key');
  const iv = b64url(ivPart, 'iv');
  const ciphertext = b64url(ctPart, 'ciphertext');
  const tag = b64url(tagPart, 'tag');
  // A256GCM: a 32-byte content key wraps to 40 bytes; 96-bit IV; 128-bit tag
  if (wrapped.length !== 40 || iv.length !== 12 || tag.length !== 16) throw new JweError('MALFORMED', 'JWE parts have the wrong lengths for A128KW / A256GCM');
  if (passphrase.length === 0) throw new JweError('WRONG_PASSPHRASE', 'empty passphrase');

  const salt = Buffer.concat([Buffer.from(header.alg, 'utf8'), Buffer.from([0]), header.p2s]);
  const kek = crypto.pbkdf2Sync(passphrase, salt, header.p2c, 16, 'sha256');
  let cek: Buffer;
  try {
    const unwrap = crypto.createDecipheriv('id-aes128-wrap', kek, KEY_WRAP_IV);
    cek = Buffer.concat([unwrap.update(wrapped), unwrap.final()]);
  } catch {
    throw new JweError('WRONG_PASSPHRASE', 'the passphrase does not open this key (or the stored value was altered)');
  } finally {
    kek.fill(0);
  }
  try {
    if (cek.length !== 32) throw new JweError('MALFORMED', 'JWE content key has the wrong length');
    const gcm = crypto.createDecipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
    // the AAD is the protected header exactly as encoded in the compact form
    gcm.setAAD(Buffer.from(headerPart, 'ascii'));
    gcm.setAuthTag(tag);
    const body = gcm.update(ciphertext);
    try {
      return Buffer.concat([body, gcm.final()]);
    } catch {
      throw new JweError('WRONG_PASSPHRASE', 'the stored key fails its integrity check (altered data)');
    } finally {
      body.fill(0);
    }
  } finally {
    cek.fill(0);
  }
}

/**
 * The inverse, for tests and for anyone moving keys back to a notary-signer: notary-signer's
 * parameters (p2c 8192, 12-byte p2s, random content key and IV).
 */
export function encryptNotaryJwe(plaintext: Buffer, passphrase: Buffer, iterations = 8192): string {
  const p2s = crypto.randomBytes(12);
  const headerPart = Buffer.from(JSON.stringify({ alg: NOTARY_KEYWRAP_ALG, enc: NOTARY_ENCRYPTION_ALG, p2c: iterations, p2s: p2s.toString('base64url') })).toString('base64url');
  const salt = Buffer.concat([Buffer.from(NOTARY_KEYWRAP_ALG, 'utf8'), Buffer.from([0]), p2s]);
  const kek = crypto.pbkdf2Sync(passphrase, salt, iterations, 16, 'sha256');
  const cek = crypto.randomBytes(32);
  const iv = crypto.randomBytes(12);
  try {
    const wrap = crypto.createCipheriv('id-aes128-wrap', kek, KEY_WRAP_IV);
    const wrapped = Buffer.concat([wrap.update(cek), wrap.final()]);
    const gcm = crypto.createCipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
    gcm.setAAD(Buffer.from(headerPart, 'ascii'));
    const ciphertext = Buffer.concat([gcm.update(plaintext), gcm.final()]);
    return [headerPart, wrapped, iv, ciphertext, gcm.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  } finally {
    kek.fill(0);
    cek.fill(0);
  }
}
