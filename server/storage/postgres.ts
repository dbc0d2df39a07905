/**
 * The shared backend: PostgreSQL through `pg`, for several server processes on one database.
 *
 * Concurrency: `update` and `deleteGun` take a transaction-scoped advisory lock on the GUN
 * (`pg_advisory_xact_lock(LOCK_GUN, hashtext(gun))`) before they read the stored versions, so
 * two publishes to one GUN, from any process, run one after the other: the second sees the
 * first's rows and gets VersionConflictError. UNIQUE(gun, role, version) stays as the last line
 * of defence, and its violation (23505) maps to the same error. Appends to the changefeed also
 * take one global lock held to commit, so change ids become visible in increasing order and a
 * reader paging "after id n" never skips a record that commits late with a lower id.
 *
 * Change notification: every write sends `NOTIFY vouch_tuf_changes, '<gun>'` inside its
 * transaction (delivered only if it commits). Each store LISTENs on a dedicated connection and
 * calls its `onChange` listeners for GUNs changed by other processes; its own writes call them
 * directly after commit. If the listening connection drops (or stops answering its periodic
 * ping), it reconnects and announces every GUN written since shortly before the old connection
 * was last known alive, so no change is missed.
 */
import { Client, DatabaseError, Notification, Pool, PoolClient } from 'pg';
import { assertGunAndRole, changeWindow, ChangeRow, FILE_COLUMNS, FileRow, minVersionByRole, prepareBatch, toChangeRecord, toStoredFile } from './common';
import { ChangeQuery, ChangeRecord, NewFile, StoredFile, StoredUpdate, TufStore, VersionConflictError } from './types';

/** NOTIFY channel shared by every vouch process on the database. */
export const CHANGE_CHANNEL = 'vouch_tuf_changes';

/** Advisory lock key spaces (first argument of the two-key form): "vouc" + n. */
const LOCK_GUN = 0x766f7563;
const LOCK_SCHEMA = LOCK_GUN + 1;
const LOCK_CHANGEFEED = LOCK_GUN + 2;

/** How far before the last LISTEN to look back when catching up after a reconnect. */
const CATCH_UP_SLACK_MS = 60_000;
const RECONNECT_MAX_MS = 5_000;
/**
 * How often the listening connection proves it is alive. A silently dead TCP connection would
 * otherwise never report an error, and the cache of this process would go stale unnoticed.
 */
const LISTEN_PING_MS = 30_000;

export interface PostgresStoreOptions {
  /** pool size; default 10 */
  poolSize?: number;
  /** LISTEN for other processes' changes; default true */
  listen?: boolean;
  /** give up waiting for a connection after this long (ms); default 10000 */
  connectTimeoutMs?: number;
}

