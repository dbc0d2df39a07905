/**
 * notary-signer's `private_keys` rows (spec 4.4) and how to open them: decrypt the JWE with the
 * alias's passphrase, read the plaintext in Notary's form for the algorithm, and check that the
 * private key is the one the row's public key and key ID name. Nothing here logs key material.
 */
import * as crypto from 'node:crypto';
import { PrivateKey, privateKeyFromKeyObject } from '../../tuf/keys';
import { decryptNotaryJwe, JweError, NOTARY_ENCRYPTION_ALG, NOTARY_KEYWRAP_ALG } from './jwe';

/** One row of notary-signer's private_keys table (deleted rows excluded). */
export interface NotaryKeyRow {
  keyId: string;
  gun: string;
  role: string;
  /** `ecdsa` or `ed25519` (the only kinds notary-signer creates) */
  algorithm: string;
  encryptionAlg: string;
  keywrapAlg: string;
  passphraseAlias: string;
  /** raw public key bytes: DER SPKI (ecdsa), 32 bytes (ed25519) */
  public: Buffer;
  /** the compact JWE */
  privateJwe: string;
  createdAt: Date | null;
  /** null: never signed (a pending key); undefined: not known (an export without the column) */
  lastUsed: Date | null | undefined;
}

export class KeyImportError extends Error {
  constructor(
    readonly keyId: string,
    message: string,
  ) {
    super(`key ${keyId}: ${message}`);
    this.name = 'KeyImportError';
  }
}

/** PKCS#8 prefix of an Ed25519 private key (RFC 8410), followed by the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The private key from the decrypted plaintext. ECDSA: SEC1 DER (`EC PRIVATE KEY`). Ed25519:
 * Notary's 96 bytes, public(32) || Go private key(64) where the Go private key is seed || public.
 */
function keyFromPlaintext(row: NotaryKeyRow, plain: Buffer): PrivateKey {
  switch (row.algorithm) {
    case 'ecdsa':
      return privateKeyFromKeyObject(crypto.createPrivateKey({ key: plain, format: 'der', type: 'sec1' }));
    case 'ed25519': {
      if (plain.length !== 96) throw new KeyImportError(row.keyId, `an ed25519 key must decrypt to 96 bytes, not ${plain.length}`);
      const pub = plain.subarray(0, 32);
      // the Go private key repeats the public key after the seed: both copies must agree
      if (!pub.equals(plain.subarray(64, 96))) throw new KeyImportError(row.keyId, 'the ed25519 key is inconsistent (its two public halves differ)');
      const pkcs8 = Buffer.concat([ED25519_PKCS8_PREFIX, plain.subarray(32, 64)]);
      try {
        return privateKeyFromKeyObject(crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
      } finally {
        pkcs8.fill(0);
      }
    }
    default:
      throw new KeyImportError(row.keyId, `algorithm ${JSON.stringify(row.algorithm.slice(0, 40))} is not one notary-signer creates (ecdsa, ed25519)`);
  }
}

/**
 * Decrypt and check one row. Fails closed: an unknown cipher, a wrong passphrase, or a private
 * key that does not match the row's public key or key ID is an error, never a skipped row.
 */
export function openNotaryKey(row: NotaryKeyRow, passphrase: Buffer): PrivateKey {
  if (row.encryptionAlg !== NOTARY_ENCRYPTION_ALG || row.keywrapAlg !== NOTARY_KEYWRAP_ALG) {
    throw new KeyImportError(row.keyId, `encrypted with ${row.keywrapAlg}/${row.encryptionAlg}, not ${NOTARY_KEYWRAP_ALG}/${NOTARY_ENCRYPTION_ALG}`);
  }
  let plain: Buffer;
  try {
    plain = decryptNotaryJwe(row.privateJwe, passphrase);
  } catch (e) {
    if (e instanceof JweError && e.reason === 'WRONG_PASSPHRASE') {
      throw new KeyImportError(row.keyId, `the passphrase of alias "${row.passphraseAlias}" does not open it (wrong passphrase, or the row was altered)`);
    }
    throw new KeyImportError(row.keyId, (e as Error).message);
  }
  let key: PrivateKey;
  try {
    key = keyFromPlaintext(row, plain);
  } catch (e) {
    if (e instanceof KeyImportError) throw e;
    throw new KeyImportError(row.keyId, `the decrypted value is not a usable ${row.algorithm} private key`);
  } finally {
    plain.fill(0);
  }
  if (key.keytype !== row.algorithm) throw new KeyImportError(row.keyId, `holds a ${key.keytype} key, the row says ${row.algorithm}`);
  if (!key.public.publicBytes.equals(row.public)) throw new KeyImportError(row.keyId, 'the private key does not match the stored public key');
  if (key.public.id !== row.keyId) throw new KeyImportError(row.keyId, `the key's ID is ${key.public.id}`);
  return key;
}
