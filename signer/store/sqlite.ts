/**
 * The key store on SQLite (better-sqlite3). The database file is created owner-only; WAL mode
 * with full sync, and secure_delete so removed or re-sealed rows are overwritten on disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { SignerError } from '../errors';
import { CheckDbRow, KeyDbRow, toCheck, toKeyRow } from './rows';
import { AliasCheck, KeyRow, KeyStore, Reseal, StoredAlgorithm } from './types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vouch_signer_keys (
  key_id TEXT PRIMARY KEY,
  algorithm TEXT NOT NULL,
  gun TEXT NOT NULL,
  role TEXT NOT NULL,
  public BLOB NOT NULL,
  passphrase_alias TEXT NOT NULL,
  encryption_alg TEXT NOT NULL DEFAULT 'A256GCM',
  kdf TEXT NOT NULL,
  kdf_salt BLOB NOT NULL,
  nonce BLOB NOT NULL,
  private BLOB NOT NULL,
  created_at TEXT NOT NULL,
  last_used TEXT
);
CREATE INDEX IF NOT EXISTS vouch_signer_keys_pending ON vouch_signer_keys (gun, role, algorithm, last_used, key_id);
CREATE INDEX IF NOT EXISTS vouch_signer_keys_alias ON vouch_signer_keys (passphrase_alias);
CREATE TABLE IF NOT EXISTS vouch_signer_aliases (
  alias TEXT PRIMARY KEY,
  kdf TEXT NOT NULL,
  kdf_salt BLOB NOT NULL,
  nonce BLOB NOT NULL,
  sealed BLOB NOT NULL,
  created_at TEXT NOT NULL
);
`;

type SqliteKeyRow = KeyDbRow<string>;
type SqliteCheckRow = CheckDbRow<string>;

/** SQLite keeps timestamps as ISO 8601 text. */
const parseDate = (v: string): Date => new Date(v);
const keyRow = (r: SqliteKeyRow): KeyRow => toKeyRow(r, parseDate);
const checkRow = (r: SqliteCheckRow): AliasCheck => toCheck(r, parseDate);

export class SqliteKeyStore implements KeyStore {
  private readonly db: Database.Database;
  /** prepared once: preparing costs more than running these small statements */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(file: string) {
    try {
      if (file !== ':memory:') {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        // create the file owner-only before SQLite opens it
        fs.closeSync(fs.openSync(file, 'a', 0o600));
      }
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('secure_delete = ON');
      this.db.pragma('busy_timeout = 5000');
    } catch (e) {
      throw new SignerError('STORAGE', `cannot open the key database ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  async init(): Promise<void> {
    try {
      this.db.exec(SCHEMA);
    } catch (e) {
      throw new SignerError('STORAGE', `cannot prepare the key database: ${(e as Error).message}`, { cause: e });
    }
  }

  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  async ping(): Promise<void> {
    this.sql('SELECT 1').get();
  }

  async insertKey(row: KeyRow): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO vouch_signer_keys (key_id, algorithm, gun, role, public, passphrase_alias, kdf, kdf_salt, nonce, private, created_at, last_used)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        row.keyId,
        row.algorithm,
        row.gun,
        row.role,
        row.public,
        row.alias,
        row.kdf,
        row.kdfSalt,
        row.nonce,
        row.sealed,
        row.createdAt.toISOString(),
        row.lastUsed?.toISOString() ?? null,
      );
  }

  async getKey(keyId: string): Promise<KeyRow | null> {
    const r = this.sql('SELECT * FROM vouch_signer_keys WHERE key_id = ?').get(keyId) as SqliteKeyRow | undefined;
    return r ? keyRow(r) : null;
  }

  async findPendingKey(gun: string, role: string, algorithm: StoredAlgorithm): Promise<KeyRow | null> {
    const r = this.db
      .prepare(
        `SELECT * FROM vouch_signer_keys WHERE gun = ? AND role = ? AND algorithm = ? AND last_used IS NULL
         ORDER BY key_id LIMIT 1`,
      )
      .get(gun, role, algorithm) as SqliteKeyRow | undefined;
    return r ? keyRow(r) : null;
  }

  async markUsed(keyId: string, at: Date): Promise<void> {
    this.sql('UPDATE vouch_signer_keys SET last_used = ? WHERE key_id = ? AND last_used IS NULL').run(at.toISOString(), keyId);
  }

  async deleteKey(keyId: string): Promise<boolean> {
    return this.sql('DELETE FROM vouch_signer_keys WHERE key_id = ?').run(keyId).changes > 0;
  }

  async deleteGunKeys(gun: string): Promise<string[]> {
    const del = this.db.transaction((g: string) => {
      const ids = (this.sql('SELECT key_id FROM vouch_signer_keys WHERE gun = ? ORDER BY key_id').all(g) as { key_id: string }[]).map(
        (r) => r.key_id,
      );
      this.sql('DELETE FROM vouch_signer_keys WHERE gun = ?').run(g);
      return ids;
    });
    return del(gun);
  }

  async aliasesInUse(): Promise<string[]> {
    return (this.sql('SELECT DISTINCT passphrase_alias AS a FROM vouch_signer_keys ORDER BY a').all() as { a: string }[]).map((r) => r.a);
  }

  async anyKeyOfAlias(alias: string): Promise<KeyRow | null> {
    const r = this.sql('SELECT * FROM vouch_signer_keys WHERE passphrase_alias = ? ORDER BY key_id LIMIT 1').get(alias) as SqliteKeyRow | undefined;
    return r ? keyRow(r) : null;
  }

  async getAliasCheck(alias: string): Promise<AliasCheck | null> {
    const r = this.sql('SELECT * FROM vouch_signer_aliases WHERE alias = ?').get(alias) as SqliteCheckRow | undefined;
    return r ? checkRow(r) : null;
  }

  async putAliasCheck(c: AliasCheck): Promise<void> {
    this.db
      .prepare('INSERT INTO vouch_signer_aliases (alias, kdf, kdf_salt, nonce, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (alias) DO NOTHING')
      .run(c.alias, c.kdf, c.kdfSalt, c.nonce, c.sealed, c.createdAt.toISOString());
  }

  async listKeys(): Promise<KeyRow[]> {
    return (this.sql('SELECT * FROM vouch_signer_keys ORDER BY key_id').all() as SqliteKeyRow[]).map(keyRow);
  }

  async reseal(updates: Reseal[], check: AliasCheck, dropAliases: string[]): Promise<void> {
    const tx = this.db.transaction(() => {
      const upd = this.sql('UPDATE vouch_signer_keys SET passphrase_alias = ?, kdf = ?, kdf_salt = ?, nonce = ?, private = ? WHERE key_id = ?');
      for (const u of updates) {
        if (upd.run(u.alias, u.kdf, u.kdfSalt, u.nonce, u.sealed, u.keyId).changes !== 1) {
          throw new SignerError('STORAGE', `key ${u.keyId} disappeared during re-encryption`);
        }
      }
      this.db
        .prepare(
          `INSERT INTO vouch_signer_aliases (alias, kdf, kdf_salt, nonce, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (alias) DO UPDATE SET kdf = excluded.kdf, kdf_salt = excluded.kdf_salt, nonce = excluded.nonce, sealed = excluded.sealed, created_at = excluded.created_at`,
        )
        .run(check.alias, check.kdf, check.kdfSalt, check.nonce, check.sealed, check.createdAt.toISOString());
      const drop = this.sql('DELETE FROM vouch_signer_aliases WHERE alias = ?');
      for (const a of dropAliases) drop.run(a);
    });
    tx();
    // leave nothing of the old ciphertexts in the write-ahead log
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
