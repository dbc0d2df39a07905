/**
 * The key store's rows as both drivers return them (same tables, same columns), mapped to the
 * store's types. The drivers differ only in how a timestamp comes back, hence `toDate`.
 */
import { AliasCheck, KeyRow, StoredAlgorithm } from './types';

/** A vouch_signer_keys row; `T` is the driver's timestamp type. */
export interface KeyDbRow<T> {
  key_id: string;
  algorithm: string;
  gun: string;
  role: string;
  public: Buffer;
  passphrase_alias: string;
  kdf: string;
  kdf_salt: Buffer;
  nonce: Buffer;
  private: Buffer;
  created_at: T;
  last_used: T | null;
}

/** A vouch_signer_aliases row; `T` is the driver's timestamp type. */
export interface CheckDbRow<T> {
  alias: string;
  kdf: string;
  kdf_salt: Buffer;
  nonce: Buffer;
  sealed: Buffer;
  created_at: T;
}

export function toKeyRow<T>(r: KeyDbRow<T>, toDate: (v: T) => Date): KeyRow {
  return {
    keyId: r.key_id,
    algorithm: r.algorithm as StoredAlgorithm,
    gun: r.gun,
    role: r.role,
    public: r.public,
    alias: r.passphrase_alias,
    kdf: r.kdf,
    kdfSalt: r.kdf_salt,
    nonce: r.nonce,
    sealed: r.private,
    createdAt: toDate(r.created_at),
    lastUsed: r.last_used === null ? null : toDate(r.last_used),
  };
}

export function toCheck<T>(r: CheckDbRow<T>, toDate: (v: T) => Date): AliasCheck {
  return { alias: r.alias, kdf: r.kdf, kdfSalt: r.kdf_salt, nonce: r.nonce, sealed: r.sealed, createdAt: toDate(r.created_at) };
}
