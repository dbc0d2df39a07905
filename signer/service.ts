/**
 * The signing service: keys are made, sealed, opened and used here, between the key store and
 * the gRPC API. Private keys leave this module only as node:crypto KeyObjects held in a bounded
 * cache; nothing here logs or returns private material.
 */
import * as crypto from 'node:crypto';
import { generatePrivateKey, makePublicKey, PrivateKey, privateKeyFromKeyObject, PublicKey, signRaw, SignatureMethod } from '../tuf/keys';
import { isValidRole } from '../tuf/roles';
import { KeyAlgorithm } from './api';
import { SignerError } from './errors';
import { SIGNER_LIMITS } from './limits';
import { Keyring, passphraseVariables, Sealed } from './sealing';
import { KeyRow, KeyStore, Reseal } from './store/types';

export const SUPPORTED_ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa', 'ed25519'];

export function isSupportedAlgorithm(a: string): a is KeyAlgorithm {
  return (SUPPORTED_ALGORITHMS as readonly string[]).includes(a);
}

const KEY_ID_RE = /^[0-9a-f]{64}$/;
const CHECK_PLAINTEXT = Buffer.from('vouch-signer passphrase check v1');

/** Binds a check record's ciphertext to its alias. */
function checkAad(alias: string): Buffer {
  return Buffer.from(`vouch-signer check v1\u0000${alias}`);
}

/** Binds a key's ciphertext to its row: ID, algorithm, GUN, role and alias. */
export function keyAad(r: { keyId: string; algorithm: string; gun: string; role: string; alias: string }): Buffer {
  return Buffer.from(['vouch-signer key v1', r.keyId, r.algorithm, r.gun, r.role, r.alias].join('\u0000'));
}

/** Names a GUN or role may take: non-empty, bounded, no control characters. */
function checkName(what: string, v: string): void {
  if (v.length === 0 || Buffer.byteLength(v) > SIGNER_LIMITS.maxNameBytes || /[\u0000-\u001f\u007f]/.test(v)) {
    throw new SignerError('INVALID_ARGUMENT', `invalid ${what}`);
  }
}

export interface KeyDescription {
  key: PublicKey;
  role: string;
  gun: string;
}

export interface MadeSignature {
  key: PublicKey;
  method: SignatureMethod;
  sig: Buffer;
}

interface CachedKey {
  key: PrivateKey;
  /** the nonce of the sealed value it was opened from: a re-sealed row is opened again */
  nonce: Buffer;
}

export interface SigningServiceOptions {
  defaultAlias: string;
  cacheEntries?: number;
  /** for warnings about stored keys that fail to open; never given key material */
  onWarning?: (msg: string) => void;
}

export class SigningService {
  private readonly cache = new Map<string, CachedKey>();
  private readonly cacheEntries: number;
  /** serialises CreateKey so two concurrent calls cannot both miss the same pending key */
  private createQueue: Promise<unknown> = Promise.resolve();
  private verified = false;

  constructor(
    private readonly store: KeyStore,
    private readonly keyring: Keyring,
    private readonly opts: SigningServiceOptions,
  ) {
    this.cacheEntries = opts.cacheEntries ?? SIGNER_LIMITS.keyCacheEntries;
  }

  get defaultAlias(): string {
    return this.opts.defaultAlias;
  }

  /**
   * Check, before serving anything, that every alias the store uses (and the default alias) has
   * a passphrase and that it opens that alias's check record (or, lacking one, a stored key).
   * A missing or wrong passphrase is a PASSPHRASE error that names the alias and the variable,
   * never the passphrase.
   */
  async verifyPassphrases(): Promise<void> {
    const aliases = new Set(await this.store.aliasesInUse());
    aliases.add(this.opts.defaultAlias);
    for (const alias of [...aliases].sort()) await this.verifyAlias(alias);
    this.verified = true;
  }

