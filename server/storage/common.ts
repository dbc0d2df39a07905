/**
 * What both backends share: argument checks at the storage boundary, the rows of their (alike)
 * tables, and the changefeed query semantics of notary-server's SQL store
 * (server/storage/sqldb.go GetChanges, spec 1.7).
 */
import { sha256Hex } from '../../tuf/keys';
import { ChangeQuery, ChangeRecord, NewFile, StoredFile, VersionConflictError } from './types';

/**
 * Versions are stored as 64-bit integers; anything a JS number cannot hold exactly is refused
 * before it reaches SQL, so a stored version always reads back as the number that was offered.
 */
export function assertStorableVersion(role: string, version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new RangeError(`version of ${role} must be a non-negative safe integer, got ${String(version)}`);
  }
}

export function assertGunAndRole(gun: string, role?: string): void {
  if (typeof gun !== 'string' || gun.length === 0) throw new TypeError('a GUN must be a non-empty string');
  if (role !== undefined && (typeof role !== 'string' || role.length === 0)) {
    throw new TypeError('a role must be a non-empty string');
  }
}

export interface PreparedFile extends NewFile {
  sha256: string;
}

/**
 * Check a batch before any SQL runs and hash each file's exact bytes. Two files with the same
 * role and version would violate UNIQUE(gun, role, version) halfway through the insert, so they
 * are a version conflict up front (as Notary's allUpdatesUnique).
 */
export function prepareBatch(gun: string, files: NewFile[]): PreparedFile[] {
  assertGunAndRole(gun);
  if (!Array.isArray(files) || files.length === 0) throw new TypeError('an update needs at least one file');
  const seen = new Set<string>();
  return files.map((f) => {
    assertGunAndRole(gun, f.role);
    assertStorableVersion(f.role, f.version);
    if (!Buffer.isBuffer(f.bytes)) throw new TypeError(`bytes of ${f.role} must be a Buffer`);
    const key = `${f.version}\u0000${f.role}`;
    if (seen.has(key)) throw new VersionConflictError(f.role, f.version);
    seen.add(key);
    return { role: f.role, version: f.version, bytes: f.bytes, sha256: sha256Hex(f.bytes) };
  });
}

/** The lowest offered version per role: every stored version must be below it. */
export function minVersionByRole(files: PreparedFile[]): Map<string, number> {
  const min = new Map<string, number>();
  for (const f of files) {
    const cur = min.get(f.role);
    if (cur === undefined || f.version < cur) min.set(f.role, f.version);
  }
  return min;
}

/**
 * The most change records one query returns, whatever `records` asks for. Changefeed readers
 * page by change_id, so a shorter page only costs them another request, while an unbounded one
 * would let a single GET read the whole table into memory.
 */
export const MAX_CHANGE_RECORDS = 10_000;

/** A change query reduced to SQL terms. */
export interface ChangeWindow {
  /** newest first from the top (and then reversed to oldest first) */
  reversed: boolean;
  /** forward: id > afterId; reversed: id < beforeId (null: from the newest) */
  afterId: number;
  beforeId: number | null;
  limit: number;
}

/**
 * Notary's rules, as its SQL store applies them: a negative change_id means "from the newest,
 * backwards"; negative records means "the n changes before change_id"; results are always
 * returned oldest to newest. change_id is parsed as a 32-bit integer, like Notary.
 */
export function changeWindow(q: ChangeQuery): ChangeWindow {
  const raw = q.changeId ?? '';
  let id = 0;
  if (raw !== '') {
    if (!/^[+-]?\d{1,10}$/.test(raw)) throw new RangeError(`change ID expected to be integer, provided ID was: ${raw}`);
    id = Number(raw);
    if (id > 2 ** 31 - 1 || id < -(2 ** 31)) {
      throw new RangeError(`change ID expected to be integer, provided ID was: ${raw}`);
    }
  }
  if (!Number.isSafeInteger(q.records) || q.records === 0) {
    throw new RangeError(`records must be a non-zero integer, got ${String(q.records)}`);
  }
  let reversed = id < 0;
  let limit = q.records;
  if (limit < 0) {
    reversed = true;
    limit = -limit;
  }
  return { reversed, afterId: id, beforeId: reversed && id > 0 ? id : null, limit: Math.min(limit, MAX_CHANGE_RECORDS) };
}

/**
 * A tuf_files row as a driver returns it: `N` is its integer type (pg gives BIGINT as text,
 * SQLite a number), `T` its timestamp type (pg Date, SQLite epoch milliseconds).
 */
export interface FileRow<N extends number | string, T> {
  gun: string;
  role: string;
  version: N;
  sha256: string;
  data: Buffer;
  created_at: T;
}

/** A changefeed row as a driver returns it (see FileRow). */
export interface ChangeRow<N extends number | string, T> {
  id: N;
  created_at: T;
  gun: string;
  version: N;
  sha256: string;
  category: 'update' | 'deletion';
}

export const FILE_COLUMNS = 'gun, role, version, sha256, data, created_at';

export function toStoredFile<N extends number | string, T>(r: FileRow<N, T>, toDate: (v: T) => Date): StoredFile {
  return {
    gun: r.gun,
    role: r.role,
    version: Number(r.version),
    sha256: r.sha256,
    bytes: r.data,
    createdAt: toDate(r.created_at),
  };
}

export function toChangeRecord<N extends number | string, T>(r: ChangeRow<N, T>, toDate: (v: T) => Date): ChangeRecord {
  return {
    id: String(r.id),
    createdAt: toDate(r.created_at),
    gun: r.gun,
    version: Number(r.version),
    sha256: r.sha256,
    category: r.category,
  };
}
