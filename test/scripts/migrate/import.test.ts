/**
 * The migration's import steps on real SQLite stores with the real notary 0.7 fixtures: metadata
 * history in notary-server's order with bytes intact, keys re-sealed so that vouch-signer (and
 * nothing else) can use them, both resumable, and every damaged input refused before it is stored.
 * The last part drives scripts/migrate-notary.ts with exported files, as an operator would.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { importKeys, importMetadata, MigrationError } from '../../../scripts/migrate/import';
import { fileRowsFromExport, keyRowsFromExport, NotaryFileRow } from '../../../scripts/migrate/sources';
import { main as migrateMain } from '../../../scripts/migrate-notary';
import { ensureDevPki } from '../../../scripts/devpki';
import { SqliteStore } from '../../../server/storage';
import { Keyring } from '../../../signer/sealing';
import { SigningService } from '../../../signer/service';
import { SqliteKeyStore } from '../../../signer/store';
import { parseMetadata, sha256Hex, verifySignature } from '../../../tuf';
import { FIXTURES, FIXTURE_APP_GUN as APP } from '../../helpers/fixtures';

const NOTARY_PASS = Buffer.from('acceptance-signer-passphrase');
const TARGET_ENV = { NOTARY_SIGNER_VOUCHALIAS: 'the-new-vouch-signer-passphrase' };
const SS = 'example.com/notary-fixtures/server-snapshot';

/** fixture file of each (gun, role, version) we have bytes for */
const FILES: Record<string, string> = {
  [`${APP} root 1`]: 'app/before-root-rotation/root.json',
  [`${APP} targets 5`]: 'app/before-root-rotation/targets.json',
  [`${APP} targets/releases 1`]: 'app/before-root-rotation/targets/releases.json',
  [`${APP} snapshot 6`]: 'app/before-root-rotation/snapshot.json',
  [`${APP} timestamp 5`]: 'app/before-root-rotation/timestamp.json',
  [`${APP} root 2`]: 'app/after-root-rotation/2.root.json',
  [`${APP} snapshot 7`]: 'app/after-root-rotation/snapshot.json',
  [`${APP} timestamp 6`]: 'app/after-root-rotation/timestamp.json',
  [`${SS} root 2`]: 'server-snapshot/root.json',
  [`${SS} targets 3`]: 'server-snapshot/targets.json',
  [`${SS} snapshot 3`]: 'server-snapshot/snapshot.json',
  [`${SS} timestamp 3`]: 'server-snapshot/timestamp.json',
};

/** notary-server's tuf_files rows for which the fixtures hold the bytes, in its order. */
function fixtureRows(): NotaryFileRow[] {
  const tsv = fs.readFileSync(path.join(FIXTURES, 'server-state/server-db-tuf_files.tsv'), 'utf8');
  const rows: NotaryFileRow[] = [];
  for (const line of tsv.trim().split('\n')) {
    const [gun, role, version, sha256, , createdAt] = line.split('\t') as [string, string, string, string, string, string];
    const file = FILES[`${gun} ${role} ${version}`];
    if (!file) continue;
    rows.push({ gun, role, version: Number(version), sha256, data: fs.readFileSync(path.join(FIXTURES, file)), createdAt: new Date(createdAt.replace(' ', 'T')) });
  }
  return rows;
}

async function* iterate(rows: NotaryFileRow[]): AsyncGenerator<NotaryFileRow> {
  for (const r of rows) yield r;
}

