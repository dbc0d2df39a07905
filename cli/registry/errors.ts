/**
 * Errors of the registry client. Each carries a string-literal `code` so that the CLI can map it
 * to an exit code and one clear line without parsing messages.
 */
export type RegistryErrorCode =
  | 'REFERENCE_INVALID' // an image reference that does not parse under Docker's grammar
  | 'NOT_FOUND' // no such repository, tag or manifest in the registry
  | 'UNAUTHORIZED' // the registry (or its token server) refused us
  | 'DIGEST_MISMATCH' // the manifest bytes do not hash to the digest the registry or caller named
  | 'TOO_LARGE' // a response beyond its bound
  | 'MEDIA_TYPE' // a manifest we cannot sign as Docker Content Trust does (schema 1, not a manifest)
  | 'INSECURE' // plain HTTP (or credentials over it) where only TLS is allowed
  | 'TLS' // the registry's certificate is not trusted
  | 'NETWORK' // connection refused, reset, timed out
  | 'PROTOCOL' // the registry answered something the distribution API does not allow
  | 'CREDENTIALS'; // credentials configured wrongly (half-set variables, unreadable docker config)

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  constructor(code: RegistryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'RegistryError';
  }
}

/** Text from a remote party, made safe for one line of output: no control characters, bounded. */
export function printable(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}