  private async verifyAlias(alias: string): Promise<void> {
    if (!this.keyring.hasPassphrase(alias)) {
      throw new SignerError('PASSPHRASE', `no passphrase for alias "${alias}": set ${passphraseVariables(alias).join(' or ')}`);
    }
    const check = await this.store.getAliasCheck(alias);
    if (check) {
      await this.keyring.open(check, checkAad(alias));
      this.keyring.setCurrentKdf(alias, check.kdf, check.kdfSalt);
    }
    // the check record alone could be stale or replaced: the passphrase must open a real key too
    const sample = await this.store.anyKeyOfAlias(alias);
    if (sample) (await this.keyring.open(sample, keyAad(sample))).fill(0);
    if (check) return;

    // no check record yet: a new alias, or keys sealed before check records existed
    if (sample) {
      this.keyring.setCurrentKdf(alias, sample.kdf, sample.kdfSalt);
    } else {
      const fresh = Keyring.newKdf();
      this.keyring.setCurrentKdf(alias, fresh.kdf, fresh.salt);
    }
    const sealed = await this.keyring.seal(alias, CHECK_PLAINTEXT, checkAad(alias));
    await this.store.putAliasCheck({ ...sealed, createdAt: new Date() });
    // another signer on the same database may have written its record first: use what is stored
    const stored = await this.store.getAliasCheck(alias);
    if (!stored) throw new SignerError('STORAGE', `the check record of alias "${alias}" was not stored`);
    await this.keyring.open(stored, checkAad(alias));
    this.keyring.setCurrentKdf(alias, stored.kdf, stored.kdfSalt);
  }

  private requireVerified(): void {
    if (!this.verified) throw new SignerError('PASSPHRASE', 'passphrases have not been verified');
  }

  /**
   * A key for gun/role. Notary's pending-key rule: the still-unused key of the same gun, role and
   * algorithm (lowest key ID) is returned instead of a new one, so repeated `GET timestamp.key`
   * calls before the first publish all name the same key.
   */
  createKey(gun: string, role: string, algorithm: string): Promise<PublicKey> {
    const run = this.createQueue.then(() => this.createKeyNow(gun, role, algorithm));
    this.createQueue = run.catch(() => undefined);
    return run;
  }

  private async createKeyNow(gun: string, role: string, algorithm: string): Promise<PublicKey> {
    this.requireVerified();
    if (!isSupportedAlgorithm(algorithm)) {
      const shown = algorithm.length > SIGNER_LIMITS.maxEchoChars ? `${algorithm.slice(0, SIGNER_LIMITS.maxEchoChars)}...` : algorithm;
      throw new SignerError('UNSUPPORTED_ALGORITHM', `algorithm ${shown} not supported for create key`);
    }
    checkName('gun', gun);
    checkName('role', role);
    if (!isValidRole(role)) throw new SignerError('INVALID_ARGUMENT', 'invalid role');

    const pending = await this.store.findPendingKey(gun, role, algorithm);
    if (pending) return makePublicKey(pending.algorithm, pending.public);

    const key = generatePrivateKey(algorithm);
    const der = key.keyObject.export({ format: 'der', type: 'pkcs8' });
    const ids = { keyId: key.public.id, algorithm, gun, role, alias: this.opts.defaultAlias };
    let sealed: Sealed;
    try {
      sealed = await this.keyring.seal(this.opts.defaultAlias, der, keyAad(ids));
    } finally {
      der.fill(0);
    }
    await this.store.insertKey({ ...ids, ...sealed, public: key.public.publicBytes, createdAt: new Date(), lastUsed: null });
    this.remember(key.public.id, { key, nonce: Buffer.from(sealed.nonce) });
    return key.public;
  }

  async getKeyInfo(keyId: string): Promise<KeyDescription | null> {
    if (!KEY_ID_RE.test(keyId)) return null;
    const row = await this.store.getKey(keyId);
    if (!row) return null;
    return { key: makePublicKey(row.algorithm, row.public), role: row.role, gun: row.gun };
  }