/** Schema migrations, applied in order under an advisory lock; schema_version counts them. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tuf_files (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gun TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 0),
    sha256 TEXT COLLATE "C" NOT NULL,
    data BYTEA NOT NULL,
    -- clock_timestamp(): when the row was written, after any lock wait (the catch-up relies on it)
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- also the index for "current by role": ORDER BY version DESC LIMIT 1 walks it backwards
    CONSTRAINT tuf_files_gun_role_version UNIQUE (gun, role, version)
  );
  CREATE INDEX tuf_files_by_checksum ON tuf_files (gun, role, sha256);
  CREATE INDEX tuf_files_by_created ON tuf_files (created_at);
  CREATE TABLE changefeed (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    gun TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('update', 'deletion'))
  );
  CREATE INDEX changefeed_by_gun ON changefeed (gun, id);
  CREATE INDEX changefeed_by_created ON changefeed (created_at);
  `,
  // A publish in one statement: one round trip instead of ten (BEGIN, lock, version check, an
  // INSERT per file, changefeed lock and INSERT, NOTIFY, COMMIT), each a wake-up of two
  // processes. The steps and locks are those of a transaction written out in the client:
  // - the GUN's advisory lock first, so two publishes to one GUN run one after the other;
  // - every stored version of a role must be below the lowest one offered, else VC001 with
  //   the role as message and the offered version as detail (VersionConflictError);
  // - the files, in the order given; then, for each timestamp, a changefeed record under the
  //   global changefeed lock (ids become visible in order); then the NOTIFY;
  // - it answers what it stored, as reads will return it (creation times, change ids).
  `
  CREATE FUNCTION vouch_publish(p_gun TEXT, p_roles TEXT[], p_versions BIGINT[], p_shas TEXT[], p_data BYTEA[],
                                p_min_roles TEXT[], p_min_versions BIGINT[],
                                p_lock_gun INTEGER, p_lock_changefeed INTEGER, p_channel TEXT)
  RETURNS TABLE (out_kind TEXT, out_id BIGINT, out_role TEXT, out_version BIGINT, out_sha256 TEXT, out_created TIMESTAMPTZ)
  LANGUAGE plpgsql AS $$
  DECLARE
    conflict RECORD;
  BEGIN
    PERFORM pg_advisory_xact_lock(p_lock_gun, hashtext(p_gun));
    SELECT m.role, m.version INTO conflict
      FROM unnest(p_min_roles, p_min_versions) AS m(role, version)
      WHERE EXISTS (SELECT 1 FROM tuf_files f WHERE f.gun = p_gun AND f.role = m.role AND f.version >= m.version)
      LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'VC001', MESSAGE = conflict.role, DETAIL = conflict.version::text;
    END IF;
    RETURN QUERY
      WITH ins AS (
        INSERT INTO tuf_files (gun, role, version, sha256, data)
          SELECT p_gun, x.role, x.version, x.sha, x.data
          FROM unnest(p_roles, p_versions, p_shas, p_data) WITH ORDINALITY AS x(role, version, sha, data, n)
          ORDER BY x.n
          RETURNING tuf_files.id, tuf_files.role, tuf_files.version, tuf_files.sha256, tuf_files.created_at
      )
      SELECT 'file'::text, ins.id, ins.role, ins.version, ins.sha256, ins.created_at FROM ins;
    IF 'timestamp' = ANY(p_roles) THEN
      PERFORM pg_advisory_xact_lock(p_lock_changefeed, 0);
      RETURN QUERY
        WITH app AS (
          INSERT INTO changefeed (gun, version, sha256, category)
            SELECT p_gun, x.version, x.sha, 'update'
            FROM unnest(p_roles, p_versions, p_shas) WITH ORDINALITY AS x(role, version, sha, n)
            WHERE x.role = 'timestamp'
            ORDER BY x.n
            RETURNING changefeed.id, changefeed.version, changefeed.sha256, changefeed.created_at
        )
        SELECT 'change'::text, app.id, 'timestamp'::text, app.version, app.sha256, app.created_at FROM app ORDER BY app.id;
    END IF;
    PERFORM pg_notify(p_channel, p_gun);
  END;
  $$;
  `,
];

/** SQLSTATE vouch_publish raises when a stored version is not below the one offered. */
const VERSION_CONFLICT = 'VC001';

/** A row vouch_publish answers: a stored file (by role and version) or an appended change record. */
interface PublishedRow {
  out_kind: 'file' | 'change';
  out_id: string;
  out_role: string;
  out_version: string;
  out_sha256: string;
  out_created: Date;
}

type PgFileRow = FileRow<string, Date>;
type PgChangeRow = ChangeRow<string, Date>;

/** pg returns TIMESTAMPTZ columns as Date already. */
const asDate = (v: Date): Date => v;
const storedFile = (r: PgFileRow): StoredFile => toStoredFile(r, asDate);
const changeRecord = (r: PgChangeRow): ChangeRecord => toChangeRecord(r, asDate);

/** The SQLSTATE of an error the database answered; undefined for anything else (e.g. a broken socket). */
function sqlState(e: unknown): string | undefined {
  return e instanceof DatabaseError ? e.code : undefined;
}

