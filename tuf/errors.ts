/**
 * Typed errors of the TUF core. Every error carries a string-literal `code` so that callers
 * (server, CLI) can map it to a status or exit code without parsing messages.
 */
export type TufErrorCode =
  | 'JSON_PARSE' // not JSON, truncated, duplicate keys, too deep, too big
  | 'JSON_TYPE' // JSON, but not the shape a document needs
  | 'CANONICAL' // value cannot be written in canonical form (floats, bad unicode)
  | 'KEY_INVALID' // a key object that cannot be parsed or used
  | 'KEY_UNSUPPORTED' // a key type we cannot verify with
  | 'SIGNATURE' // signatures missing or below threshold
  | 'CERTIFICATE' // root certificate rules (3.4)
  | 'EXPIRED' // metadata past its expiry
  | 'VERSION' // rollback or bad version
  | 'HASH' // hash or length mismatch
  | 'ROLE' // invalid role name
  | 'KEYFILE'; // private key file decode / decrypt

export class TufError extends Error {
  readonly code: TufErrorCode;
  constructor(code: TufErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'TufError';
  }
}
