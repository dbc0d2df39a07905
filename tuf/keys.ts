/**
 * Keys, key IDs and signatures (spec 3.1 to 3.3), on node:crypto only.
 *
 * A public key is `{"keytype":T,"keyval":{"private":null,"public":B64}}`. Its TUF key ID is the
 * SHA-256 of that object's canonical JSON; its canonical ID (used for private key files and by the
 * signer) is the TUF ID of the bare public key inside a certificate.
 */
import * as crypto from 'node:crypto';
import { canonicalBytes, JsonObject, JsonValue, isJsonObject } from './canonical';
import { TufError } from './errors';
import { LIMITS } from './limits';

export const KEY_TYPES = ['ed25519', 'ecdsa', 'ecdsa-x509', 'rsa', 'rsa-x509'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** Signature methods we verify; we sign with `ecdsa` and `eddsa` only. */
export type SignatureMethod = 'ecdsa' | 'eddsa' | 'rsapss' | 'rsapkcs1v15';

export function isKeyType(t: string): t is KeyType {
  return (KEY_TYPES as readonly string[]).includes(t);
}

/** A public key as it appears in metadata. Unknown key types parse but never verify. */
export interface PublicKey {
  readonly keytype: string;
  /** keyval.public exactly as written (standard base64) */
  readonly publicB64: string;
  /** the decoded bytes: raw ed25519 key, DER SPKI, or PEM certificate text */
  readonly publicBytes: Buffer;
  /** the TUF key ID */
  readonly id: string;
}

export interface Signature {
  keyid: string;
  method: string;
  sig: string;
}

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 with padding, as Go's []byte encoding writes it; anything else is an error. */
export function decodeBase64Strict(s: string, what: string): Buffer {
  if (!B64_RE.test(s)) throw new TufError('JSON_TYPE', `${what} is not standard padded base64`);
  return Buffer.from(s, 'base64');
}

export function sha256Hex(b: Uint8Array | string): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** The JSON object of a public key, `private` always null. */
export function publicKeyJson(keytype: string, publicB64: string): JsonObject {
  return { keytype, keyval: { private: null, public: publicB64 } };
}

export function computeKeyId(keytype: string, publicB64: string): string {
  return sha256Hex(canonicalBytes(publicKeyJson(keytype, publicB64)));
}

export function makePublicKey(keytype: string, publicBytes: Buffer): PublicKey {
  if (publicBytes.length > LIMITS.maxPublicKeyBytes) throw new TufError('KEY_INVALID', 'public key too large');
  const publicB64 = publicBytes.toString('base64');
  return { keytype, publicB64, publicBytes, id: computeKeyId(keytype, publicB64) };
}

/** Parse a key object from metadata: `{"keytype":..,"keyval":{"public":..,"private":null?}}`. */
export function parsePublicKey(v: JsonValue | undefined): PublicKey {
  if (!isJsonObject(v)) throw new TufError('KEY_INVALID', 'key is not an object');
  const { keytype, keyval } = v;
  if (typeof keytype !== 'string' || keytype.length === 0 || keytype.length > 64) {
    throw new TufError('KEY_INVALID', 'key has no valid keytype');
  }
  if (!isJsonObject(keyval) || typeof keyval.public !== 'string') {
    throw new TufError('KEY_INVALID', 'key has no keyval.public string');
  }
  if (keyval.private !== undefined && keyval.private !== null) {
    throw new TufError('KEY_INVALID', 'public key object carries private material');
  }
  const bytes = decodeBase64Strict(keyval.public, 'keyval.public');
  return makePublicKey(keytype, bytes);
}

// ---------------------------------------------------------------------------------------------
// PEM

/** Go's PEM layout: 64-character lines, `\n` endings, final newline (spec 3.4). */
export function pemEncode(type: string, der: Buffer, headers: Record<string, string> = {}): string {
  const b64 = der.toString('base64');
  const lines: string[] = [`-----BEGIN ${type}-----`];
  const names = Object.keys(headers).sort();
  for (const h of names) lines.push(`${h}: ${headers[h]}`);
  if (names.length > 0) lines.push('');
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  lines.push(`-----END ${type}-----`);
  return lines.join('\n') + '\n';
}

export interface PemBlock {
  type: string;
  headers: Record<string, string>;
  der: Buffer;
}

/** Decode every PEM block in a text; non-PEM text between blocks is ignored, as Go does. */
export function pemDecodeAll(text: string, maxBlocks = 16): PemBlock[] {
  const out: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (out.length >= maxBlocks) throw new TufError('KEY_INVALID', 'too many PEM blocks');
    const type = m[1] as string;
    const body = (m[2] as string).split(/\r?\n/);
    const headers: Record<string, string> = {};
    let i = 0;
    if (body.some((l) => l.includes(':'))) {
      for (; i < body.length; i++) {
        const line = body[i] as string;
        if (line.trim() === '') {
          i++;
          break;
        }
        const colon = line.indexOf(':');
        if (colon < 0) break;
        headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
      }
    }
    const b64 = body.slice(i).join('').replace(/\s+/g, '');
    if (!B64_RE.test(b64)) throw new TufError('KEY_INVALID', `PEM ${type} block is not valid base64`);
    out.push({ type, headers, der: Buffer.from(b64, 'base64') });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// node:crypto key objects and certificates, parsed once and cached by key ID

const keyObjectCache = new Map<string, crypto.KeyObject | null>();
const CACHE_MAX = 4096;

function buildKeyObject(key: PublicKey): crypto.KeyObject | null {
  try {
    switch (key.keytype) {
      case 'ed25519':
        if (key.publicBytes.length !== 32) return null;
        return crypto.createPublicKey({
          key: { kty: 'OKP', crv: 'Ed25519', x: key.publicBytes.toString('base64url') },
          format: 'jwk',
        });
      case 'ecdsa':
      case 'rsa': {
        const k = crypto.createPublicKey({ key: key.publicBytes, format: 'der', type: 'spki' });
        return k.asymmetricKeyType === (key.keytype === 'ecdsa' ? 'ec' : 'rsa') ? k : null;
      }
      case 'ecdsa-x509':
      case 'rsa-x509': {
        const leaf = leafCertificate(key);
        if (!leaf) return null;
        const k = leaf.publicKey;
        return k.asymmetricKeyType === (key.keytype === 'ecdsa-x509' ? 'ec' : 'rsa') ? k : null;
      }
      default:
        return null;
    }
  } catch {
    return null;
  }
}

/** What `build` makes of a key, made once per key ID (the ID covers the key's bytes). */
function perKeyId<T>(cache: Map<string, T>, key: PublicKey, build: (key: PublicKey) => T): T {
  if (cache.has(key.id)) return cache.get(key.id) as T;
  const built = build(key);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(key.id, built);
  return built;
}

/** The node:crypto public key of a metadata key, or null when it is unusable. */
export function keyObject(key: PublicKey): crypto.KeyObject | null {
  return perKeyId(keyObjectCache, key, buildKeyObject);
}

const certificateCache = new Map<string, readonly crypto.X509Certificate[] | null>();

/** The certificates of an x509 key, leaf first; null when the PEM holds none. */
export function keyCertificates(key: PublicKey): readonly crypto.X509Certificate[] | null {
  return perKeyId(certificateCache, key, parseCertificates);
}

function parseCertificates(key: PublicKey): readonly crypto.X509Certificate[] | null {
  const blocks = pemDecodeAll(key.publicBytes.toString('utf8'), LIMITS.maxCertificatesPerKey);
  if (blocks.length === 0 || blocks.some((b) => b.type !== 'CERTIFICATE')) return null;
  try {
    return blocks.map((b) => new crypto.X509Certificate(b.der));
  } catch {
    return null;
  }
}

function leafCertificate(key: PublicKey): crypto.X509Certificate | null {
  const certs = keyCertificates(key);
  return certs?.[0] ?? null;
}

/**
 * The canonical key ID (spec 3.2): for x509 keys, the TUF ID of the bare public key in the leaf
 * certificate; for other keys, the TUF ID itself.
 */
export function canonicalKeyId(key: PublicKey): string {
  if (key.keytype !== 'ecdsa-x509' && key.keytype !== 'rsa-x509') return key.id;
  const obj = keyObject(key);
  if (!obj) throw new TufError('KEY_INVALID', `key ${key.id} holds no usable certificate`);
  const spki = obj.export({ format: 'der', type: 'spki' });
  return computeKeyId(key.keytype === 'ecdsa-x509' ? 'ecdsa' : 'rsa', spki.toString('base64'));
}

/** The methods a key type can verify. */
function methodFits(keytype: string, method: string): boolean {
  switch (method) {
    case 'ecdsa':
      return keytype === 'ecdsa' || keytype === 'ecdsa-x509';
    case 'eddsa':
      return keytype === 'ed25519';
    case 'rsapss':
    case 'rsapkcs1v15':
      return keytype === 'rsa' || keytype === 'rsa-x509';
    default:
      return false;
  }
}

const EC_SIG_BYTES: Record<string, number> = { prime256v1: 64, secp384r1: 96, secp521r1: 132 };

/** Verify one signature over `message`. Never throws for bad input: false means "does not count". */
export function verifySignature(key: PublicKey, method: string, message: Uint8Array, sig: Buffer): boolean {
  const m = method.toLowerCase();
  if (!methodFits(key.keytype, m)) return false;
  const obj = keyObject(key);
  if (!obj) return false;
  try {
    switch (m) {
      case 'ecdsa': {
        // raw r||s, each padded to the curve size; DER is rejected by length (spec 3.3)
        const want = EC_SIG_BYTES[obj.asymmetricKeyDetails?.namedCurve ?? ''];
        if (want === undefined || sig.length !== want) return false;
        return crypto.verify('sha256', message, { key: obj, dsaEncoding: 'ieee-p1363' }, sig);
      }
      case 'eddsa':
        return sig.length === 64 && crypto.verify(null, message, obj, sig);
      case 'rsapss':
      case 'rsapkcs1v15': {
        if ((obj.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return false;
        const padding = m === 'rsapss' ? crypto.constants.RSA_PKCS1_PSS_PADDING : crypto.constants.RSA_PKCS1_PADDING;
        return crypto.verify('sha256', message, { key: obj, padding, saltLength: 32 }, sig);
      }
      default:
        return false;
    }
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Private keys (signing)

export type PrivateKeyType = 'ed25519' | 'ecdsa';

export interface PrivateKey {
  readonly keytype: PrivateKeyType;
  readonly keyObject: crypto.KeyObject;
  /** the public key as metadata lists it (ed25519 or ecdsa; never x509) */
  readonly public: PublicKey;
}

export function privateKeyFromKeyObject(obj: crypto.KeyObject): PrivateKey {
  if (obj.type !== 'private') throw new TufError('KEY_INVALID', 'not a private key');
  const pub = crypto.createPublicKey(obj);
  switch (obj.asymmetricKeyType) {
    case 'ed25519': {
      const jwk = pub.export({ format: 'jwk' });
      const raw = Buffer.from(jwk.x as string, 'base64url');
      return { keytype: 'ed25519', keyObject: obj, public: makePublicKey('ed25519', raw) };
    }
    case 'ec': {
      if (obj.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new TufError('KEY_UNSUPPORTED', 'only P-256 ECDSA keys can sign');
      }
      const spki = pub.export({ format: 'der', type: 'spki' });
      return { keytype: 'ecdsa', keyObject: obj, public: makePublicKey('ecdsa', spki) };
    }
    default:
      throw new TufError('KEY_UNSUPPORTED', `cannot sign with ${obj.asymmetricKeyType ?? 'unknown'} keys`);
  }
}

export function generatePrivateKey(keytype: PrivateKeyType): PrivateKey {
  switch (keytype) {
    case 'ed25519':
      return privateKeyFromKeyObject(crypto.generateKeyPairSync('ed25519').privateKey);
    case 'ecdsa':
      return privateKeyFromKeyObject(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    default: {
      const never: never = keytype;
      throw new TufError('KEY_UNSUPPORTED', `cannot generate ${String(never)} keys`);
    }
  }
}

/** The raw signature bytes and method for `message` (ECDSA: SHA-256, raw r||s). */
export function signRaw(key: PrivateKey, message: Uint8Array): { method: SignatureMethod; sig: Buffer } {
  switch (key.keytype) {
    case 'ed25519':
      return { method: 'eddsa', sig: crypto.sign(null, message, key.keyObject) };
    case 'ecdsa':
      return { method: 'ecdsa', sig: crypto.sign('sha256', message, { key: key.keyObject, dsaEncoding: 'ieee-p1363' }) };
    default: {
      const never: never = key.keytype;
      throw new TufError('KEY_UNSUPPORTED', `cannot sign with ${String(never)}`);
    }
  }
}

/** Sign `message` and name the signature with `keyid` (a certificate ID for root keys). */
export function sign(key: PrivateKey, message: Uint8Array, keyid: string = key.public.id): Signature {
  const { method, sig } = signRaw(key, message);
  return { keyid, method, sig: sig.toString('base64') };
}
