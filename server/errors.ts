/**
 * The one table of Notary's error codes (server/errors/errors.go and the distribution codes it
 * uses; spec 1.9): HTTP status and exact message per code, the error classes the service
 * throws, and the envelope every error response carries:
 *
 *   {"errors":[{"code":"...","message":"...","detail":...}]}\n    application/json; charset=utf-8
 */
import type { ServerResponse } from 'node:http';
import { htmlEscape } from '../tuf/canonical';
import { SERVER_LIMITS } from './limits';

export const ERROR_CODES = {
  NO_STORAGE: { status: 500, message: 'The server is misconfigured and has no storage.' },
  NO_FILENAME: { status: 400, message: 'No file/role name provided.' },
  INVALID_ROLE: { status: 400, message: 'The role you are attempting to operate on is invalid.' },
  MALFORMED_JSON: { status: 400, message: 'JSON sent by the client could not be parsed by the server' },
  UPDATING: { status: 500, message: 'An error has occurred while updating the TUF repository.' },
  VERSION: { status: 400, message: 'A newer version of metadata is already available.' },
  METADATA_NOT_FOUND: { status: 404, message: 'You have requested metadata that does not exist.' },
  INVALID_UPDATE: { status: 400, message: 'Update sent by the client is invalid.' },
  MALFORMED_UPLOAD: { status: 400, message: 'The body of your request is malformed.' },
  GENERIC_NOT_FOUND: { status: 404, message: 'You have requested a resource that does not exist.' },
  NO_CRYPTOSERVICE: { status: 500, message: 'The server does not have a signing service configured.' },
  NO_KEYALGORITHM: { status: 500, message: 'The server does not have a key algorithm configured.' },
  INVALID_GUN: { status: 400, message: 'The server does not support actions on images of this name.' },
  INVALID_PARAMETERS: { status: 400, message: 'The parameters provided are not valid.' },
  UNKNOWN: { status: 500, message: 'unknown error' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
} as const;

export type NotaryErrorCode = keyof typeof ERROR_CODES;

/** JSON a detail may hold (plain data only). */
export type Detail = null | boolean | number | string | Detail[] | { [k: string]: Detail };

/**
 * An error the HTTP edge answers with Notary's envelope. `detail` undefined omits the member
 * (Go omits a nil detail); `{}` is sent as `{}`. `message` is for logs, never for the client.
 */
export class ServerError extends Error {
  readonly code: NotaryErrorCode;
  readonly detail: Detail | undefined;
  constructor(code: NotaryErrorCode, detail?: Detail, logMessage?: string, options?: { cause?: unknown }) {
    super(logMessage ?? ERROR_CODES[code].message, options);
    this.name = 'ServerError';
    this.code = code;
    this.detail = detail;
  }
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

/** The five validation error classes of tuf/validation/errors.go, which the Go client decodes. */
export type ValidationErrorName = 'ErrValidation' | 'ErrBadHierarchy' | 'ErrBadRoot' | 'ErrBadTargets' | 'ErrBadSnapshot';

/**
 * A publish that fails validation: 400 INVALID_UPDATE with `{"Name":..,"Error":{..}}` detail.
 * The Go client reads at most 1 KiB of an error body and shows the message only when it can
 * decode it, so the message is cut to keep the whole body under that size.
 */
export class ValidationError extends ServerError {
  readonly validation: ValidationErrorName;
  readonly msg: string;
  constructor(name: ValidationErrorName, msg: string, missing?: string) {
    const m = fitMessage(name, msg, missing);
    const error: { [k: string]: Detail } = missing !== undefined ? { Missing: missing, Msg: m } : { Msg: m };
    super('INVALID_UPDATE', { Name: name, Error: error }, `${name}: ${msg}`);
    this.name = 'ValidationError';
    this.validation = name;
    this.msg = m;
  }
}

/** Cut `msg` (by code points) so the whole validation error body stays within the 1 KiB the client reads. */
function fitMessage(name: ValidationErrorName, msg: string, missing?: string): string {
  const size = (m: string) => {
    const error: Detail = missing !== undefined ? { Missing: missing, Msg: m } : { Msg: m };
    return errorBody('INVALID_UPDATE', { Name: name, Error: error }).length;
  };
  if (size(msg) <= SERVER_LIMITS.maxValidationErrorBytes) return msg;
  const chars = Array.from(msg);
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (size(chars.slice(0, mid).join('') + '...') <= SERVER_LIMITS.maxValidationErrorBytes) lo = mid;
    else hi = mid - 1;
  }
  return chars.slice(0, lo).join('') + '...';
}

/** Notary's envelope for one error, as Go's encoder writes it (HTML-escaped) plus a newline. */
export function errorBody(code: NotaryErrorCode | string, detail?: Detail, message?: string): Buffer {
  const known = (ERROR_CODES as Record<string, { message: string }>)[code];
  const entry: { [k: string]: Detail } = { code, message: message ?? known?.message ?? 'unknown error' };
  if (detail !== undefined) entry.detail = detail;
  return Buffer.from(htmlEscape(JSON.stringify({ errors: [entry] })) + '\n', 'utf8');
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Answer with an error envelope. Never adds cache headers (errors are not cacheable). */
export function sendError(res: ServerResponse, err: ServerError, headers: Record<string, string> = {}): void {
  const body = errorBody(err.code, err.detail);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = err.status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', JSON_CONTENT_TYPE);
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

/** Map anything thrown to a ServerError: ours pass through, the rest is 500 UNKNOWN (detail omitted). */
export function toServerError(e: unknown): ServerError {
  if (e instanceof ServerError) return e;
  return new ServerError('UNKNOWN', undefined, e instanceof Error ? e.message : String(e), { cause: e });
}