/** The server process id behind a pooled connection (pg keeps it from BackendKeyData). */
function backendPid(c: Client | PoolClient): number | null {
  const pid = (c as unknown as { processID?: unknown }).processID;
  return typeof pid === 'number' ? pid : null;
}

function warn(what: string, e: unknown): void {
  process.emitWarning(`${what}: ${e instanceof Error ? e.message : String(e)}`);
}

async function migrate(pool: Pool): Promise<void> {
  await inTransaction(pool, async (c) => {
    // two processes starting at once: one migrates, the other waits and finds it done
    await c.query('SELECT pg_advisory_xact_lock($1, 0)', [LOCK_SCHEMA]);
    await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const { rows } = await c.query<{ version: number }>('SELECT version FROM schema_version');
    const current = rows[0]?.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this vouch understands (${MIGRATIONS.length})`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) await c.query(MIGRATIONS[v] as string);
    if (rows.length === 0) await c.query('INSERT INTO schema_version (version) VALUES ($1)', [MIGRATIONS.length]);
    else await c.query('UPDATE schema_version SET version = $1', [MIGRATIONS.length]);
  });
}

/** Run `fn` in a transaction on one pooled connection; roll back on any error. */
async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken: Error | undefined;
  try {
    await c.query('BEGIN');
    try {
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch((rbErr: unknown) => {
        // a connection that cannot roll back must not go back into the pool
        broken = rbErr instanceof Error ? rbErr : new Error(String(rbErr));
      });
      throw e;
    }
  } finally {
    c.release(broken);
  }
}

export class PostgresStore implements TufStore {
  private readonly listeners: Array<(gun: string) => void> = [];
  /** backend pids of this store's pool: their NOTIFYs were already announced locally */
  private readonly ownPids = new Set<number>();
  private listenClient: Client | null = null;
  /** database time at which the listener was last known to be listening (null before the first) */
  private listeningSince: Date | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelayMs = 100;
  private closed = false;

  private constructor(
    private readonly url: string,
    private readonly pool: Pool,
  ) {
    pool.on('connect', (c) => {
      const pid = backendPid(c);
      if (pid !== null) this.ownPids.add(pid);
    });
    pool.on('remove', (c) => {
      const pid = backendPid(c);
      if (pid !== null) this.ownPids.delete(pid);
    });
    // an idle connection that dies is dropped by the pool; without a handler it would crash us
    pool.on('error', (e) => warn('postgres pool connection lost', e));
  }

  /** Connect, create or upgrade the schema, and (unless disabled) start listening for changes. */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = new Pool({
      connectionString: url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
      application_name: 'vouch',
    });
    const store = new PostgresStore(url, pool);
    try {
      await migrate(pool);
      if (opts.listen ?? true) await store.startListening();
      return store;
    } catch (e) {
      await store.close().catch(() => undefined);
      throw e;
    }
  }

  async getCurrent(gun: string, role: string): Promise<StoredFile | null> {
    const { rows } = await this.pool.query<PgFileRow>(
      `SELECT ${FILE_COLUMNS} FROM tuf_files WHERE gun = $1 AND role = $2 ORDER BY version DESC LIMIT 1`,
      [gun, role],
    );
    return rows[0] ? storedFile(rows[0]) : null;
  }

  async getByVersion(gun: string, role: string, version: number): Promise<StoredFile | null> {
    if (!Number.isSafeInteger(version)) return null;
    const { rows } = await this.pool.query<PgFileRow>(
      `SELECT ${FILE_COLUMNS} FROM tuf_files WHERE gun = $1 AND role = $2 AND version = $3`,
      [gun, role, version],
    );
    return rows[0] ? storedFile(rows[0]) : null;
  }

  async getByChecksum(gun: string, role: string, sha256hex: string): Promise<StoredFile | null> {
    const { rows } = await this.pool.query<PgFileRow>(
      `SELECT ${FILE_COLUMNS} FROM tuf_files WHERE gun = $1 AND role = $2 AND sha256 = $3
       ORDER BY version DESC LIMIT 1`,
      [gun, role, sha256hex.toLowerCase()],
    );
    return rows[0] ? storedFile(rows[0]) : null;
  }

  async update(gun: string, files: NewFile[]): Promise<StoredUpdate> {
    const batch = prepareBatch(gun, files);
    const minimums = minVersionByRole(batch);
    // not pool.query: it closes the connection after any error, and a lost race is an error
    const c = await this.pool.connect();
    let broken: Error | undefined;
    let rows: PublishedRow[];
    try {
      // one statement, so one round trip and its own transaction (see vouch_publish above)
      ({ rows } = await c.query<PublishedRow>(
        'SELECT * FROM vouch_publish($1, $2, $3::bigint[], $4, $5::bytea[], $6::text[], $7::bigint[], $8, $9, $10)',
        [
          gun,
          batch.map((f) => f.role),
          batch.map((f) => f.version),
          batch.map((f) => f.sha256),
          batch.map((f) => f.bytes),
          [...minimums.keys()],
          [...minimums.values()],
          LOCK_GUN,
          LOCK_CHANGEFEED,
          CHANGE_CHANNEL,
        ],
      ));
    } catch (e) {
      const state = sqlState(e);
      if (state === VERSION_CONFLICT) {
        const { message, detail } = e as { message: string; detail?: string };
        throw new VersionConflictError(message, Number(detail));
      }
      // unique_violation: a writer that got past the lock check some other way; same answer
      if (state === '23505') {
        const first = batch[0] as NewFile;
        throw new VersionConflictError(first.role, first.version);
      }
      // an error the database answered leaves the connection usable; anything else does not
      if (state === undefined) broken = e instanceof Error ? e : new Error(String(e));
      throw e;
    } finally {
      c.release(broken);
    }
    const created = new Map(rows.filter((r) => r.out_kind === 'file').map((r) => [`${r.out_role}\u0000${r.out_version}`, r.out_created]));
    const stored: StoredUpdate = {
      files: batch.map((f) => {
        const createdAt = created.get(`${f.role}\u0000${f.version}`);
        if (!createdAt) throw new Error(`vouch_publish did not report ${f.role} v${f.version} of ${gun}`);
        return storedFile({ gun, role: f.role, version: String(f.version), sha256: f.sha256, data: f.bytes, created_at: createdAt });
      }),
      changes: rows
        .filter((r) => r.out_kind === 'change')
        .map((r) => changeRecord({ id: r.out_id, created_at: r.out_created, gun, version: r.out_version, sha256: r.out_sha256, category: 'update' })),
    };
    this.emit(gun);
    return stored;
  }

  async deleteGun(gun: string): Promise<boolean> {
    assertGunAndRole(gun);
    const deleted = await inTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_GUN, gun]);
      // exact match: `a/b` must not take `a/bc` or `a/b/c` with it
      const res = await c.query('DELETE FROM tuf_files WHERE gun = $1', [gun]);
      // like Notary: no deletion record when there was nothing to delete
      if ((res.rowCount ?? 0) === 0) return false;
      await c.query('SELECT pg_advisory_xact_lock($1, 0)', [LOCK_CHANGEFEED]);
      await c.query("INSERT INTO changefeed (gun, version, sha256, category) VALUES ($1, 0, '', 'deletion')", [gun]);
      await c.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, gun]);
      return true;
    });
    if (deleted) this.emit(gun);
    return deleted;
  }

  async changes(q: ChangeQuery): Promise<ChangeRecord[]> {
    const w = changeWindow(q);
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (q.gun !== undefined) {
      args.push(q.gun);
      where.push(`gun = $${args.length}`);
    }
    if (!w.reversed) {
      args.push(w.afterId);
      where.push(`id > $${args.length}`);
    } else if (w.beforeId !== null) {
      args.push(w.beforeId);
      where.push(`id < $${args.length}`);
    }
    args.push(w.limit);
    const sql =
      'SELECT id, created_at, gun, version, sha256, category FROM changefeed' +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ` ORDER BY id ${w.reversed ? 'DESC' : 'ASC'} LIMIT $${args.length}`;
    const { rows } = await this.pool.query<PgChangeRow>(sql, args);
    // always oldest to newest
    if (w.reversed) rows.reverse();
    return rows.map(changeRecord);
  }

  onChange(listener: (gun: string) => void): void {
    this.listeners.push(listener);
  }

  async health(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    const lc = this.listenClient;
    this.listenClient = null;
    if (lc) await lc.end().catch(() => undefined);
    await this.pool.end();
  }

  private emit(gun: string): void {
    for (const l of this.listeners) {
      try {
        l(gun);
      } catch (e) {
        // the write is committed; a failing listener must not turn it into an error
        warn('storage change listener failed', e);
      }
    }
  }

  private onNotification(n: Notification): void {
    if (n.channel !== CHANGE_CHANNEL || !n.payload) return;
    // this store's own writes were announced when they committed
    if (this.ownPids.has(n.processId)) return;
    this.emit(n.payload);
  }

  private async startListening(): Promise<void> {
    // named, so an operator (or a test) can tell it from the pool in pg_stat_activity
    const c = new Client({
      connectionString: this.url,
      application_name: 'vouch-listen',
      keepAlive: true,
      // a ping that gets no answer counts as a lost connection
      query_timeout: 10_000,
    });
    let lost = false;
    const onLost = (e?: unknown) => {
      if (lost) return;
      lost = true;
      if (this.listenClient === c) {
        this.listenClient = null;
        if (this.pingTimer) clearInterval(this.pingTimer);
        this.pingTimer = null;
      }
      if (e !== undefined) warn('postgres change listener lost', e);
      c.end().catch(() => undefined);
      this.scheduleReconnect();
    };
    c.on('notification', (n) => this.onNotification(n));
    c.on('error', onLost);
    c.on('end', () => onLost());
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANGE_CHANNEL}`);
      const { rows } = await c.query<{ now: Date }>('SELECT clock_timestamp() AS now');
      if (this.closed) {
        lost = true;
        await c.end();
        return;
      }
      const previous = this.listeningSince;
      this.listeningSince = rows[0]?.now ?? new Date();
      this.listenClient = c;
      this.reconnectDelayMs = 100;
      this.pingTimer = setInterval(() => {
        c.query<{ now: Date }>('SELECT clock_timestamp() AS now').then(
          (r) => {
            if (this.listenClient === c && r.rows[0]) this.listeningSince = r.rows[0].now;
          },
          (e: unknown) => onLost(e),
        );
      }, LISTEN_PING_MS);
      this.pingTimer.unref();
      if (previous !== null) {
        try {
          await this.catchUp(previous);
        } catch (e) {
          // try again from the same point on the next connection
          this.listeningSince = previous;
          onLost(e);
        }
      }
    } catch (e) {
      lost = true;
      await c.end().catch(() => undefined);
      throw e;
    }
  }

  /**
   * After a gap in listening, announce every GUN written or deleted since a little before the
   * old listener was last known alive (a superset of what the gap can have hidden).
   */
  private async catchUp(since: Date): Promise<void> {
    const from = new Date(since.getTime() - CATCH_UP_SLACK_MS);
    const { rows } = await this.pool.query<{ gun: string }>(
      `SELECT gun FROM tuf_files WHERE created_at >= $1
       UNION SELECT gun FROM changefeed WHERE created_at >= $1 AND category = 'deletion'`,
      [from],
    );
    for (const r of rows) this.emit(r.gun);
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(delay * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.startListening().catch((e: unknown) => {
        warn('postgres change listener reconnect failed', e);
        this.scheduleReconnect();
      });
    }, delay);
    this.reconnectTimer.unref();
  }
}