describe('importing notary-server metadata into a TufStore', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-migrate-md-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const freshStore = () => SqliteStore.open(path.join(dir, `s${++n}.db`), { watchIntervalMs: 0 });

  it("notary-server's stored checksums are the SHA-256 of the exact bytes (the fixture rows agree)", () => {
    const rows = fixtureRows();
    expect(rows).toHaveLength(Object.keys(FILES).length);
    for (const r of rows) expect(sha256Hex(r.data)).toBe(r.sha256);
  });

  it('imports every version byte for byte, keeps order, and rebuilds the changefeed from the timestamps', async () => {
    const store = freshStore();
    const rows = fixtureRows();
    const summary = await importMetadata(iterate(rows), store);
    expect(summary).toEqual({ guns: 2, gunNames: [APP, SS], imported: rows.length, present: 0, timestamps: 3 });
    for (const r of rows) {
      const got = await store.getByVersion(r.gun, r.role, r.version);
      expect(got?.bytes.equals(r.data)).toBe(true);
      expect((await store.getByChecksum(r.gun, r.role, r.sha256 as string))?.version).toBe(r.version);
    }
    expect((await store.getCurrent(APP, 'root'))?.version).toBe(2);
    expect((await store.getCurrent(APP, 'timestamp'))?.version).toBe(6);
    const feed = await store.changes({ changeId: '0', records: 100 });
    expect(feed.map((c) => [c.gun, c.version, c.sha256, c.category])).toEqual(
      rows.filter((r) => r.role === 'timestamp').map((r) => [r.gun, r.version, r.sha256, 'update']),
    );
    await store.close();
  });

  it('a second run finds everything present and writes nothing (resumable)', async () => {
    const store = freshStore();
    await importMetadata(iterate(fixtureRows()), store);
    const again = await importMetadata(iterate(fixtureRows()), store);
    expect(again).toMatchObject({ guns: 2, imported: 0, present: fixtureRows().length, timestamps: 0 });
    expect(await store.changes({ changeId: '0', records: 100 })).toHaveLength(3);
    await store.close();
  });

  it('a dry run checks everything and writes nothing', async () => {
    const store = freshStore();
    const s = await importMetadata(iterate(fixtureRows()), store, { dryRun: true });
    expect(s.imported).toBe(fixtureRows().length);
    expect(await store.getCurrent(APP, 'root')).toBeNull();
    await store.close();
  });

  const refuses = async (mutate: (rows: NotaryFileRow[]) => NotaryFileRow[], message: RegExp) => {
    const store = freshStore();
    await expect(importMetadata(iterate(mutate(fixtureRows())), store)).rejects.toThrow(message);
    // fail closed: the damaged row is first in its GUN's batch, so nothing of that GUN was stored
    await store.close();
  };

  it('refuses a row whose bytes do not hash to the checksum notary-server stored (altered data)', async () => {
    const store = freshStore();
    const rows = fixtureRows();
    const tampered = rows.map((r, i) => (i === 0 ? { ...r, data: Buffer.from(r.data.toString().replace('"version":1', '"version":1 ')) } : r));
    await expect(importMetadata(iterate(tampered), store)).rejects.toThrow(/does not hash to the checksum notary-server stored/);
    expect(await store.getCurrent(APP, 'root')).toBeNull();
    await store.close();
  });

  it('refuses a row whose file names another version than its row', async () => {
    await refuses((rows) => rows.map((r) => (r.role === 'targets' && r.gun === APP ? { ...r, version: 9, sha256: null } : r)), /the file says version 5/);
  });

  it('refuses rows out of notary-server order (a role going back in version)', async () => {
    await refuses((rows) => {
      const i = rows.findIndex((r) => r.gun === APP && r.role === 'root' && r.version === 2);
      const j = rows.findIndex((r) => r.gun === APP && r.role === 'root' && r.version === 1);
      const out = [...rows];
      [out[i], out[j]] = [out[j] as NotaryFileRow, out[i] as NotaryFileRow];
      return out;
    }, /version 1 comes after version 2/);
  });

  it('refuses a role name Notary would never have stored (path traversal)', async () => {
    await refuses((rows) => rows.map((r, i) => (i === 2 ? { ...r, role: 'targets/../root' } : r)), /not a valid role name/);
  });

  it('refuses bytes that are not metadata of the role', async () => {
    await refuses((rows) => rows.map((r) => (r.gun === APP && r.role === 'snapshot' ? { ...r, data: Buffer.from('{"signed":{}}'), sha256: null } : r)), /not valid snapshot metadata/);
  });

  it('stops when the target already holds other bytes for a version (written outside the migration)', async () => {
    const store = freshStore();
    const rows = fixtureRows();
    const ts = rows.find((r) => r.role === 'timestamp' && r.gun === SS) as NotaryFileRow;
    await store.update(SS, [{ role: 'root', version: 2, bytes: Buffer.from(parseMetadata(ts.data, 'timestamp').bytes) }]);
    await expect(importMetadata(iterate(rows), store)).rejects.toThrow(/holds different bytes for this version/);
    await store.close();
  });
});

