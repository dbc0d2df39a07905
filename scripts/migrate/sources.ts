/**
 * Where a Notary deployment's data comes from: its PostgreSQL databases (notary-server's
 * `tuf_files`, notary-signer's `private_keys`), or files exported from them with psql (for when
 * the migration host cannot reach the databases). docs/migrating-from-notary.md shows the export
 * commands; the row shapes here are what they produce.
 */
import * as fs from 'node:fs';
import { Client } from 'pg';
import { LIMITS } from '../../tuf/limits';
import { NotaryKeyRow } from './notary-keys';

/** One stored version of one role of one GUN, as notary-server kept it. */
export interface NotaryFileRow {
  gun: string;
  role: string;
  version: number;
  data: Buffer;
  /** notary-server's hex SHA-256 of `data` (null in very old rows) */
  sha256: string | null;
  createdAt: Date | null;
}

export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceError';
  }
}

/** rows fetched per query when paging through tuf_files */
const PAGE_ROWS = 200;
/** a line of an export file: the largest metadata file in base64, plus the other fields */
const MAX_LINE_CHARS = Math.ceil((LIMITS.maxMetadataBytes * 4) / 3) + 64 * 1024;
/** a signer export is small: a few hundred keys of a few hundred bytes */
const MAX_SIGNER_EXPORT_BYTES = 64 * 1024 * 1024;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Base64 as psql's encode() writes it (standard alphabet, lines of 76) or as one line. */
function base64Field(v: unknown, where: string): Buffer {
  if (typeof v !== 'string') throw new SourceError(`${where}: must be a base64 string`);
  const s = v.replace(/\s+/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) throw new SourceError(`${where}: is not standard base64`);
  return Buffer.from(s, 'base64');
}

function strField(o: Obj, key: string, where: string, required = true): string {
  const v = o[key];
  if (typeof v === 'string') return v;
  if (v === undefined && !required) return '';
  throw new SourceError(`${where}.${key}: must be a string`);
}

function dateField(v: unknown, where: string): Date | null {
  if (v === undefined || v === null || v === '') return null;
  if (v instanceof Date) return v;
  if (typeof v !== 'string') throw new SourceError(`${where}: must be a date string`);
  // psql prints "2026-11-23 11:49:49.839074" (no zone) or ISO with T
  const d = new Date(/^\d{4}-\d\d-\d\d \d/.test(v) ? v.replace(' ', 'T') : v);
  if (Number.isNaN(d.getTime())) throw new SourceError(`${where}: ${JSON.stringify(v.slice(0, 40))} is not a date`);
  return d;
}

function fileRowFrom(o: unknown, where: string): NotaryFileRow {
  if (!isObj(o)) throw new SourceError(`${where}: must be a JSON object`);
  const version = o.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) throw new SourceError(`${where}.version: must be a non-negative integer`);
  const sha = o.sha256;
  if (sha !== undefined && sha !== null && (typeof sha !== 'string' || !/^[0-9a-f]{64}$/i.test(sha.trim()))) throw new SourceError(`${where}.sha256: must be 64 hex digits`);
  return {
    gun: strField(o, 'gun', where),
    role: strField(o, 'role', where),
    version,
    data: base64Field(o.data, `${where}.data`),
    sha256: typeof sha === 'string' ? sha.trim().toLowerCase() : null,
    createdAt: dateField(o.created_at, `${where}.created_at`),
  };
}

export function keyRowFrom(o: unknown, where: string): NotaryKeyRow {
  if (!isObj(o)) throw new SourceError(`${where}: must be a JSON object`);
  const pub = o.public_b64 ?? o.public;
  const priv = o.private_jwe ?? o.private;
  return {
    keyId: strField(o, 'key_id', where),
    gun: strField(o, 'gun', where, false),
    role: strField(o, 'role', where, false),
    algorithm: strField(o, 'algorithm', where),
    encryptionAlg: strField(o, 'encryption_alg', where),
    keywrapAlg: strField(o, 'keywrap_alg', where),
    passphraseAlias: strField(o, 'passphrase_alias', where),
    public: base64Field(pub, `${where}.public_b64`),
    privateJwe: typeof priv === 'string' ? priv.trim() : strField(o, 'private_jwe', where),
    createdAt: dateField(o.created_at, `${where}.created_at`),
    lastUsed: 'last_used' in o ? dateField(o.last_used, `${where}.last_used`) : undefined,
  };
}

/** The lines of a file, each bounded, without reading the whole file into memory. */
async function* boundedLines(file: string): AsyncGenerator<{ line: string; n: number }> {
  let rest = '';
  let n = 0;
  for await (const chunk of fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    rest += chunk as string;
    let i: number;
    while ((i = rest.indexOf('\n')) >= 0) {
      n++;
      yield { line: rest.slice(0, i), n };
      rest = rest.slice(i + 1);
    }
    if (rest.length > MAX_LINE_CHARS) throw new SourceError(`${file}:${n + 1}: line longer than ${MAX_LINE_CHARS} characters`);
  }
  if (rest.length > 0) yield { line: rest, n: n + 1 };
}

