/**
 * Private keys at rest: AES-256-GCM under a key derived with scrypt from the passphrase of an
 * alias. The KDF parameters and salt travel with every sealed value, so a row can always be
 * opened with nothing but its alias's passphrase; the additional authenticated data binds a
 * ciphertext to the row it belongs to, so ciphertexts cannot be swapped between keys.
 */
import * as crypto from 'node:crypto';
import { SignerError } from './errors';
import { KDF_BOUNDS, KDF_DEFAULT } from './limits';

export const ENCRYPTION_ALG = 'A256GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SALT_BYTES = 16;

export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

/** How a value was sealed: everything but the passphrase needed to open it again. */
export interface Sealed {
  alias: string;
  /** `scrypt:N=131072,r=8,p=1` */
  kdf: string;
  kdfSalt: Buffer;
  nonce: Buffer;
  /** ciphertext followed by the 16-byte GCM tag */
  sealed: Buffer;
}

export function formatKdf(p: KdfParams): string {
  return `scrypt:N=${p.N},r=${p.r},p=${p.p}`;
}

/** Parse stored KDF parameters, refusing anything outside KDF_BOUNDS. */
export function parseKdf(kdf: string): KdfParams {
  const m = /^scrypt:N=(\d{1,8}),r=(\d{1,3}),p=(\d{1,3})$/.exec(kdf);
  if (!m) throw new SignerError('INTEGRITY', 'stored key derivation parameters are not recognised');
  const p = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  const powerOfTwo = (p.N & (p.N - 1)) === 0;
  if (
    !powerOfTwo ||
    p.N < KDF_BOUNDS.minN ||
    p.N > KDF_BOUNDS.maxN ||
    p.r < 1 ||
    p.r > KDF_BOUNDS.maxR ||
    p.p < 1 ||
    p.p > KDF_BOUNDS.maxP ||
    128 * p.N * p.r > KDF_BOUNDS.maxMemBytes
  ) {
    throw new SignerError('INTEGRITY', `stored key derivation parameters ${kdf} are outside the accepted bounds`);
  }
  return p;
}

/** The environment variables that may hold an alias's passphrase, in lookup order. */
export function passphraseVariables(alias: string): string[] {
  const suffix = alias.toUpperCase().replace(/\./g, '_');
  return [`NOTARY_SIGNER_${suffix}`, `VOUCH_SIGNER_${suffix}`];
}

export const ALIAS_RE = /^[A-Za-z0-9_.]{1,64}$/;

/**
 * Passphrases by alias, and the keys derived from them. Derivations are cached (as promises, so
 * concurrent requests share one scrypt run): the process needs the passphrase for its whole
 * life anyway, and scrypt is deliberately slow.
 */
export class Keyring {
  private readonly passphrases: Map<string, Buffer>;
  private readonly derived = new Map<string, Promise<Buffer>>();
  /** salt for values sealed now, per alias (set from the alias's check record) */
  private readonly currentSalt = new Map<string, { kdf: string; salt: Buffer }>();

  /** `env`: the variables to look passphrases up in (main.ts passes a snapshot of process.env). */
  constructor(env: Record<string, string | undefined>) {
    this.passphrases = new Map();
    for (const [name, value] of Object.entries(env)) {
      if (value !== undefined && (name.startsWith('NOTARY_SIGNER_') || name.startsWith('VOUCH_SIGNER_'))) {
        this.passphrases.set(name, Buffer.from(value, 'utf8'));
      }
    }
  }

  hasPassphrase(alias: string): boolean {
    return this.passphrase(alias) !== null;
  }

  private passphrase(alias: string): Buffer | null {
    for (const v of passphraseVariables(alias)) {
      const p = this.passphrases.get(v);
      if (p && p.length > 0) return p;
    }
    return null;
  }

  /** Fresh KDF parameters and salt for an alias that has none yet. */
  static newKdf(): { kdf: string; salt: Buffer } {
    return { kdf: formatKdf(KDF_DEFAULT), salt: crypto.randomBytes(SALT_BYTES) };
  }

  /** Use this KDF and salt for values sealed from now on under `alias`. */
  setCurrentKdf(alias: string, kdf: string, salt: Buffer): void {
    this.currentSalt.set(alias, { kdf, salt: Buffer.from(salt) });
  }

  private deriveKey(alias: string, kdf: string, salt: Buffer): Promise<Buffer> {
    const cacheKey = `${alias}\u0000${kdf}\u0000${salt.toString('hex')}`;
    const hit = this.derived.get(cacheKey);
    if (hit) return hit;
    const passphrase = this.passphrase(alias);
    if (!passphrase) {
      return Promise.reject(
        new SignerError('PASSPHRASE', `no passphrase for alias "${alias}": set ${passphraseVariables(alias).join(' or ')}`),
      );
    }
    let params: KdfParams;
    try {
      params = parseKdf(kdf);
    } catch (e) {
      return Promise.reject(e);
    }
    const p = new Promise<Buffer>((resolve, reject) => {
      crypto.scrypt(passphrase, salt, 32, { N: params.N, r: params.r, p: params.p, maxmem: 128 * params.N * params.r + 16 * 1024 * 1024 }, (err, key) =>
        err ? reject(new SignerError('PASSPHRASE', `key derivation failed: ${err.message}`)) : resolve(key),
      );
    });
    this.derived.set(cacheKey, p);
    p.catch(() => this.derived.delete(cacheKey));
    return p;
  }

  /** Seal `plaintext` under `alias`, bound to `aad`. */
  async seal(alias: string, plaintext: Buffer, aad: Buffer): Promise<Sealed> {
    const current = this.currentSalt.get(alias);
    if (!current) throw new SignerError('PASSPHRASE', `alias "${alias}" has not been verified`);
    const key = await this.deriveKey(alias, current.kdf, current.salt);
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { alias, kdf: current.kdf, kdfSalt: Buffer.from(current.salt), nonce, sealed };
  }

  /**
   * Open a sealed value. A failed authentication means a wrong passphrase or tampered data;
   * both stop the caller (PASSPHRASE), and neither says more than that.
   */
  async open(s: Sealed, aad: Buffer): Promise<Buffer> {
    if (s.nonce.length !== NONCE_BYTES || s.sealed.length < TAG_BYTES) {
      throw new SignerError('INTEGRITY', 'stored ciphertext is malformed');
    }
    const key = await this.deriveKey(s.alias, s.kdf, s.kdfSalt);
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, s.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(s.sealed.subarray(s.sealed.length - TAG_BYTES));
    const body = decipher.update(s.sealed.subarray(0, s.sealed.length - TAG_BYTES));
    try {
      return Buffer.concat([body, decipher.final()]);
    } catch {
      body.fill(0);
      throw new SignerError(
        'PASSPHRASE',
        `wrong passphrase for alias "${s.alias}" (${passphraseVariables(s.alias)[0]}): it does not open the stored keys, or the database was altered`,
      );
    }
  }
}
