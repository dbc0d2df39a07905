/**
 * The embedded backend: one SQLite file (better-sqlite3, WAL).
 *
 * Durability: `synchronous=FULL`. In WAL mode NORMAL may lose the last commits on power loss;
 * for a trust server that is a rollback: a client that already saw timestamp version n would
 * later be served a different version n (or n-1) and refuse it. Publishes are rare, so the
 * extra fsync per commit costs nothing that matters; reads are unaffected.
 *
 * Concurrency: better-sqlite3 is synchronous, so within one process every call runs to
 * completion before the next starts. Across processes, `update` and `deleteGun` run in
 * `BEGIN IMMEDIATE` transactions (the write lock is taken before the version check, so the
 * check and the insert see the same state), other writers wait up to `busyTimeoutMs`, and
 * UNIQUE(gun, role, version) is the last line of defence.
 */
import Database from 'better-sqlite3';
import { assertGunAndRole, changeWindow, ChangeRow, FILE_COLUMNS, FileRow, minVersionByRole, prepareBatch, toChangeRecord, toStoredFile } from './common';
import { ChangeQuery, ChangeRecord, NewFile, StoredFile, StoredUpdate, TufStore, VersionConflictError } from './types';

export interface SqliteStoreOptions {
  /** how long a writer waits for another process's write lock (ms); default 5000 */
  busyTimeoutMs?: number;
  /**
   * How often to look for commits made by other processes sharing the file, to call `onChange`
   * listeners for them (ms); 0 turns it off. Default 1000. The check is `PRAGMA data_version`,
   * which costs next to nothing when nothing changed.
   */
  watchIntervalMs?: number;
}

/** Schema migrations, applied in order; schema_version holds how many have run. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tuf_files (
    -- AUTOINCREMENT: ids never repeat, even after deleteGun, so "rows after id n" is exact
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 0),
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    -- also the index for "current by role": ORDER BY version DESC LIMIT 1 walks it backwards
    UNIQUE (gun, role, version)
  );
  CREATE INDEX tuf_files_by_checksum ON tuf_files (gun, role, sha256);
  CREATE TABLE changefeed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    gun TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('update', 'deletion'))
  );
  CREATE INDEX changefeed_by_gun ON changefeed (gun, id);
  `,
];

type SqliteFileRow = FileRow<number, number>;
type SqliteChangeRow = ChangeRow<number, number>;

/** SQLite keeps timestamps as epoch milliseconds. */
const fromMillis = (v: number): Date => new Date(v);
const storedFile = (r: SqliteFileRow): StoredFile => toStoredFile(r, fromMillis);
const changeRecord = (r: SqliteChangeRow): ChangeRecord => toChangeRecord(r, fromMillis);

