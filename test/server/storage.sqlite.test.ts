/**
 * The storage contract on real SQLite files, plus what only SQLite has: WAL and FULL sync,
 * schema versioning, and two processes racing on one file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../../server/storage';
import { SqliteStore } from '../../server/storage/sqlite';
import { storageContract } from './storage.contract';
import { crossProcessSuite } from './storage.race';

let root: string;
let n = 0;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-sqlite-'));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const freshPath = () => path.join(root, `store-${++n}.db`);

storageContract('sqlite', async () => {
  const file = freshPath();
  return {
    store: SqliteStore.open(file, { watchIntervalMs: 50 }),
    openAgain: async () => SqliteStore.open(file, { watchIntervalMs: 50 }),
  };
});

describe('sqlite: file and schema', () => {
  it('opens in WAL mode with synchronous=FULL through openStore', async () => {
    const file = freshPath();
    const store = await openStore({ backend: 'sqlite', path: file });
    try {
      await store.update('example.com/wal', [{ role: 'root', version: 1, bytes: Buffer.from('r') }]);
      expect(fs.existsSync(`${file}-wal`)).toBe(true);
      const db = new Database(file, { readonly: true });
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(db.prepare('SELECT version FROM schema_version').get()).toEqual({ version: 1 });
      } finally {
        db.close();
      }
      const direct = SqliteStore.open(file, { watchIntervalMs: 0 });
      try {
        expect((direct as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true })).toBe(2);
      } finally {
        await direct.close();
      }
    } finally {
      await store.close();
    }
  });

  it('refuses a database whose schema is newer than it understands, leaving it untouched', async () => {
    const file = freshPath();
    await (SqliteStore.open(file)).close();
    const db = new Database(file);
    db.prepare('UPDATE schema_version SET version = 99').run();
    db.close();
    expect(() => SqliteStore.open(file)).toThrow(/schema version 99 is newer/);
    const check = new Database(file, { readonly: true });
    expect(check.prepare('SELECT version FROM schema_version').get()).toEqual({ version: 99 });
    check.close();
  });

  it('reopens an existing database without re-running migrations or losing data', async () => {
    const file = freshPath();
    const a = SqliteStore.open(file);
    await a.update('example.com/reopen', [{ role: 'timestamp', version: 1, bytes: Buffer.from('t') }]);
    await a.close();
    const b = SqliteStore.open(file);
    try {
      expect((await b.getCurrent('example.com/reopen', 'timestamp'))?.version).toBe(1);
      expect(await b.changes({ changeId: '0', records: 10 })).toHaveLength(1);
    } finally {
      await b.close();
    }
  });

  it('fails health once the database is closed', async () => {
    const store = SqliteStore.open(freshPath());
    await expect(store.health()).resolves.toBeUndefined();
    await store.close();
    await expect(store.health()).rejects.toThrow();
  });
});

crossProcessSuite('sqlite', async () => ({ backend: 'sqlite', path: freshPath(), watchIntervalMs: 50 }));
