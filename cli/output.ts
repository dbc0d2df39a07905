/**
 * What the CLI shows: documented exit codes, one clear line of error text (a stack only with
 * --debug), notary-style tables, `--output json` documents, and progress on long operations.
 *
 * Exit codes (also in docs/cli.md):
 *   0  ok
 *   1  error (anything not listed below)
 *   2  usage: bad arguments, flags or input files
 *   3  verification failed / not trusted (signatures, hashes, expiry, rollback, pinning, digest
 *      mismatch in `vouch verify`)
 *   4  not found (no such repository, target, role or key)
 *   5  network or server error (unreachable, 5xx, rejected upload)
 *   6  keys: a signing key or its passphrase is not available
 */
import { TufError } from '../tuf/errors';
import { RemoteError } from './remote';
import { CacheError } from './cache';
import { UpdateError } from './client/errors';
import { PinningError } from './client/pinning';
import { TargetError } from './client/targets';

export const EXIT = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  UNTRUSTED: 3,
  NOT_FOUND: 4,
  NETWORK: 5,
  KEYS: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export type CliErrorCode = 'ERROR' | 'USAGE' | 'UNTRUSTED' | 'NOT_FOUND' | 'NETWORK' | 'KEYS';

const EXIT_OF: Record<CliErrorCode, ExitCode> = {
  ERROR: EXIT.ERROR,
  USAGE: EXIT.USAGE,
  UNTRUSTED: EXIT.UNTRUSTED,
  NOT_FOUND: EXIT.NOT_FOUND,
  NETWORK: EXIT.NETWORK,
  KEYS: EXIT.KEYS,
};

/** An error the CLI reports as one line, with a documented exit code. */
export class CliError extends Error {
  readonly code: CliErrorCode;
  /** extra machine-readable facts for `--output json` (never secrets) */
  readonly detail?: Record<string, unknown>;
  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.name = 'CliError';
    if (options?.detail) this.detail = options.detail;
  }
  get exitCode(): ExitCode {
    return EXIT_OF[this.code];
  }
}

/** Map a TUF core error to the CLI's classes. */
function tufErrorClass(e: TufError): CliErrorCode {
  switch (e.code) {
    case 'SIGNATURE':
    case 'CERTIFICATE':
    case 'EXPIRED':
    case 'VERSION':
    case 'HASH':
    case 'JSON_PARSE':
    case 'JSON_TYPE':
    case 'CANONICAL':
    case 'KEY_INVALID':
      return 'UNTRUSTED';
    case 'KEY_UNSUPPORTED':
    case 'KEYFILE':
      return 'KEYS';
    case 'ROLE':
      return 'USAGE';
    default: {
      const never: never = e.code;
      return never;
    }
  }
}

/**
 * The class of any thrown value. Errors from other modules (the remote, the update workflow) are
 * recognised by their `code`, `status` or node system error codes, so they need not know ours.
 */
export function classify(err: unknown): CliErrorCode {
  if (err instanceof CliError) return err.code;
  if (err instanceof TufError) return tufErrorClass(err);
  if (err instanceof RemoteError) {
    switch (err.code) {
      case 'NOT_FOUND':
        return 'NOT_FOUND';
      case 'TOO_LARGE':
        // a response above its cap comes from a malicious or broken server: its data is not trusted
        return 'UNTRUSTED';
      case 'OFFLINE':
      case 'NETWORK':
      case 'TIMEOUT':
      case 'UNAUTHORIZED':
      case 'REJECTED':
      case 'SERVER':
      case 'STATUS':
      case 'BAD_RESPONSE':
      case 'AUTH':
        return 'NETWORK';
      case 'CONFIG':
      case 'INVALID_REQUEST':
        return 'USAGE';
      default: {
        const never: never = err.code;
        return never;
      }
    }
  }
  if (err instanceof UpdateError) {
    switch (err.code) {
      case 'REPOSITORY_NOT_FOUND':
        return 'NOT_FOUND';
      case 'OFFLINE':
      case 'REMOTE':
      case 'MISSING':
      case 'UNAUTHORIZED':
        return 'NETWORK';
      case 'PINNING':
      case 'ROOT_ROTATION':
      case 'SIGNATURE':
      case 'EXPIRED':
      case 'VERSION':
      case 'HASH':
      case 'TOO_LARGE':
      case 'MALFORMED':
        return 'UNTRUSTED';
      case 'CACHE':
        return 'ERROR';
      default: {
        const never: never = err.code;
        return never;
      }
    }
  }
  if (err instanceof TargetError) return 'UNTRUSTED';
  if (err instanceof PinningError) return err.code === 'PIN_CONFIG' ? 'USAGE' : 'UNTRUSTED';
  if (err instanceof CacheError) return err.code === 'CACHE_GUN' || err.code === 'CACHE_ROLE' ? 'USAGE' : 'ERROR';
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; status?: unknown; exitCode?: unknown; name?: unknown };
    if (typeof e.code === 'string') {
      const c = e.code.toUpperCase();
      if (c in EXIT_OF) return c as CliErrorCode;
      if (/^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR_|ERR_TLS|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_VERIFY|CERT_)/.test(c)) return 'NETWORK';
      if (/NETWORK|OFFLINE|SERVER|UNAVAILABLE|TIMEOUT|HTTP|REJECTED|UNAUTHORIZED|AUTH/.test(c)) return 'NETWORK';
      if (/NOT_?FOUND|METADATA_NOT_FOUND|NO_REPOSITORY|ENOENT/.test(c)) return 'NOT_FOUND';
      if (/UNTRUSTED|VERIFY|VERIFICATION|SIGNATURE|EXPIRED|ROLLBACK|HASH|PINNING|CERTIFICATE|FREEZE|MALICIOUS|TOO_LARGE|VERSION/.test(c)) return 'UNTRUSTED';
      if (/PASSPHRASE|KEY/.test(c)) return 'KEYS';
      if (/USAGE|INVALID_ARG/.test(c)) return 'USAGE';
    }
    if (typeof e.status === 'number') {
      if (e.status === 404) return 'NOT_FOUND';
      return 'NETWORK';
    }
  }
  return 'ERROR';
}