  /** Sign the whole message (ECDSA: SHA-256, raw r||s; Ed25519: pure). */
  async sign(keyId: string, message: Buffer): Promise<MadeSignature> {
    this.requireVerified();
    if (!KEY_ID_RE.test(keyId)) throw new SignerError('KEY_NOT_FOUND', `key ${keyId.slice(0, 64)} not found`);
    // the row is read on every call: a key deleted (by this or another signer) stops signing at once
    const row = await this.store.getKey(keyId);
    if (!row) throw new SignerError('KEY_NOT_FOUND', `key ${keyId} not found`);
    const key = await this.openKey(row);
    // the pending-key rule counts a key as used once it has signed: record that first
    if (row.lastUsed === null) await this.store.markUsed(keyId, new Date());
    const { method, sig } = signRaw(key, message);
    return { key: key.public, method, sig };
  }

  async deleteKey(keyId: string): Promise<void> {
    this.cache.delete(keyId);
    if (KEY_ID_RE.test(keyId)) await this.store.deleteKey(keyId);
  }

  /** Remove every key of a GUN; returns how many were removed. */
  async deleteGunKeys(gun: string): Promise<number> {
    checkName('gun', gun);
    const ids = await this.store.deleteGunKeys(gun);
    for (const id of ids) this.cache.delete(id);
    return ids.length;
  }

  async health(): Promise<void> {
    this.requireVerified();
    await this.store.ping();
  }

  /**
   * Re-seal every key under `toAlias` and forget the other aliases' check records, so that only
   * the new alias's passphrase is needed afterwards. One transaction: on failure nothing changes.
   */
  async rotateAlias(toAlias: string): Promise<{ resealed: number; dropped: string[] }> {
    this.requireVerified();
    await this.verifyAlias(toAlias);
    const rows = await this.store.listKeys();
    const updates: Reseal[] = [];
    for (const row of rows) {
      if (row.alias === toAlias) continue;
      const plain = await this.keyring.open(row, keyAad(row));
      try {
        const sealed = await this.keyring.seal(toAlias, plain, keyAad({ ...row, alias: toAlias }));
        updates.push({ keyId: row.keyId, ...sealed });
      } finally {
        plain.fill(0);
      }
    }
    const check = await this.store.getAliasCheck(toAlias);
    if (!check) throw new SignerError('STORAGE', `alias "${toAlias}" has no check record`);
    const dropped = [...new Set(rows.map((r) => r.alias))].filter((a) => a !== toAlias);
    if (this.opts.defaultAlias !== toAlias && !dropped.includes(this.opts.defaultAlias)) dropped.push(this.opts.defaultAlias);
    await this.store.reseal(updates, check, dropped);
    this.cache.clear();
    return { resealed: updates.length, dropped: dropped.sort() };
  }

  private async openKey(row: KeyRow): Promise<PrivateKey> {
    const hit = this.cache.get(row.keyId);
    if (hit && hit.nonce.equals(row.nonce)) {
      // least recently used goes first: move to the back
      this.cache.delete(row.keyId);
      this.cache.set(row.keyId, hit);
      return hit.key;
    }
    let plain: Buffer;
    try {
      plain = await this.keyring.open(row, keyAad(row));
    } catch (e) {
      this.opts.onWarning?.(`stored key ${row.keyId} could not be opened: ${(e as Error).message}`);
      throw new SignerError('INTEGRITY', `key ${row.keyId} could not be opened`, { cause: e });
    }
    let key: PrivateKey;
    try {
      key = privateKeyFromKeyObject(crypto.createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' }));
    } catch (e) {
      throw new SignerError('INTEGRITY', `key ${row.keyId} holds no usable private key`, { cause: e });
    } finally {
      plain.fill(0);
    }
    // the private key must be the one the row (and every metadata file) names
    if (key.keytype !== row.algorithm || key.public.id !== row.keyId || !key.public.publicBytes.equals(row.public)) {
      throw new SignerError('INTEGRITY', `key ${row.keyId} does not match its public key`);
    }
    this.remember(row.keyId, { key, nonce: Buffer.from(row.nonce) });
    return key;
  }

  private remember(keyId: string, entry: CachedKey): void {
    this.cache.delete(keyId);
    if (this.cache.size >= this.cacheEntries) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(keyId, entry);
  }

  /** number of decrypted keys held (for tests of the cache bound) */
  get cachedKeys(): number {
    return this.cache.size;
  }
}
