/**
 * Docker registry token authentication, as notary-server does it (spec 6.1; docker/distribution
 * registry/auth/token): a Bearer JWT signed by the token service, whose key is trusted through
 * a root certificate bundle (x5c chain, a bundle key as jwk, or a bundle key's libtrust `kid`).
 *
 * Fail closed: anything unexpected in a token makes it invalid. A token opens only the exact
 * resources (type + name) it lists; `*` as an action grants every action on that resource.
 */
import * as crypto from 'node:crypto';
import { pemDecodeAll } from '../../tuf/keys';
import { SERVER_LIMITS, TOKEN_LEEWAY_MS } from '../limits';

export interface TokenAuthOptions {
  realm: string;
  service: string;
  issuer: string;
  /** PEM text holding the certificates whose keys may sign tokens (or that anchor x5c chains) */
  rootCertBundle: string;
  /** realm becomes https://<request Host>/auth/token */
  autoRedirect?: boolean;
}

/** One access a route needs: `repository:<gun>:<action>` or `registry:catalog:*`. */
export interface Access {
  type: string;
  name: string;
  action: string;
}

export type AuthFailure = 'invalid_token' | 'insufficient_scope' | null;

export type AuthResult = { ok: true; subject: string } | { ok: false; error: AuthFailure; reason: string };

/** A verified token, remembered until it expires. */
interface GrantSet {
  subject: string;
  /** `${type}\0${name}` -> actions */
  access: Map<string, Set<string>>;
  notBeforeMs: number;
  expiresMs: number;
}

const ALGS: Record<string, { hash: string; kind: 'ec' | 'rsa'; curve?: string; sigBytes?: number }> = {
  ES256: { hash: 'sha256', kind: 'ec', curve: 'prime256v1', sigBytes: 64 },
  ES384: { hash: 'sha384', kind: 'ec', curve: 'secp384r1', sigBytes: 96 },
  ES512: { hash: 'sha512', kind: 'ec', curve: 'secp521r1', sigBytes: 132 },
  RS256: { hash: 'sha256', kind: 'rsa' },
  RS384: { hash: 'sha384', kind: 'rsa' },
  RS512: { hash: 'sha512', kind: 'rsa' },
};

class InvalidToken extends Error {}

const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function b64url(s: string, what: string): Buffer {
  if (!B64URL.test(s)) throw new InvalidToken(`${what} is not base64url`);
  return Buffer.from(s.replace(/=+$/, ''), 'base64url');
}