export function exitCodeFor(err: unknown): ExitCode {
  return EXIT_OF[classify(err)];
}

/** One line of text for an error: no newlines, bounded. */
export function errorLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const one = msg.replace(/\s*\n\s*/g, '; ').trim();
  return one.length > 2000 ? one.slice(0, 2000) + '...' : one;
}

// ---------------------------------------------------------------------------------------------
// Tables, as notary prints them (Go tabwriter, padding 4, last column unpadded)

export function formatTable(headers: string[], rows: string[][]): string {
  const all = [headers, headers.map((h) => '-'.repeat(h.length)), ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const lines = all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd((widths[i] as number) + 4))).join(''));
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// The output channel of one command

export type OutputFormat = 'table' | 'json';

export interface Streams {
  stdout: { write(s: string | Uint8Array): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

export class Output {
  readonly format: OutputFormat;
  readonly debugEnabled: boolean;
  private readonly streams: Streams;
  private lastProgress = 0;

  constructor(format: OutputFormat, debugEnabled: boolean, streams: Streams = { stdout: process.stdout, stderr: process.stderr }) {
    this.format = format;
    this.debugEnabled = debugEnabled;
    this.streams = streams;
  }

  get json(): boolean {
    return this.format === 'json';
  }

  /** Human text for stdout; suppressed in JSON mode (the JSON document says it). */
  say(text: string): void {
    if (!this.json) this.streams.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** Raw bytes for stdout (verify echoes the payload). */
  raw(bytes: Uint8Array): void {
    this.streams.stdout.write(bytes);
  }

  /** A warning line on stderr, in both modes. */
  warn(text: string): void {
    this.streams.stderr.write(`warning: ${text}\n`);
  }

  debug(text: string): void {
    if (this.debugEnabled) this.streams.stderr.write(`debug: ${text}\n`);
  }

  /** The result of a command: the JSON document, or the human text. */
  result(doc: unknown, human?: string): void {
    if (this.json) this.streams.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    else if (human !== undefined) this.say(human);
  }

  table(headers: string[], rows: string[][], doc: unknown, empty?: string): void {
    if (this.json) {
      this.result(doc);
      return;
    }
    if (rows.length === 0 && empty !== undefined) {
      this.say(empty);
      return;
    }
    this.streams.stdout.write(formatTable(headers, rows));
  }

  /**
   * Progress of a long operation on stderr: at most a few updates a second, on a terminal as
   * one rewritten line, elsewhere as occasional lines.
   */
  progress(label: string, done: number, total: number): void {
    const now = Date.now();
    const finished = done >= total;
    if (!finished && now - this.lastProgress < 250) return;
    this.lastProgress = now;
    const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
    if (this.streams.stderr.isTTY) {
      this.streams.stderr.write(`\r${label}: ${done}/${total} (${pct}%)${finished ? '\n' : ''}`);
    } else if (finished || pct % 10 === 0) {
      this.streams.stderr.write(`${label}: ${done}/${total} (${pct}%)\n`);
    }
  }

  /** Report a failure: one line (or a JSON error document); the stack only with --debug. */
  failure(err: unknown): ExitCode {
    const code = classify(err);
    const exit = EXIT_OF[code];
    const line = errorLine(err);
    if (this.json) {
      const detail = err instanceof CliError ? err.detail : undefined;
      this.streams.stdout.write(JSON.stringify({ error: { code, exitCode: exit, message: line, ...(detail ? { detail } : {}) } }, null, 2) + '\n');
    }
    this.streams.stderr.write(`* fatal: ${line}\n`);
    if (this.debugEnabled && err instanceof Error && err.stack) {
      this.streams.stderr.write(err.stack + '\n');
      let cause = (err as { cause?: unknown }).cause;
      for (let depth = 0; cause instanceof Error && depth < 5; depth++) {
        this.streams.stderr.write(`caused by: ${cause.stack ?? cause.message}\n`);
        cause = (cause as { cause?: unknown }).cause;
      }
    }
    return exit;
  }
}
