/**
 * Moving a real Notary 0.7 deployment to vouch, end to end: Debian's notary-server and
 * notary-signer on a private PostgreSQL, repositories published with the real notary client,
 * then Notary stopped, scripts/migrate-notary.js run against its databases, and vouch started on
 * the same URL. The client's trust dir is not touched: it must keep listing, verifying and
 * publishing, and the publishes need the migrated online keys to sign.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { DevPki, ensureDevPki } from '../../scripts/devpki';
import { openStore, SqliteStore } from '../../server/storage';
import { SqliteKeyStore } from '../../signer/store';
import { parseMetadata, PublicKey, verifySignature } from '../../tuf';
import { describeWith, PG_BIN_DIRS } from '../helpers/interop';
import { freePort, httpsGet } from '../helpers/net';
import { createNotaryDatabase, notaryClientPassphrases, remoteTrustService, startNotaryServer, startNotarySigner } from '../helpers/notary';
import { PostgresCluster, startPostgres } from '../helpers/postgres';
import { run, startProcess, stopAll } from '../helpers/proc';
import { keyService, writeSignerConfig } from '../signer/harness';

const DIST = path.resolve(__dirname, '../../dist');
const APP = 'example.com/migrate/app';
const SERVER_SNAPSHOT = 'example.com/migrate/server-snapshot';
const GONE = 'example.com/migrate/deleted';
const ED25519_GUN = 'example.com/migrate/ed25519';
const NOTARY_ALIAS_PASS = 'notary-signer-alias-passphrase-e2e';
const VOUCH_ALIAS_PASS = 'vouch-signer-alias-passphrase-e2e';
const CLIENT_ENV = notaryClientPassphrases('migrate-e2e');

async function query<T extends object>(url: string, sql: string): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

describeWith(
  ['notary', 'notary-server', 'notary-signer', 'initdb', 'postgres'],
  'migrating a real Notary 0.7 deployment (PostgreSQL) to vouch',
  () => {
    let work: string;
    let pki: DevPki;
    let ca: Buffer;
    let pg: PostgresCluster;
    let serverDb: string;
    let signerDb: string;
    /** the one URL clients know, served first by notary-server, then by vouch-server */
    let port: number;
    let url: string;
    const payload = Buffer.from('an artifact signed before the migration\n');
    const payloadSha = crypto.createHash('sha256').update(payload).digest('hex');

    const notary = async (trustDir: string, args: string[]) => {
      const r = await run('notary', ['-s', url, '--tlscacert', pki.caCert, '-d', path.join(work, trustDir), ...args], {
        env: { ...process.env, ...CLIENT_ENV },
        cwd: work,
        timeoutMs: 60000,
      });
      if (r.code !== 0) throw new Error(`notary ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
      return r.stdout + r.stderr;
    };
    const tuf = async (gun: string, file: string) => {
      const res = await httpsGet(`${url}/v2/${gun}/_trust/tuf/${file}`, ca);
      return res;
    };

    beforeAll(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-migrate-e2e-'));
      pki = ensureDevPki(path.join(work, 'pki'));
      ca = fs.readFileSync(pki.caCert);
      fs.writeFileSync(path.join(work, 'payload.txt'), payload);
      pg = await startPostgres();
      serverDb = await createNotaryDatabase(pg, 'notaryserver', 'server');
      signerDb = await createNotaryDatabase(pg, 'notarysigner', 'signer');
      port = await freePort();
      url = `https://localhost:${port}`;
    }, 60000);

    afterAll(async () => {
      await stopAll();
      await pg?.stop();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    const listing: Record<string, string> = {};
    const onlineKeys: Record<string, string> = {};
    let ed25519Key: PublicKey;

    it('the real notary client publishes to the real notary-server + notary-signer on PostgreSQL', async () => {
      const notarySigner = await startNotarySigner({
        dir: work,
        pki,
        storage: { backend: 'postgres', url: signerDb, alias: 'notaryalias', passphrase: NOTARY_ALIAS_PASS },
      });
      const notaryServer = await startNotaryServer({ dir: work, pki, port, signer: { port: notarySigner.port }, storage: { backend: 'postgres', url: serverDb } });

      // a repository with the default layout: the server holds the timestamp key
      await notary('trust', ['init', APP, '-p']);
      await notary('trust', ['add', APP, 'hello', 'payload.txt', '-p']);
      await notary('trust', ['addhash', APP, 'v1', '29', '--sha256', '9be8dca9978b667e589a2b70873242aa1325da4d7559d64371e62c370348bea5', '-p']);
      // one whose snapshot key the server holds too (as Docker sets repositories up)
      await notary('trust', ['init', SERVER_SNAPSHOT]);
      await notary('trust', ['key', 'rotate', SERVER_SNAPSHOT, 'snapshot', '-r']);
      await notary('trust', ['publish', SERVER_SNAPSHOT]);
      await notary('trust', ['addhash', SERVER_SNAPSHOT, 'v1', '12', '--sha256', payloadSha, '-p']);
      // and one that was deleted: its files are gone from tuf_files, a deletion record stays
      await notary('other', ['init', GONE, '-p']);
      await notary('other', ['delete', GONE, '--remote']);

      listing[APP] = await notary('trust', ['list', APP]);
      expect(listing[APP]).toMatch(new RegExp(`hello\\s+${payloadSha}\\s+${payload.length}\\s+targets`));
      listing[SERVER_SNAPSHOT] = await notary('trust', ['list', SERVER_SNAPSHOT]);
      expect(listing[SERVER_SNAPSHOT]).toMatch(new RegExp(`v1\\s+${payloadSha}\\s+12\\s+targets`));

      for (const [gun, role] of [
        [APP, 'timestamp'],
        [SERVER_SNAPSHOT, 'timestamp'],
        [SERVER_SNAPSHOT, 'snapshot'],
      ] as const) {
        const md = parseMetadata((await tuf(gun, `${role}.json`)).body, role);
        expect(md.signatures).toHaveLength(1);
        onlineKeys[`${gun} ${role}`] = md.signatures[0]?.keyid as string;
      }

      // notary-signer also holds an ed25519 key (a server configured with key_algorithm ed25519)
      const ks = keyService(pki, notarySigner.port);
      try {
        ed25519Key = await ks.createKey(ED25519_GUN, 'timestamp', 'ed25519');
      } finally {
        await ks.close();
      }
      expect(ed25519Key.keytype).toBe('ed25519');

      // cut-over: Notary stops
      await notaryServer.proc.stop();
      await notarySigner.proc.stop();
    }, 180000);

    const vouchServerConfig = () => path.join(work, 'vouch-server.json');
    const vouchSignerConfig = () => path.join(work, 'vouch-signer.json');
    let vouchSignerPort: number;
    const migrate = (extraEnv: Record<string, string> = {}) =>
      run(
        process.execPath,
        [
          path.join(DIST, 'scripts/migrate-notary.js'),
          '--notary-server-db', serverDb,
          '--notary-signer-db', signerDb,
          '--alias-passphrase', 'notaryalias=OLD_NOTARY_PASSPHRASE',
          '--to-server-config', vouchServerConfig(),
          '--to-signer-config', vouchSignerConfig(),
        ],
        { env: { ...process.env, OLD_NOTARY_PASSPHRASE: NOTARY_ALIAS_PASS, NOTARY_SIGNER_VOUCHALIAS: VOUCH_ALIAS_PASS, ...extraEnv }, timeoutMs: 120000 },
      );

    it('migrate-notary refuses a wrong Notary passphrase and writes nothing', async () => {
      vouchSignerPort = await freePort();
      writeSignerConfig(vouchSignerConfig(), { pki, port: vouchSignerPort, storage: { backend: 'sqlite', path: 'vouch-signer.db' }, alias: 'vouchalias', level: 'info' });
      fs.writeFileSync(
        vouchServerConfig(),
        JSON.stringify({
          server: { http_addr: `127.0.0.1:${port}`, tls_cert_file: pki.serverCert, tls_key_file: pki.serverKey },
          trust_service: remoteTrustService(pki, vouchSignerPort),
          storage: { backend: 'sqlite', path: 'vouch-server.db' },
        }),
      );
      const r = await migrate({ OLD_NOTARY_PASSPHRASE: 'not the passphrase' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/passphrase of alias "notaryalias" does not open it/);
      expect(r.stdout + r.stderr).not.toContain(VOUCH_ALIAS_PASS);
      expect(fs.existsSync(path.join(work, 'vouch-server.db'))).toBe(false);
      const keys = new SqliteKeyStore(path.join(work, 'vouch-signer.db'));
      await keys.init();
      expect(await keys.listKeys()).toEqual([]);
      await keys.close();
    }, 60000);

    it('imports every stored version, the changefeed and the online keys', async () => {
      const r = await migrate();
      if (r.code !== 0) throw new Error(`migrate-notary failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
      const files = await query<{ gun: string; role: string; version: number; data: Buffer }>(serverDb, 'SELECT gun, role, version, data FROM tuf_files ORDER BY id');
      const keyRows = await query<{ key_id: string; role: string }>(signerDb, 'SELECT key_id, role FROM private_keys ORDER BY key_id');
      expect(r.stdout).toContain(`metadata: 2 GUN(s), ${files.length} file(s) imported, 0 already present`);
      expect(r.stdout).toContain(`keys: ${keyRows.length} key(s) imported`);
      expect(r.stdout).toContain('checked 2 repositories: current roots and timestamps verify, and vouch-signer holds every timestamp key they name');
      expect(r.stdout).not.toContain(NOTARY_ALIAS_PASS);

      const store = SqliteStore.open(path.join(work, 'vouch-server.db'), { watchIntervalMs: 0 });
      try {
        for (const f of files) expect((await store.getByVersion(f.gun, f.role, f.version))?.bytes.equals(f.data)).toBe(true);
        expect(await store.getCurrent(GONE, 'root')).toBeNull();
        // the changefeed: Notary's update records of the repositories that still exist, in order
        const notaryFeed = await query<{ gun: string; version: number; sha256: string; category: string }>(serverDb, 'SELECT gun, version, sha256, category FROM changefeed ORDER BY id');
        expect(notaryFeed.some((c) => c.gun === GONE && c.category === 'deletion')).toBe(true);
        const ours = await store.changes({ changeId: '0', records: 1000 });
        expect(ours.map((c) => [c.gun, c.version, c.sha256, c.category])).toEqual(
          notaryFeed.filter((c) => c.gun !== GONE).map((c) => [c.gun, c.version, c.sha256.trim(), c.category]),
        );
      } finally {
        await store.close();
      }

      const keys = new SqliteKeyStore(path.join(work, 'vouch-signer.db'));
      await keys.init();
      try {
        const stored = await keys.listKeys();
        expect(stored.map((k) => k.keyId).sort()).toEqual(keyRows.map((k) => k.key_id).sort());
        expect(new Set(stored.map((k) => k.alias))).toEqual(new Set(['vouchalias']));
        for (const id of Object.values(onlineKeys)) expect(stored.some((k) => k.keyId === id)).toBe(true);
      } finally {
        await keys.close();
      }
    }, 120000);

    it('imports into a PostgreSQL-backed vouch-server just the same (metadata only)', async () => {
      const target = await pg.createDatabase('vouch_server');
      const cfg = path.join(work, 'vouch-server-pg.json');
      const base = JSON.parse(fs.readFileSync(vouchServerConfig(), 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(cfg, JSON.stringify({ ...base, storage: { backend: 'postgres', db_url: target } }));
      const r = await run(process.execPath, [path.join(DIST, 'scripts/migrate-notary.js'), '--notary-server-db', serverDb, '--to-server-config', cfg], { timeoutMs: 120000 });
      if (r.code !== 0) throw new Error(`migrate-notary failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
      expect(r.stdout).toContain('checked 2 repositories: current roots and timestamps verify\n');
      const theirs = await query<{ gun: string; role: string; version: number; data: Buffer }>(serverDb, 'SELECT gun, role, version, data FROM tuf_files ORDER BY id');
      const store = await openStore({ backend: 'postgres', url: target, listen: false });
      try {
        for (const f of theirs) expect((await store.getByVersion(f.gun, f.role, f.version))?.bytes.equals(f.data)).toBe(true);
        expect(await store.changes({ changeId: '0', records: 1000 })).toHaveLength(theirs.filter((f) => f.role === 'timestamp').length);
      } finally {
        await store.close();
      }
    }, 60000);

    describe('vouch on the migrated data, same URL, same client trust dir', () => {
      beforeAll(async () => {
        const signer = startProcess(process.execPath, [path.join(DIST, 'signer/main.js'), '--config', vouchSignerConfig()], {
          env: { ...process.env, NOTARY_SIGNER_VOUCHALIAS: VOUCH_ALIAS_PASS },
        });
        await signer.waitFor(/vouch-signer listening/, 60000);
        const server = startProcess(process.execPath, [path.join(DIST, 'server/main.js'), '--config', vouchServerConfig()]);
        await server.waitFor(/vouch-server listening on/, 60000);
      }, 120000);

      it('the existing trust dir lists, looks up and verifies what Notary served', async () => {
        expect(await notary('trust', ['list', APP])).toBe(listing[APP]);
        expect(await notary('trust', ['lookup', APP, 'hello'])).toContain(`hello sha256:${payloadSha} ${payload.length}`);
        await notary('trust', ['verify', APP, 'hello', '-i', 'payload.txt', '-q']);
        expect(await notary('trust', ['list', SERVER_SNAPSHOT])).toBe(listing[SERVER_SNAPSHOT]);
      }, 60000);

      it('publishes: the migrated timestamp key signs the new timestamp', async () => {
        await notary('trust', ['addhash', APP, 'v2', '30', '--sha256', payloadSha, '-p']);
        const ts = parseMetadata((await tuf(APP, 'timestamp.json')).body, 'timestamp');
        expect(ts.signatures.map((s) => s.keyid)).toEqual([onlineKeys[`${APP} timestamp`]]);
        expect(await notary('trust', ['list', APP])).toMatch(new RegExp(`v2\\s+${payloadSha}\\s+30\\s+targets`));
      }, 60000);

      it('publishes where the server holds the snapshot key: the migrated snapshot key signs', async () => {
        await notary('trust', ['addhash', SERVER_SNAPSHOT, 'v2', '12', '--sha256', payloadSha, '-p']);
        const snap = parseMetadata((await tuf(SERVER_SNAPSHOT, 'snapshot.json')).body, 'snapshot');
        expect(snap.body.version).toBeGreaterThan(1);
        expect(snap.signatures.map((s) => s.keyid)).toEqual([onlineKeys[`${SERVER_SNAPSHOT} snapshot`]]);
        const ts = parseMetadata((await tuf(SERVER_SNAPSHOT, 'timestamp.json')).body, 'timestamp');
        expect(ts.signatures.map((s) => s.keyid)).toEqual([onlineKeys[`${SERVER_SNAPSHOT} timestamp`]]);
        expect(await notary('trust', ['list', SERVER_SNAPSHOT])).toMatch(new RegExp(`v2\\s+${payloadSha}\\s+12\\s+targets`));
      }, 60000);

      it('a client with a fresh trust dir trusts on first use and sees history and new targets', async () => {
        const list = await notary('fresh', ['list', APP]);
        expect(list).toMatch(new RegExp(`hello\\s+${payloadSha}\\s+${payload.length}\\s+targets`));
        expect(list).toMatch(new RegExp(`v2\\s+${payloadSha}\\s+30\\s+targets`));
        // old versions stay addressable, as Notary served them
        expect((await tuf(APP, '1.root.json')).status).toBe(200);
        expect((await tuf(GONE, 'root.json')).status).toBe(404);
      }, 60000);

      it('the migrated ed25519 key (from notary-signer) signs through vouch-signer', async () => {
        const ks = keyService(pki, vouchSignerPort);
        try {
          const info = await ks.getKeyInfo(ed25519Key.id);
          expect(info?.key.publicB64).toBe(ed25519Key.publicB64);
          expect(info?.role).toBe('timestamp');
          const msg = Buffer.from('signed after the migration');
          expect(verifySignature(ed25519Key, 'eddsa', msg, await ks.sign(ed25519Key.id, msg))).toBe(true);
        } finally {
          await ks.close();
        }
      });

      it('running the migration again changes nothing', async () => {
        const r = await migrate();
        if (r.code !== 0) throw new Error(`migrate-notary failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
        expect(r.stdout).toMatch(/metadata: 2 GUN\(s\), 0 file\(s\) imported, \d+ already present; 0 changefeed record\(s\) added/);
        expect(r.stdout).toMatch(/keys: 0 key\(s\) imported under alias "vouchalias", \d+ already present/);
        expect(await notary('trust', ['list', APP])).toMatch(/v2/);
      }, 60000);
    });
  },
  PG_BIN_DIRS,
);
