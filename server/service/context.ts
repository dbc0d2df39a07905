/**
 * What every service module shares: its dependencies (storage, key service, clock, logger) and
 * small helpers for reading stored metadata and writing Notary's messages.
 */
import type { Logger } from 'pino';
import { Metadata, MetadataKind, parseMetadata, Root, Snapshot, Targets, Timestamp } from '../../tuf/metadata';
import type { KeyAlgorithm, KeyService } from '../../signer/api';
import type { StoredFile, TufStore } from '../storage/types';
import { ServerError } from '../errors';
import { ParsedMetadataCache } from './parsed';

export interface ServiceDeps {
  store: TufStore;
  keys: KeyService;
  /** algorithm of keys the server asks the key service to create (local: ed25519, remote: config) */
  keyAlgorithm: KeyAlgorithm;
  log: Logger;
  /** epoch milliseconds; tests move the clock */
  now?: () => number;
}

export interface ServiceContext {
  readonly store: TufStore;
  readonly keys: KeyService;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly log: Logger;
  /** stored documents already parsed (see parseStored) */
  readonly parsed: ParsedMetadataCache;
  now(): number;
}

export function makeContext(deps: ServiceDeps): ServiceContext {
  return {
    store: deps.store,
    keys: deps.keys,
    keyAlgorithm: deps.keyAlgorithm,
    log: deps.log,
    parsed: new ParsedMetadataCache(),
    now: deps.now ?? Date.now,
  };
}

/**
 * Parse a file read back from storage, or find it already parsed. Stored data was validated
 * when it was written, so a failure here means the database was changed behind our back: fail
 * closed with a 500.
 */
export function parseStored(ctx: ServiceContext, file: StoredFile, kind: 'root'): Root;
export function parseStored(ctx: ServiceContext, file: StoredFile, kind: 'targets'): Targets;
export function parseStored(ctx: ServiceContext, file: StoredFile, kind: 'snapshot'): Snapshot;
export function parseStored(ctx: ServiceContext, file: StoredFile, kind: 'timestamp'): Timestamp;
export function parseStored(ctx: ServiceContext, file: StoredFile, kind: MetadataKind): Metadata {
  const held = ctx.parsed.get(kind, file.sha256, file.bytes);
  if (held) return held;
  let md: Metadata;
  try {
    md = parseMetadata(file.bytes, kind);
  } catch (e) {
    throw new ServerError('UNKNOWN', undefined, `stored ${file.role} v${file.version} of ${file.gun} does not parse: ${(e as Error).message}`, { cause: e });
  }
  ctx.parsed.set(kind, file.sha256, md);
  return md;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's `Mon Jan 2 15:04:05 MST 2006` layout in UTC, as Notary writes expiry errors. */
export function goUnixDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
