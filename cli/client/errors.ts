/**
 * Errors of the client's update workflow. Each carries a string-literal `code` naming what was
 * refused (so the CLI can map it to an exit code and one line of text) and, where it applies, the
 * role whose metadata was refused.
 */
import { TufError } from '../../tuf';
import { CacheError } from '../cache';
import { RemoteError } from '../remote';
import { PinningError } from './pinning';

export type UpdateErrorCode =
  | 'REPOSITORY_NOT_FOUND' // the server has no trust data for the GUN (and nothing is cached)
  | 'OFFLINE' // the server is unreachable and the cache cannot answer
  | 'PINNING' // the first root does not match the trust pinning, or TOFU is disabled
  | 'ROOT_ROTATION' // a new root is not signed by the trusted root (nor reachable by a chain)
  | 'SIGNATURE' // signatures missing, unknown or below threshold (arbitrary software)
  | 'EXPIRED' // metadata past its expiry (freeze)
  | 'VERSION' // a version lower than the trusted one (rollback)
  | 'HASH' // bytes differ from the hash or length a parent names (mix-and-match)
  | 'TOO_LARGE' // a download above its cap (endless data)
  | 'MISSING' // the server lacks a file the trusted metadata names
  | 'MALFORMED' // not valid metadata
  | 'UNAUTHORIZED' // the server wants (other) credentials: retry with NOTARY_AUTH or a prompt
  | 'REMOTE' // the server or network failed
  | 'CACHE'; // the trust dir's cache cannot be used (a corrupt cached root is fatal)

export class UpdateError extends Error {
  readonly code: UpdateErrorCode;
  /** the role whose metadata was refused, when one was */
  readonly role?: string;
  constructor(code: UpdateErrorCode, message: string, opts: { role?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UpdateError';
    this.code = code;
    this.role = opts.role;
  }
}

/** Classify anything thrown while handling `role` as an UpdateError. */
export function asUpdateError(e: unknown, role?: string): UpdateError {
  if (e instanceof UpdateError) return e;
  const where = role ? `${role}: ` : '';
  if (e instanceof TufError) {
    switch (e.code) {
      case 'SIGNATURE':
      case 'KEY_UNSUPPORTED':
        return new UpdateError('SIGNATURE', where + e.message, { role, cause: e });
      case 'CERTIFICATE':
        return new UpdateError('SIGNATURE', where + e.message, { role, cause: e });
      case 'EXPIRED':
        return new UpdateError('EXPIRED', where + e.message, { role, cause: e });
      case 'VERSION':
        return new UpdateError('VERSION', where + e.message, { role, cause: e });
      case 'HASH':
        return new UpdateError('HASH', where + e.message, { role, cause: e });
      case 'JSON_PARSE':
      case 'JSON_TYPE':
      case 'CANONICAL':
      case 'KEY_INVALID':
      case 'ROLE':
      case 'KEYFILE':
        return new UpdateError('MALFORMED', where + e.message, { role, cause: e });
      default: {
        const never: never = e.code;
        return new UpdateError('MALFORMED', where + String(never), { role, cause: e });
      }
    }
  }
  if (e instanceof RemoteError) {
    switch (e.code) {
      case 'TOO_LARGE':
        return new UpdateError('TOO_LARGE', where + e.message, { role, cause: e });
      case 'OFFLINE':
        return new UpdateError('OFFLINE', where + e.message, { role, cause: e });
      case 'UNAUTHORIZED':
        return new UpdateError('UNAUTHORIZED', where + e.message, { role, cause: e });
      default:
        return new UpdateError('REMOTE', where + e.message, { role, cause: e });
    }
  }
  if (e instanceof PinningError) return new UpdateError('PINNING', where + e.message, { role, cause: e });
  if (e instanceof CacheError) return new UpdateError('CACHE', where + e.message, { role, cause: e });
  return new UpdateError('MALFORMED', where + (e instanceof Error ? e.message : String(e)), { role, cause: e });
}