function isUniqueViolation(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    'code' in e &&
    ((e as { code: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE' ||
      (e as { code: unknown }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
  );
}

/** Create or upgrade the schema; refuse a file written by a newer vouch. */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    const current = row?.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this vouch understands (${MIGRATIONS.length})`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v] as string);
    if (row === undefined) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length);
    else db.prepare('UPDATE schema_version SET version = ?').run(MIGRATIONS.length);
  }).immediate();
}

export class SqliteStore implements TufStore {
  private readonly listeners: Array<(gun: string) => void> = [];
  private readonly watchTimer: NodeJS.Timeout | null = null;
  /** what the cross-process watch has already seen */
  private lastDataVersion = 0;
  private lastFileId = 0;
  private lastChangeId = 0;
  /** rows this process wrote since the last watch pass (already announced locally) */
  private readonly ownFileIds = new Set<number>();
  private readonly ownChangeIds = new Set<number>();

  private readonly stmt: {
    current: Database.Statement<[string, string], SqliteFileRow>;
    byVersion: Database.Statement<[string, string, number], SqliteFileRow>;
    byChecksum: Database.Statement<[string, string, string], SqliteFileRow>;
    maxVersion: Database.Statement<[string, string], { v: number | null }>;
    insertFile: Database.Statement<[string, string, number, string, Buffer, number]>;
    insertChange: Database.Statement<[number, string, number, string, string]>;
    deleteGun: Database.Statement<[string]>;
    dataVersion: Database.Statement<[], { data_version: number }>;
    filesAfter: Database.Statement<[number], { id: number; gun: string }>;
    changesAfter: Database.Statement<[number], { id: number; gun: string; category: string }>;
    maxFileId: Database.Statement<[], { v: number | null }>;
    maxChangeId: Database.Statement<[], { v: number | null }>;
  };

  private constructor(
    private readonly db: Database.Database,
    opts: SqliteStoreOptions,
  ) {
    const s = (sql: string) => db.prepare(sql);
    this.stmt = {
      current: s(`SELECT ${FILE_COLUMNS} FROM tuf_files WHERE gun = ? AND role = ? ORDER BY version DESC LIMIT 1`) as never,
      byVersion: s(`SELECT ${FILE_COLUMNS} FROM tuf_files WHERE gun = ? AND role = ? AND version = ?`) as never,
      byChecksum: s(
        `SELECT ${FILE_COLUMNS} FROM tuf_files WHERE gun = ? AND role = ? AND sha256 = ? ORDER BY version DESC LIMIT 1`,
      ) as never,
      maxVersion: s('SELECT max(version) AS v FROM tuf_files WHERE gun = ? AND role = ?') as never,
      insertFile: s(
        'INSERT INTO tuf_files (gun, role, version, sha256, data, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ) as never,
      insertChange: s(
        'INSERT INTO changefeed (created_at, gun, version, sha256, category) VALUES (?, ?, ?, ?, ?)',
      ) as never,
      deleteGun: s('DELETE FROM tuf_files WHERE gun = ?') as never,
      dataVersion: s('PRAGMA data_version') as never,
      filesAfter: s('SELECT id, gun FROM tuf_files WHERE id > ? ORDER BY id') as never,
      changesAfter: s('SELECT id, gun, category FROM changefeed WHERE id > ? ORDER BY id') as never,
      maxFileId: s('SELECT max(id) AS v FROM tuf_files') as never,
      maxChangeId: s('SELECT max(id) AS v FROM changefeed') as never,
    };
    const interval = opts.watchIntervalMs ?? 1000;
    if (interval > 0) {
      this.lastDataVersion = this.stmt.dataVersion.get()?.data_version ?? 0;
      this.lastFileId = this.stmt.maxFileId.get()?.v ?? 0;
      this.lastChangeId = this.stmt.maxChangeId.get()?.v ?? 0;
      this.watchTimer = setInterval(() => this.watchOtherProcesses(), interval);
      this.watchTimer.unref();
    }
  }

  /** Open (creating if needed) the database file at `path` and bring its schema up to date. */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    const db = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000 });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      migrate(db);
      return new SqliteStore(db, opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  async getCurrent(gun: string, role: string): Promise<StoredFile | null> {
    const r = this.stmt.current.get(gun, role);
    return r ? storedFile(r) : null;
  }

  async getByVersion(gun: string, role: string, version: number): Promise<StoredFile | null> {
    if (!Number.isSafeInteger(version)) return null;
    const r = this.stmt.byVersion.get(gun, role, version);
    return r ? storedFile(r) : null;
  }

  async getByChecksum(gun: string, role: string, sha256hex: string): Promise<StoredFile | null> {
    const r = this.stmt.byChecksum.get(gun, role, sha256hex.toLowerCase());
    return r ? storedFile(r) : null;
  }

  async update(gun: string, files: NewFile[]): Promise<StoredUpdate> {
    const batch = prepareBatch(gun, files);
    const fileIds: number[] = [];
    const changeIds: number[] = [];
    const stored: StoredUpdate = { files: [], changes: [] };
    const write = this.db.transaction(() => {
      // versions only go up: every stored version of a role must be below the lowest offered
      for (const [role, min] of minVersionByRole(batch)) {
        const v = this.stmt.maxVersion.get(gun, role)?.v ?? null;
        if (v !== null && v >= min) throw new VersionConflictError(role, min);
      }
      const now = Date.now();
      for (const f of batch) {
        fileIds.push(Number(this.stmt.insertFile.run(gun, f.role, f.version, f.sha256, f.bytes, now).lastInsertRowid));
        stored.files.push(storedFile({ gun, role: f.role, version: f.version, sha256: f.sha256, data: f.bytes, created_at: now }));
        // a new timestamp is a new version of the repository: one changefeed record each
        if (f.role === 'timestamp') {
          const id = Number(this.stmt.insertChange.run(now, gun, f.version, f.sha256, 'update').lastInsertRowid);
          changeIds.push(id);
          stored.changes.push(changeRecord({ id, created_at: now, gun, version: f.version, sha256: f.sha256, category: 'update' }));
        }
      }
    });
    try {
      write.immediate();
    } catch (e) {
      if (isUniqueViolation(e)) {
        const first = batch[0] as NewFile;
        throw new VersionConflictError(first.role, first.version);
      }
      throw e;
    }
    this.noteOwnWrites(fileIds, changeIds);
    this.emit(gun);
    return stored;
  }

  async deleteGun(gun: string): Promise<boolean> {
    assertGunAndRole(gun);
    let changeId: number | null = null;
    const del = this.db.transaction(() => {
      // exact match: `a/b` must not take `a/bc` or `a/b/c` with it
      const n = this.stmt.deleteGun.run(gun).changes;
      // like Notary: no deletion record when there was nothing to delete
      if (n > 0) changeId = Number(this.stmt.insertChange.run(Date.now(), gun, 0, '', 'deletion').lastInsertRowid);
    });
    del.immediate();
    if (changeId === null) return false;
    this.noteOwnWrites([], [changeId]);
    this.emit(gun);
    return true;
  }

  async changes(q: ChangeQuery): Promise<ChangeRecord[]> {
    const w = changeWindow(q);
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (q.gun !== undefined) {
      where.push('gun = ?');
      args.push(q.gun);
    }
    if (!w.reversed) {
      where.push('id > ?');
      args.push(w.afterId);
    } else if (w.beforeId !== null) {
      where.push('id < ?');
      args.push(w.beforeId);
    }
    const sql =
      'SELECT id, created_at, gun, version, sha256, category FROM changefeed' +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ` ORDER BY id ${w.reversed ? 'DESC' : 'ASC'} LIMIT ?`;
    args.push(w.limit);
    const rows = this.db.prepare(sql).all(...args) as SqliteChangeRow[];
    // always oldest to newest
    if (w.reversed) rows.reverse();
    return rows.map(changeRecord);
  }

  onChange(listener: (gun: string) => void): void {
    this.listeners.push(listener);
  }

  async health(): Promise<void> {
    this.db.prepare('SELECT 1 FROM tuf_files LIMIT 1').get();
  }

  async close(): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    if (this.db.open) this.db.close();
  }

  private emit(gun: string): void {
    for (const l of this.listeners) {
      try {
        l(gun);
      } catch (e) {
        // the write is committed; a failing listener must not turn it into an error
        process.emitWarning(`storage change listener failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private noteOwnWrites(fileIds: number[], changeIds: number[]): void {
    if (this.watchTimer === null) return;
    for (const id of fileIds) this.ownFileIds.add(id);
    for (const id of changeIds) this.ownChangeIds.add(id);
  }

  /**
   * Announce GUNs that other processes changed: new file rows (ids only grow) and deletion
   * records since the last pass. Rows this process wrote were announced when it wrote them.
   */
  private watchOtherProcesses(): void {
    if (!this.db.open) return;
    try {
      const dv = this.stmt.dataVersion.get()?.data_version ?? 0;
      if (dv === this.lastDataVersion && this.ownFileIds.size === 0 && this.ownChangeIds.size === 0) return;
      this.lastDataVersion = dv;
      const changed = new Set<string>();
      for (const r of this.stmt.filesAfter.all(this.lastFileId)) {
        this.lastFileId = r.id;
        if (!this.ownFileIds.delete(r.id)) changed.add(r.gun);
      }
      for (const r of this.stmt.changesAfter.all(this.lastChangeId)) {
        this.lastChangeId = r.id;
        // updates were seen as file rows; a deletion leaves only its change record
        if (!this.ownChangeIds.delete(r.id) && r.category === 'deletion') changed.add(r.gun);
      }
      // own rows that another process deleted before this pass saw them
      this.ownFileIds.clear();
      this.ownChangeIds.clear();
      for (const gun of changed) this.emit(gun);
    } catch (e) {
      process.emitWarning(`storage change watch failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
