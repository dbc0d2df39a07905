/**
 * The SQL tables of a Notary 0.7 deployment on PostgreSQL, for the programs that must stand up a
 * real notary-server / notary-signer (the benchmark's baseline, the migration tests) or read one
 * (scripts/migrate-notary.ts).
 *
 * notary-server and notary-signer do not create their tables, and Debian's package ships no SQL,
 * so these follow Notary's own migrations (migrations/server/postgresql, migrations/signer/
 * postgresql) and gorm models (server/storage/sql_models.go, signer/keydbstore/sql_keydbstore.go):
 * gorm.Model columns (id, created_at, updated_at, deleted_at) plus each model's own columns and
 * unique keys.
 */
import { Client } from 'pg';

export const NOTARY_SERVER_SCHEMA = `
CREATE TABLE tuf_files (
  id SERIAL PRIMARY KEY,
  created_at TIMESTAMP NULL DEFAULT NULL,
  updated_at TIMESTAMP NULL DEFAULT NULL,
  deleted_at TIMESTAMP NULL DEFAULT NULL,
  gun VARCHAR(255) NOT NULL,
  role VARCHAR(255) NOT NULL,
  version INTEGER NOT NULL,
  data BYTEA NOT NULL,
  sha256 CHAR(64) DEFAULT NULL,
  UNIQUE (gun, role, version)
);
CREATE INDEX tuf_files_sha256_idx ON tuf_files (sha256);
CREATE TABLE change_category (category VARCHAR(20) PRIMARY KEY);
INSERT INTO change_category VALUES ('update'), ('deletion');
CREATE TABLE changefeed (
  id SERIAL PRIMARY KEY,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  gun VARCHAR(255) NOT NULL,
  version INTEGER NOT NULL,
  sha256 CHAR(64) DEFAULT NULL,
  category VARCHAR(20) NOT NULL DEFAULT 'update' REFERENCES change_category
);
CREATE INDEX idx_changefeed_gun ON changefeed (gun);
`;

export const NOTARY_SIGNER_SCHEMA = `
CREATE TABLE private_keys (
  id SERIAL PRIMARY KEY,
  created_at TIMESTAMP NULL DEFAULT NULL,
  updated_at TIMESTAMP NULL DEFAULT NULL,
  deleted_at TIMESTAMP NULL DEFAULT NULL,
  key_id VARCHAR(255) NOT NULL,
  encryption_alg VARCHAR(255) NOT NULL,
  keywrap_alg VARCHAR(255) NOT NULL,
  algorithm VARCHAR(50) NOT NULL,
  passphrase_alias VARCHAR(50) NOT NULL,
  public BYTEA NOT NULL,
  private BYTEA NOT NULL,
  gun VARCHAR(255) NOT NULL,
  role VARCHAR(255) NOT NULL,
  last_used TIMESTAMP NULL DEFAULT NULL,
  CONSTRAINT key_id UNIQUE (key_id),
  CONSTRAINT key_id_2 UNIQUE (key_id, algorithm)
);
`;

/** Run a schema script against the database at `url`. */
export async function applyNotarySchema(url: string, sql: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}
