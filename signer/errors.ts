/**
 * Typed errors of the signer. The gRPC layer maps each code to a status (server.ts); the
 * command line maps them to exit codes (main.ts). Messages never carry key material or
 * passphrases.
 */
export type SignerErrorCode =
  | 'CONFIG' // the configuration file is missing, unreadable or invalid
  | 'PASSPHRASE' // a passphrase is missing or does not open the stored keys
  | 'STORAGE' // the key database failed
  | 'INTEGRITY' // a stored key does not decrypt or does not match its public key
  | 'KEY_NOT_FOUND' // no key with this ID
  | 'UNSUPPORTED_ALGORITHM' // CreateKey with an algorithm other than ecdsa/ed25519
  | 'INVALID_ARGUMENT' // a request field out of bounds
  | 'REMOTE' // (client) the signer answered with an error
  | 'UNAVAILABLE' // (client) the signer cannot be reached or refused the TLS handshake
  | 'BAD_RESPONSE'; // (client) the signer's answer does not check out

export class SignerError extends Error {
  readonly code: SignerErrorCode;
  constructor(code: SignerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SignerError';
  }
}
