/**
 * Where the signer keeps its keys: one row per key, the private part sealed (sealing.ts), plus
 * one check record per passphrase alias so a wrong passphrase is caught at start. Two backends
 * (sqlite.ts, postgres.ts) implement this; they store bytes and know nothing about crypto.
 */
import { Sealed } from '../sealing';

export type StoredAlgorithm = 'ecdsa' | 'ed25519';

export interface KeyRow extends Sealed {
  keyId: string;
  algorithm: StoredAlgorithm;
  gun: string;
  role: string;
  /** raw public key bytes (DER SPKI for ecdsa, 32 bytes for ed25519) */
  public: Buffer;
  createdAt: Date;
  /** null until the key first signs (Notary's pending-key rule) */
  lastUsed: Date | null;
}

/** A known value sealed under an alias: opening it proves the passphrase. */
export interface AliasCheck extends Sealed {
  createdAt: Date;
}

/** New encryption for an existing key (alias rotation). */
export interface Reseal extends Sealed {
  keyId: string;
}

export interface KeyStore {
  /** create the tables when absent */
  init(): Promise<void>;
  /** throws when the database cannot answer */
  ping(): Promise<void>;
  insertKey(row: KeyRow): Promise<void>;
  getKey(keyId: string): Promise<KeyRow | null>;
  /** the unused key of gun/role/algorithm with the lowest key ID */
  findPendingKey(gun: string, role: string, algorithm: StoredAlgorithm): Promise<KeyRow | null>;
  /** set last_used when it is still null */
  markUsed(keyId: string, at: Date): Promise<void>;
  /** true when a row was removed */
  deleteKey(keyId: string): Promise<boolean>;
  /** the IDs of the removed keys */
  deleteGunKeys(gun: string): Promise<string[]>;
  /** aliases that seal at least one key */
  aliasesInUse(): Promise<string[]>;
  /** one key sealed under `alias` (to check a passphrase when the alias has no check record) */
  anyKeyOfAlias(alias: string): Promise<KeyRow | null>;
  getAliasCheck(alias: string): Promise<AliasCheck | null>;
  /** store a check record unless the alias already has one */
  putAliasCheck(check: AliasCheck): Promise<void>;
  /** every key, in key ID order */
  listKeys(): Promise<KeyRow[]>;
  /**
   * In one transaction: re-seal the given keys, store `check` for the new alias and drop the
   * check records of `dropAliases`.
   */
  reseal(updates: Reseal[], check: AliasCheck, dropAliases: string[]): Promise<void>;
  close(): Promise<void>;
}