describe('importing notary-signer keys into the vouch-signer key store', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-migrate-keys-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rows = keyRowsFromExport(path.join(FIXTURES, 'server-state/signer-private-keys.json'));
  const notaryPassphrase = (alias: string) => (alias === 'acceptancealias' ? NOTARY_PASS : null);

  it('re-seals every key under the target alias; vouch-signer then signs with it using only its own passphrase', async () => {
    const dbFile = path.join(dir, 'keys.db');
    const store = new SqliteKeyStore(dbFile);
    await store.init();
    const summary = await importKeys(rows, { store, keyring: new Keyring(TARGET_ENV), defaultAlias: 'vouchalias', notaryPassphrase });
    expect(summary).toEqual({ imported: 3, present: 0, alias: 'vouchalias', byRole: { timestamp: 2, snapshot: 1 } });
    const stored = await store.listKeys();
    expect(stored.map((k) => k.alias)).toEqual(['vouchalias', 'vouchalias', 'vouchalias']);
    // an export without last_used counts the keys as used: CreateKey must not revive them
    expect(stored.every((k) => k.lastUsed !== null)).toBe(true);
    await store.close();

    // a signer started later knows nothing of Notary's passphrase
    const reopened = new SqliteKeyStore(dbFile);
    await reopened.init();
    const service = new SigningService(reopened, new Keyring(TARGET_ENV), { defaultAlias: 'vouchalias' });
    await service.verifyPassphrases();
    const app = rows.find((r) => r.gun === APP) as (typeof rows)[number];
    const info = await service.getKeyInfo(app.keyId);
    expect(info).toMatchObject({ role: 'timestamp', gun: APP });
    const msg = Buffer.from('signed by the migrated timestamp key');
    const made = await service.sign(app.keyId, msg);
    expect(verifySignature(info?.key as NonNullable<typeof info>['key'], made.method, msg, made.sig)).toBe(true);
    const fresh = await service.createKey(APP, 'timestamp', 'ecdsa');
    expect(fresh.id).not.toBe(app.keyId);

    // Notary's passphrase does not open vouch's store
    const wrong = new SigningService(reopened, new Keyring({ NOTARY_SIGNER_VOUCHALIAS: NOTARY_PASS.toString() }), { defaultAlias: 'vouchalias' });
    await expect(wrong.verifyPassphrases()).rejects.toThrow(/wrong passphrase for alias "vouchalias"/);
    await reopened.close();
  });

  it('keeps Notary\'s pending-key state: a key that never signed stays pending', async () => {
    const store = new SqliteKeyStore(path.join(dir, 'pending.db'));
    await store.init();
    const pending = rows.map((r) => ({ ...r, lastUsed: null }));
    await importKeys(pending, { store, keyring: new Keyring(TARGET_ENV), defaultAlias: 'vouchalias', notaryPassphrase });
    const service = new SigningService(store, new Keyring(TARGET_ENV), { defaultAlias: 'vouchalias' });
    await service.verifyPassphrases();
    const app = rows.find((r) => r.gun === APP && r.role === 'timestamp') as (typeof rows)[number];
    // notary-server's GET timestamp.key before the first publish gets the same key back
    expect((await service.createKey(APP, 'timestamp', 'ecdsa')).id).toBe(app.keyId);
    await store.close();
  });

  it('a re-run finds the keys present; a wrong Notary passphrase stores nothing and names the alias', async () => {
    const store = new SqliteKeyStore(path.join(dir, 'rerun.db'));
    await store.init();
    await expect(importKeys(rows, { store, keyring: new Keyring(TARGET_ENV), defaultAlias: 'vouchalias', notaryPassphrase: () => Buffer.from('wrong') })).rejects.toThrow(
      /passphrase of alias "acceptancealias" does not open it/,
    );
    expect(await store.listKeys()).toEqual([]);
    await expect(importKeys(rows, { store, keyring: new Keyring(TARGET_ENV), defaultAlias: 'vouchalias', notaryPassphrase: () => null })).rejects.toThrow(
      /no passphrase for Notary alias "acceptancealias": set NOTARY_SIGNER_ACCEPTANCEALIAS/,
    );
    await importKeys(rows, { store, keyring: new Keyring(TARGET_ENV), defaultAlias: 'vouchalias', notaryPassphrase });
    const again = await importKeys(rows, { store, keyring: new Keyring(TARGET_ENV), defaultAlias: 'vouchalias', notaryPassphrase });
    expect(again).toMatchObject({ imported: 0, present: 3 });
    await store.close();
  });

  it('refuses to import without the target alias passphrase', async () => {
    const store = new SqliteKeyStore(path.join(dir, 'nopass.db'));
    await store.init();
    await expect(importKeys(rows, { store, keyring: new Keyring({}), defaultAlias: 'vouchalias', notaryPassphrase })).rejects.toThrow(/no passphrase for the target signer's alias "vouchalias"/);
    await store.close();
  });
});

