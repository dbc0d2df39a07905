/**
 * The contract between the metadata server and whatever holds its online keys. The shipped
 * implementation is the gRPC client of signer/client.ts (talking to vouch-signer or a real
 * notary-signer over mutual TLS); tests may use the in-process LocalKeyService.
 */
import { PublicKey } from '../tuf/keys';

export type OnlineRole = 'timestamp' | 'snapshot';
export type KeyAlgorithm = 'ecdsa' | 'ed25519';

export interface KeyInfo {
  key: PublicKey;
  /** the role the key was created for */
  role: string;
  gun: string;
}

/** Thrown by `sign` when the key holder does not hold the key (NOT_FOUND from a signer). */
export class KeyNotHeldError extends Error {
  readonly code = 'KEY_NOT_HELD' as const;
  constructor(readonly keyId: string) {
    super(`the key service holds no key ${keyId}`);
    this.name = 'KeyNotHeldError';
  }
}

export interface KeyService {
  /** a new (or the still-unused pending) key for gun/role, made inside the key holder */
  createKey(gun: string, role: OnlineRole, algorithm: KeyAlgorithm): Promise<PublicKey>;
  /** the public key with this ID, or null when the holder does not have it */
  getKeyInfo(keyId: string): Promise<KeyInfo | null>;
  /**
   * raw signature over the whole canonical message (ECDSA: SHA-256, r||s; Ed25519: 64 bytes);
   * KeyNotHeldError when the holder has no such key. The holder is not trusted: the caller
   * verifies the signature against the key root names before using it.
   */
  sign(keyId: string, message: Buffer): Promise<Buffer>;
  /** remove every key held for a GUN (on DELETE of the repository); best effort on peers that cannot */
  deleteGunKeys(gun: string): Promise<void>;
  /** throws when the key holder is not operational */
  health(): Promise<void>;
  close(): Promise<void>;
}
