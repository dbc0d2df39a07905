/**
 * The key store on PostgreSQL (pg). Same tables and rules as the SQLite store.
 */
import { Pool, PoolClient } from 'pg';
import { SignerError } from '../errors';
import { CheckDbRow, KeyDbRow, toCheck, toKeyRow } from './rows';
import { AliasCheck, KeyRow, KeyStore, Reseal, StoredAlgorithm } from './types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vouch_signer_keys (
  key_id TEXT PRIMARY KEY,
  algorithm TEXT NOT NULL,
  gun TEXT NOT NULL,
  role TEXT NOT NULL,
  public BYTEA NOT NULL,
  passphrase_alias TEXT NOT NULL,
  encryption_alg TEXT NOT NULL DEFAULT 'A256GCM',
  kdf TEXT NOT NULL,
  kdf_salt BYTEA NOT NULL,
  nonce BYTEA NOT NULL,
  private BYTEA NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  last_used TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS vouch_signer_keys_pending ON vouch_signer_keys (gun, role, algorithm, last_used, key_id);
CREATE INDEX IF NOT EXISTS vouch_signer_keys_alias ON vouch_signer_keys (passphrase_alias);
CREATE TABLE IF NOT EXISTS vouch_signer_aliases (
  alias TEXT PRIMARY KEY,
  kdf TEXT NOT NULL,
  kdf_salt BYTEA NOT NULL,
  nonce BYTEA NOT NULL,
  sealed BYTEA NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
`;

type PgKeyRow = KeyDbRow<Date>;
type PgCheckRow = CheckDbRow<Date>;

/** pg returns TIMESTAMPTZ columns as Date already. */
const asDate = (v: Date): Date => v;
const keyRow = (r: PgKeyRow): KeyRow => toKeyRow(r, asDate);
const checkRow = (r: PgCheckRow): AliasCheck => toCheck(r, asDate);

export class PostgresKeyStore implements KeyStore {
  private readonly pool: Pool;

  constructor(url: string) {
    this.pool = new Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
    // an idle client losing its connection must not crash the process; the next query reports it
    this.pool.on('error', () => undefined);
  }

  private async query<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query(sql, params)).rows as R[];
    } catch (e) {
      throw new SignerError('STORAGE', `key database query failed: ${(e as Error).message}`, { cause: e });
    }
  }

  private async transaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw new SignerError('STORAGE', `cannot reach the key database: ${(e as Error).message}`, { cause: e });
    }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e instanceof SignerError ? e : new SignerError('STORAGE', `key database transaction failed: ${(e as Error).message}`, { cause: e });
    } finally {
      client.release();
    }
  }

  async init(): Promise<void> {
    // concurrent first starts must not race on CREATE TABLE
    await this.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(7346020110)');
      await c.query(SCHEMA);
    });
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async insertKey(row: KeyRow): Promise<void> {
    await this.query(
      `INSERT INTO vouch_signer_keys (key_id, algorithm, gun, role, public, passphrase_alias, kdf, kdf_salt, nonce, private, created_at, last_used)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [row.keyId, row.algorithm, row.gun, row.role, row.public, row.alias, row.kdf, row.kdfSalt, row.nonce, row.sealed, row.createdAt, row.lastUsed],
    );
  }

  async getKey(keyId: string): Promise<KeyRow | null> {
    const rows = await this.query<PgKeyRow>('SELECT * FROM vouch_signer_keys WHERE key_id = $1', [keyId]);
    return rows[0] ? keyRow(rows[0]) : null;
  }

  async findPendingKey(gun: string, role: string, algorithm: StoredAlgorithm): Promise<KeyRow | null> {
    const rows = await this.query<PgKeyRow>(
      `SELECT * FROM vouch_signer_keys WHERE gun = $1 AND role = $2 AND algorithm = $3 AND last_used IS NULL
       ORDER BY key_id COLLATE "C" LIMIT 1`,
      [gun, role, algorithm],
    );
    return rows[0] ? keyRow(rows[0]) : null;
  }

  async markUsed(keyId: string, at: Date): Promise<void> {
    await this.query('UPDATE vouch_signer_keys SET last_used = $1 WHERE key_id = $2 AND last_used IS NULL', [at, keyId]);
  }

  async deleteKey(keyId: string): Promise<boolean> {
    const rows = await this.query<{ key_id: string }>('DELETE FROM vouch_signer_keys WHERE key_id = $1 RETURNING key_id', [keyId]);
    return rows.length > 0;
  }

  async deleteGunKeys(gun: string): Promise<string[]> {
    const rows = await this.query<{ key_id: string }>('DELETE FROM vouch_signer_keys WHERE gun = $1 RETURNING key_id', [gun]);
    return rows.map((r) => r.key_id).sort();
  }

  async aliasesInUse(): Promise<string[]> {
    const rows = await this.query<{ a: string }>('SELECT DISTINCT passphrase_alias AS a FROM vouch_signer_keys ORDER BY a');
    return rows.map((r) => r.a);
  }

  async anyKeyOfAlias(alias: string): Promise<KeyRow | null> {
    const rows = await this.query<PgKeyRow>('SELECT * FROM vouch_signer_keys WHERE passphrase_alias = $1 ORDER BY key_id COLLATE "C" LIMIT 1', [alias]);
    return rows[0] ? keyRow(rows[0]) : null;
  }

  async getAliasCheck(alias: string): Promise<AliasCheck | null> {
    const rows = await this.query<PgCheckRow>('SELECT * FROM vouch_signer_aliases WHERE alias = $1', [alias]);
    return rows[0] ? checkRow(rows[0]) : null;
  }

  async putAliasCheck(c: AliasCheck): Promise<void> {
    await this.query(
      'INSERT INTO vouch_signer_aliases (alias, kdf, kdf_salt, nonce, sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (alias) DO NOTHING',
      [c.alias, c.kdf, c.kdfSalt, c.nonce, c.sealed, c.createdAt],
    );
  }

  async listKeys(): Promise<KeyRow[]> {
    return (await this.query<PgKeyRow>('SELECT * FROM vouch_signer_keys ORDER BY key_id COLLATE "C"')).map(keyRow);
  }

  async reseal(updates: Reseal[], check: AliasCheck, dropAliases: string[]): Promise<void> {
    await this.transaction(async (c) => {
      for (const u of updates) {
        const r = await c.query('UPDATE vouch_signer_keys SET passphrase_alias = $1, kdf = $2, kdf_salt = $3, nonce = $4, private = $5 WHERE key_id = $6', [
          u.alias,
          u.kdf,
          u.kdfSalt,
          u.nonce,
          u.sealed,
          u.keyId,
        ]);
        if (r.rowCount !== 1) throw new SignerError('STORAGE', `key ${u.keyId} disappeared during re-encryption`);
      }
      await c.query(
        `INSERT INTO vouch_signer_aliases (alias, kdf, kdf_salt, nonce, sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (alias) DO UPDATE SET kdf = EXCLUDED.kdf, kdf_salt = EXCLUDED.kdf_salt, nonce = EXCLUDED.nonce, sealed = EXCLUDED.sealed, created_at = EXCLUDED.created_at`,
        [check.alias, check.kdf, check.kdfSalt, check.nonce, check.sealed, check.createdAt],
      );
      for (const a of dropAliases) await c.query('DELETE FROM vouch_signer_aliases WHERE alias = $1', [a]);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