/** notary-server rows from an export file: JSON Lines, one row per line, oldest first. */
export async function* fileRowsFromExport(file: string): AsyncGenerator<NotaryFileRow> {
  for await (const { line, n } of boundedLines(file)) {
    if (line.trim() === '') continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      throw new SourceError(`${file}:${n}: not JSON`);
    }
    yield fileRowFrom(o, `${file}:${n}`);
  }
}

/** notary-signer rows from an export file: a JSON array of rows, or JSON Lines. */
export function keyRowsFromExport(file: string): NotaryKeyRow[] {
  const size = fs.statSync(file).size;
  if (size > MAX_SIGNER_EXPORT_BYTES) throw new SourceError(`${file}: larger than ${MAX_SIGNER_EXPORT_BYTES} bytes`);
  const text = fs.readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch {
      throw new SourceError(`${file}: not JSON`);
    }
    if (!Array.isArray(arr)) throw new SourceError(`${file}: must be a JSON array of rows`);
    return arr.map((o, i) => keyRowFrom(o, `${file}[${i}]`));
  }
  const rows: NotaryKeyRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      throw new SourceError(`${file}:${i + 1}: not JSON`);
    }
    rows.push(keyRowFrom(o, `${file}:${i + 1}`));
  });
  return rows;
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  try {
    await c.connect();
  } catch (e) {
    throw new SourceError(`cannot connect to ${redactUrl(url)}: ${(e as Error).message}`);
  }
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** A database URL with its password masked, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

async function hasColumn(c: Client, table: string, column: string): Promise<boolean> {
  const r = await c.query('SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2', [table, column]);
  return (r.rowCount ?? 0) > 0;
}

/**
 * notary-server's stored files, in the order it stored them (id order), paged. Rows gorm
 * considers deleted are skipped, as notary-server never served them; in the later schema with
 * namespaces only the published namespace is what clients saw.
 */
export async function* fileRowsFromPostgres(url: string): AsyncGenerator<NotaryFileRow> {
  const c = new Client({ connectionString: url });
  try {
    await c.connect();
  } catch (e) {
    throw new SourceError(`cannot connect to the notary-server database ${redactUrl(url)}: ${(e as Error).message}`);
  }
  try {
    const namespaced = await hasColumn(c, 'tuf_files', 'namespace');
    const where = `deleted_at IS NULL${namespaced ? " AND namespace = 'published'" : ''}`;
    let after = 0;
    for (;;) {
      const r = await c.query<{ id: number; gun: string; role: string; version: number; data: Buffer; sha256: string | null; created_at: Date | null }>(
        `SELECT id, gun, role, version, data, sha256, created_at FROM tuf_files WHERE ${where} AND id > $1 ORDER BY id LIMIT ${PAGE_ROWS}`,
        [after],
      );
      for (const row of r.rows) {
        after = row.id;
        yield { gun: row.gun, role: row.role, version: row.version, data: row.data, sha256: row.sha256 ? row.sha256.trim().toLowerCase() : null, createdAt: row.created_at };
      }
      if (r.rows.length < PAGE_ROWS) return;
    }
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** notary-server's changefeed, oldest first: to compare with what the import rebuilt. */
export async function changefeedFromPostgres(url: string): Promise<Array<{ gun: string; version: number; sha256: string; category: string }>> {
  return withClient(url, async (c) => {
    const r = await c.query<{ gun: string; version: number; sha256: string | null; category: string }>('SELECT gun, version, sha256, category FROM changefeed ORDER BY id');
    return r.rows.map((x) => ({ gun: x.gun, version: x.version, sha256: (x.sha256 ?? '').trim(), category: x.category }));
  });
}

/** notary-signer's keys (rows gorm considers deleted are skipped). */
export async function keyRowsFromPostgres(url: string): Promise<NotaryKeyRow[]> {
  return withClient(url, async (c) => {
    const r = await c.query<{
      key_id: string;
      gun: string;
      role: string;
      algorithm: string;
      encryption_alg: string;
      keywrap_alg: string;
      passphrase_alias: string;
      public: Buffer;
      private: Buffer;
      created_at: Date | null;
      last_used: Date | null;
    }>('SELECT key_id, gun, role, algorithm, encryption_alg, keywrap_alg, passphrase_alias, public, private, created_at, last_used FROM private_keys WHERE deleted_at IS NULL ORDER BY id');
    return r.rows.map((x) => ({
      keyId: x.key_id,
      gun: x.gun,
      role: x.role,
      algorithm: x.algorithm,
      encryptionAlg: x.encryption_alg,
      keywrapAlg: x.keywrap_alg,
      passphraseAlias: x.passphrase_alias,
      public: x.public,
      privateJwe: x.private.toString('utf8').trim(),
      createdAt: x.created_at,
      lastUsed: x.last_used,
    }));
  });
}