function jsonObject(buf: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch {
    throw new InvalidToken(`${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidToken(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** libtrust's key ID: SHA-256 of the DER SPKI, first 240 bits, base32, groups of four joined by `:`. */
export function libtrustKeyId(key: crypto.KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  const digest = crypto.createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let s = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      s += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return (s.match(/.{1,4}/g) ?? []).join(':');
}

function spkiOf(key: crypto.KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' });
}

/** A header-safe quoted string (Go's %q for what matters here: quotes, backslashes, non-ASCII). */
function quote(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c).replace(/[^\x20-\x7e]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) + '"';
}

export class TokenAuth {
  private readonly roots: crypto.X509Certificate[];
  private readonly rootKeysByKid = new Map<string, crypto.KeyObject>();
  private readonly rootSpkis: Buffer[];
  private readonly verified = new Map<string, GrantSet>();

  constructor(private readonly opts: TokenAuthOptions, private readonly now: () => number = Date.now) {
    for (const k of ['realm', 'service', 'issuer'] as const) {
      if (typeof opts[k] !== 'string' || opts[k].length === 0) throw new Error(`token auth: ${k} is required`);
    }
    const blocks = pemDecodeAll(opts.rootCertBundle, 256).filter((b) => b.type === 'CERTIFICATE');
    this.roots = blocks.map((b) => new crypto.X509Certificate(b.der));
    if (this.roots.length === 0) throw new Error('token auth: the root certificate bundle holds no certificate');
    for (const c of this.roots) this.rootKeysByKid.set(libtrustKeyId(c.publicKey), c.publicKey);
    this.rootSpkis = this.roots.map((c) => spkiOf(c.publicKey));
  }

  /** Check the Authorization header against the accesses a route needs. */
  authorize(authorization: string | undefined, required: Access[]): AuthResult {
    if (authorization === undefined) return { ok: false, error: null, reason: 'no Authorization header' };
    const parts = authorization.split(' ');
    if (parts.length !== 2 || (parts[0] as string).toLowerCase() !== 'bearer') {
      return { ok: false, error: null, reason: 'Authorization is not a Bearer token' };
    }
    const token = parts[1] as string;
    let grants = this.verified.get(token);
    if (!grants) {
      try {
        grants = this.verify(token);
      } catch (e) {
        return { ok: false, error: 'invalid_token', reason: e instanceof InvalidToken ? e.message : 'token could not be verified' };
      }
      if (this.verified.size >= SERVER_LIMITS.tokenCacheEntries) this.verified.clear();
      this.verified.set(token, grants);
    }
    const now = this.now();
    if (now > grants.expiresMs + TOKEN_LEEWAY_MS) {
      this.verified.delete(token);
      return { ok: false, error: 'invalid_token', reason: 'token has expired' };
    }
    if (now < grants.notBeforeMs - TOKEN_LEEWAY_MS) return { ok: false, error: 'invalid_token', reason: 'token is not valid yet' };
    for (const a of required) {
      const actions = grants.access.get(`${a.type}\u0000${a.name}`);
      if (!actions || !(actions.has(a.action) || actions.has('*'))) {
        return { ok: false, error: 'insufficient_scope', reason: `token does not grant ${a.type}:${a.name}:${a.action}` };
      }
    }
    return { ok: true, subject: grants.subject };
  }

  /** The WWW-Authenticate value for a failed check. */
  challenge(required: Access[], error: AuthFailure, host?: string): string {
    const realm = this.opts.autoRedirect && host ? `https://${host}/auth/token` : this.opts.realm;
    let h = `Bearer realm=${quote(realm)},service=${quote(this.opts.service)}`;
    const scopes = new Map<string, string[]>();
    for (const a of required) {
      const k = `${a.type}:${a.name}`;
      scopes.set(k, [...(scopes.get(k) ?? []), a.action]);
    }
    if (scopes.size > 0) h += `,scope=${quote([...scopes].map(([k, actions]) => `${k}:${actions.join(',')}`).join(' '))}`;
    if (error) h += `,error=${quote(error)}`;
    return h;
  }

  private verify(token: string): GrantSet {
    if (token.length > SERVER_LIMITS.maxTokenBytes) throw new InvalidToken('token too large');
    const segments = token.split('.');
    if (segments.length !== 3) throw new InvalidToken('token is not three segments');
    const [h64, c64, s64] = segments as [string, string, string];
    const header = jsonObject(b64url(h64, 'header'), 'header');
    const claims = jsonObject(b64url(c64, 'claims'), 'claims');
    const signature = b64url(s64, 'signature');
    if (signature.length === 0) throw new InvalidToken('token has no signature');

    // claims first, as distribution does: issuer, audience (a single string), times
    if (claims.iss !== this.opts.issuer) throw new InvalidToken('token has the wrong issuer');
    if (typeof claims.aud !== 'string' || claims.aud !== this.opts.service) throw new InvalidToken('token has the wrong audience');
    const exp = typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : 0;
    const nbf = typeof claims.nbf === 'number' && Number.isFinite(claims.nbf) ? claims.nbf * 1000 : 0;
    const now = this.now();
    if (now > exp + TOKEN_LEEWAY_MS) throw new InvalidToken('token has expired');
    if (now < nbf - TOKEN_LEEWAY_MS) throw new InvalidToken('token is not valid yet');

    const alg = typeof header.alg === 'string' ? ALGS[header.alg] : undefined;
    if (!alg) throw new InvalidToken(`unsupported token algorithm ${JSON.stringify(String(header.alg).slice(0, 16))}`);
    const key = this.signingKey(header);
    const details = key.asymmetricKeyDetails;
    if (key.asymmetricKeyType !== alg.kind) throw new InvalidToken('token algorithm does not fit the signing key');
    if (alg.kind === 'ec' && details?.namedCurve !== alg.curve) throw new InvalidToken('token algorithm does not fit the key curve');
    if (alg.kind === 'rsa' && (details?.modulusLength ?? 0) < 2048) throw new InvalidToken('RSA token key shorter than 2048 bits');
    if (alg.sigBytes !== undefined && signature.length !== alg.sigBytes) throw new InvalidToken('ECDSA token signature has the wrong length');
    const input = Buffer.from(`${h64}.${c64}`, 'ascii');
    const ok = alg.kind === 'ec'
      ? crypto.verify(alg.hash, input, { key, dsaEncoding: 'ieee-p1363' }, signature)
      : crypto.verify(alg.hash, input, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
    if (!ok) throw new InvalidToken('token signature does not verify');

    const access = new Map<string, Set<string>>();
    const list = claims.access === undefined || claims.access === null ? [] : claims.access;
    if (!Array.isArray(list) || list.length > 256) throw new InvalidToken('token access is not a list');
    for (const entry of list) {
      if (typeof entry !== 'object' || entry === null) throw new InvalidToken('token access entry is not an object');
      const { type, name, actions } = entry as Record<string, unknown>;
      if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions)) throw new InvalidToken('token access entry is malformed');
      const k = `${type}\u0000${name}`;
      const set = access.get(k) ?? new Set<string>();
      for (const a of actions) if (typeof a === 'string') set.add(a);
      access.set(k, set);
    }
    return { subject: typeof claims.sub === 'string' ? claims.sub : '', access, notBeforeMs: nbf, expiresMs: exp };
  }

  /** The key that signed the token, trusted only through the root bundle. */
  private signingKey(header: Record<string, unknown>): crypto.KeyObject {
    if (header.x5c !== undefined) return this.keyFromChain(header.x5c);
    if (header.jwk !== undefined) {
      let key: crypto.KeyObject;
      try {
        key = crypto.createPublicKey({ key: header.jwk as crypto.JsonWebKey, format: 'jwk' });
      } catch {
        throw new InvalidToken('token jwk is not a public key');
      }
      const spki = spkiOf(key);
      if (!this.rootSpkis.some((r) => r.equals(spki))) throw new InvalidToken('token jwk is not a trusted key');
      return key;
    }
    if (typeof header.kid === 'string') {
      const key = this.rootKeysByKid.get(header.kid);
      if (!key) throw new InvalidToken('token kid names no trusted key');
      return key;
    }
    throw new InvalidToken('token names no signing key (x5c, jwk or kid)');
  }

  /** x5c: standard base64 DER certificates, leaf first, chaining to a bundle certificate. */
  private keyFromChain(x5c: unknown): crypto.KeyObject {
    if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > 8) throw new InvalidToken('token x5c is not a certificate list');
    let chain: crypto.X509Certificate[];
    try {
      chain = x5c.map((c) => {
        if (typeof c !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(c)) throw new Error('bad base64');
        return new crypto.X509Certificate(Buffer.from(c, 'base64'));
      });
    } catch {
      throw new InvalidToken('token x5c holds an unreadable certificate');
    }
    const now = this.now();
    const valid = (c: crypto.X509Certificate) => Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
    const signedBy = (c: crypto.X509Certificate, issuer: crypto.X509Certificate) => {
      try {
        return c.checkIssued(issuer) && c.verify(issuer.publicKey);
      } catch {
        return false;
      }
    };
    for (const c of chain) if (!valid(c)) throw new InvalidToken('a token x5c certificate is outside its validity period');
    for (let i = 0; i + 1 < chain.length; i++) {
      const issuer = chain[i + 1] as crypto.X509Certificate;
      if (!issuer.ca || !signedBy(chain[i] as crypto.X509Certificate, issuer)) throw new InvalidToken('token x5c is not a chain');
    }
    const top = chain[chain.length - 1] as crypto.X509Certificate;
    const anchored = this.roots.some((r) => valid(r) && (r.raw.equals(top.raw) || (r.ca && signedBy(top, r))));
    // a chain of intermediates may also end at a certificate that is itself in the bundle
    const leafTrusted = this.roots.some((r) => r.raw.equals((chain[0] as crypto.X509Certificate).raw));
    if (!anchored && !leafTrusted) throw new InvalidToken('token x5c does not chain to the root bundle');
    return (chain[0] as crypto.X509Certificate).publicKey;
  }
}

/** The UNAUTHORIZED detail: each required access in distribution's field names. */
export function accessDetail(required: Access[]): Array<{ Type: string; Class: string; Name: string; Action: string }> {
  return required.map((a) => ({ Type: a.type, Class: '', Name: a.name, Action: a.action }));
}
