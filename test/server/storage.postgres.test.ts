/**
 * The storage contract on a real, private PostgreSQL cluster (initdb on a free port), plus what
 * only PostgreSQL has: several processes on one database, LISTEN/NOTIFY, advisory locks.
 */
import { Client } from 'pg';
import { openStore } from '../../server/storage';
import { PostgresStore } from '../../server/storage/postgres';
import { describeWith, PG_BIN_DIRS } from '../helpers/interop';
import { PostgresCluster, startPostgres } from '../helpers/postgres';
import { storageContract } from './storage.contract';
import { crossProcessSuite } from './storage.race';

describeWith(
  ['initdb', 'postgres'],
  'postgres storage',
  () => {
    let pg: PostgresCluster;
    let n = 0;
    const freshDatabase = () => pg.createDatabase(`store_${++n}`);

    beforeAll(async () => {
      pg = await startPostgres();
    }, 60_000);

    afterAll(async () => {
      await pg?.stop();
    });

    storageContract('postgres', async () => {
      const url = await freshDatabase();
      return { store: await PostgresStore.open(url), openAgain: () => PostgresStore.open(url) };
    });

    describe('postgres: schema and connections', () => {
      it('hands out databases only under plain names (the test helper refuses others)', async () => {
        await expect(pg.createDatabase('x"; DROP DATABASE postgres; --')).rejects.toThrow(/must match/);
      });

      it('creates the schema once when several stores open a new database at the same time', async () => {
        const url = await freshDatabase();
        const stores = await Promise.all(Array.from({ length: 4 }, () => openStore({ backend: 'postgres', url })));
        try {
          const c = new Client({ connectionString: url });
          await c.connect();
          try {
            const { rows } = await c.query('SELECT version FROM schema_version');
            // two migrations: the tables, then the one-statement publish function
            expect(rows).toEqual([{ version: 2 }]);
            const fn = await c.query("SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'vouch_publish'");
            expect(fn.rows).toEqual([{ n: 1 }]);
            const cols = await c.query(
              "SELECT data_type FROM information_schema.columns WHERE table_name = 'tuf_files' AND column_name = 'data'",
            );
            expect(cols.rows).toEqual([{ data_type: 'bytea' }]);
          } finally {
            await c.end();
          }
        } finally {
          for (const s of stores) await s.close();
        }
      });

      it('refuses a database whose schema is newer than it understands', async () => {
        const url = await freshDatabase();
        await (await PostgresStore.open(url)).close();
        const c = new Client({ connectionString: url });
        await c.connect();
        await c.query('UPDATE schema_version SET version = 99');
        await c.end();
        await expect(PostgresStore.open(url)).rejects.toThrow(/schema version 99 is newer/);
      });

      it('fails to open, naming the database, when it does not exist', async () => {
        const url = `postgresql://postgres@127.0.0.1:${pg.port}/no_such_database`;
        await expect(PostgresStore.open(url)).rejects.toThrow(/no_such_database/);
      });

      it('catches up on changes made while its LISTEN connection was down, then hears live ones again', async () => {
        const url = await freshDatabase();
        const dbName = url.slice(url.lastIndexOf('/') + 1);
        const a = await PostgresStore.open(url);
        const b = await PostgresStore.open(url, { listen: false });
        // b keeps an open pool connection, so it can still write while new connections are refused
        await b.health();
        const seen: string[] = [];
        a.onChange((g) => seen.push(g));
        const admin = new Client({ connectionString: pg.url });
        await admin.connect();
        const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
        try {
          // a cannot reconnect its listener until connections are allowed again
          await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
          const killed = await admin.query(
            "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND application_name = 'vouch-listen'",
            [dbName],
          );
          expect(killed.rows).toEqual([{ ok: true }]);
          await b.update('example.com/while-deaf', [{ role: 'timestamp', version: 1, bytes: Buffer.from('t') }]);
          await new Promise((r) => setTimeout(r, 500));
          // no live notification could reach a: its listener is down
          expect(seen).toEqual([]);
          expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/change listener/);
          await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
          await waitUntil(() => seen.includes('example.com/while-deaf'), 'the missed change to be caught up');
          // and live notifications work again on the new connection
          await b.update('example.com/after', [{ role: 'timestamp', version: 1, bytes: Buffer.from('t') }]);
          await waitUntil(() => seen.includes('example.com/after'), 'a live change after reconnecting');
        } finally {
          warn.mockRestore();
          await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
          await admin.end();
          await a.close();
          await b.close();
        }
      }, 30_000);

      it('answers health with SELECT 1 and fails it when the database goes away', async () => {
        const url = await freshDatabase();
        const s = await PostgresStore.open(url, { listen: false, connectTimeoutMs: 2000 });
        try {
          await expect(s.health()).resolves.toBeUndefined();
          const admin = new Client({ connectionString: pg.url });
          await admin.connect();
          const name = url.slice(url.lastIndexOf('/') + 1);
          await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
          await admin.end();
          await expect(s.health()).rejects.toThrow();
        } finally {
          await s.close();
        }
      });
    });

    crossProcessSuite('postgres', async () => ({ backend: 'postgres', url: await freshDatabase() }));
  },
  PG_BIN_DIRS,
);

async function waitUntil(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