describe('scripts/migrate-notary.ts with exported files', () => {
  let dir: string;
  let saved: NodeJS.ProcessEnv;
  let stdout: string;
  let writeSpy: jest.SpyInstance;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-migrate-cli-'));
    const pki = ensureDevPki(path.join(dir, 'tls'));
    fs.writeFileSync(
      path.join(dir, 'server.json'),
      JSON.stringify({
        server: { http_addr: '127.0.0.1:4443', tls_cert_file: pki.serverCert, tls_key_file: pki.serverKey },
        trust_service: { type: 'remote', hostname: '127.0.0.1', port: '7899', tls_ca_file: pki.caCert, tls_client_cert: pki.serverCert, tls_client_key: pki.serverKey },
        storage: { backend: 'sqlite', path: 'server.db' },
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'signer.json'),
      JSON.stringify({
        server: { grpc_addr: '127.0.0.1:7899', tls_cert_file: pki.signerCert, tls_key_file: pki.signerKey, client_ca_file: pki.caCert },
        storage: { backend: 'sqlite', path: 'signer.db', default_alias: 'vouchalias' },
      }),
    );
    // tuf_files as `psql -At -c "SELECT json_build_object(...)"` writes it: base64 in 76-column lines
    const lines = fixtureRows().map((r) =>
      JSON.stringify({ gun: r.gun, role: r.role, version: r.version, sha256: r.sha256, data: (r.data.toString('base64').match(/.{1,76}/g) ?? []).join('\n'), created_at: '2026-11-23 11:49:49.839074' }),
    );
    fs.writeFileSync(path.join(dir, 'tuf_files.jsonl'), `${lines.join('\n')}\n`);
  });
  beforeEach(() => {
    saved = { ...process.env };
    stdout = '';
    writeSpy = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      stdout += s.toString();
      return true;
    });
  });
  afterEach(() => {
    writeSpy.mockRestore();
    process.env = saved;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads the psql export format back exactly', async () => {
    const rows: NotaryFileRow[] = [];
    for await (const r of fileRowsFromExport(path.join(dir, 'tuf_files.jsonl'))) rows.push(r);
    expect(rows.map((r) => r.data.toString('base64'))).toEqual(fixtureRows().map((r) => r.data.toString('base64')));
  });

  it('migrates metadata and keys, mapping the Notary alias to a variable with --alias-passphrase', async () => {
    process.env.OLD_NOTARY_SIGNER_PASSPHRASE = NOTARY_PASS.toString();
    process.env.NOTARY_SIGNER_VOUCHALIAS = TARGET_ENV.NOTARY_SIGNER_VOUCHALIAS;
    const code = await migrateMain([
      '--notary-server-export', path.join(dir, 'tuf_files.jsonl'),
      '--notary-signer-export', path.join(FIXTURES, 'server-state/signer-private-keys.json'),
      '--alias-passphrase', 'acceptancealias=OLD_NOTARY_SIGNER_PASSPHRASE',
      '--to-server-config', path.join(dir, 'server.json'),
      '--to-signer-config', path.join(dir, 'signer.json'),
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/keys: 3 key\(s\) imported \(2 timestamp, 1 snapshot\) under alias "vouchalias", 0 already present/);
    expect(stdout).toMatch(/metadata: 2 GUN\(s\), 12 file\(s\) imported, 0 already present; 3 changefeed record\(s\) added/);
    expect(stdout).toMatch(/checked 2 repositories: current roots and timestamps verify, and vouch-signer holds every timestamp key they name/);
    expect(stdout).not.toContain(NOTARY_PASS.toString());
    const store = SqliteStore.open(path.join(dir, 'server.db'), { watchIntervalMs: 0 });
    expect((await store.getCurrent(APP, 'timestamp'))?.version).toBe(6);
    await store.close();
  });

  it('exits 3 and names each repository whose timestamp key the signer lacks (metadata moved, keys not)', async () => {
    const other = path.join(dir, 'metadata-only');
    fs.mkdirSync(other);
    for (const f of ['server.json', 'signer.json']) fs.copyFileSync(path.join(dir, f), path.join(other, f));
    fs.symlinkSync(path.join(dir, 'tls'), path.join(other, 'tls'));
    process.env.NOTARY_SIGNER_VOUCHALIAS = TARGET_ENV.NOTARY_SIGNER_VOUCHALIAS;
    const stderr: string[] = [];
    const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr.push(s.toString());
      return true;
    });
    try {
      const code = await migrateMain([
        '--notary-server-export', path.join(dir, 'tuf_files.jsonl'),
        '--to-server-config', path.join(other, 'server.json'),
        '--to-signer-config', path.join(other, 'signer.json'),
      ]);
      expect(code).toBe(3);
    } finally {
      errSpy.mockRestore();
    }
    expect(stdout).toMatch(/checked 2 repositories: 2 need attention/);
    const warnings = stderr.join('');
    expect(warnings).toContain(`WARNING ${APP}: vouch-signer holds no timestamp key this root names`);
    expect(warnings).toContain(`vouch key rotate ${SS} timestamp -r`);
  });

  it('answers usage mistakes with exit 2 and a clear message', async () => {
    const stderr: string[] = [];
    const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr.push(s.toString());
      return true;
    });
    try {
      expect(await migrateMain(['--notary-server-export', 'x.jsonl'])).toBe(2);
      expect(stderr.join('')).toMatch(/--to-server-config is required/);
      expect(await migrateMain(['--notary-signer-export', 'k.json', '--to-signer-config', 's.json', '--alias-passphrase', 'alias=my secret'])).toBe(2);
      expect(stderr.join('')).toMatch(/expected ALIAS=ENVVAR/);
    } finally {
      errSpy.mockRestore();
    }
  });
});
