/**
 * vouch-signer on PostgreSQL (a private cluster from test/helpers/postgres): the key lifecycle,
 * keys surviving a restart, parallel signing, two signers sharing one database, a wrong
 * passphrase refused at start, and no plaintext private key in what the database stores.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { ensureDevPki, DevPki } from '../../scripts/devpki';
import { Keyring } from '../../signer/sealing';
import { keyAad } from '../../signer/service';
import { PostgresKeyStore } from '../../signer/store/postgres';
import { PublicKey, verifySignature } from '../../tuf/keys';
import { describeWith, PG_BIN_DIRS } from '../helpers/interop';
import { PostgresCluster, startPostgres } from '../helpers/postgres';
import { stopAll } from '../helpers/proc';
import { exitCode, freePort, keyService, signerProcess, startSigner, writeSignerConfig } from '../signer/harness';

const PASSPHRASE = 'postgres signer passphrase';
const GUN = 'example.com/vouch/signer-postgres';
const methodOf = (k: PublicKey) => (k.keytype === 'ed25519' ? 'eddsa' : 'ecdsa');

describeWith(
  ['initdb', 'postgres'],
  'vouch-signer on PostgreSQL',
  () => {
    let dir: string;
    let pki: DevPki;
    let pg: PostgresCluster;
    let url: string;
    let portA: number;
    let portB: number;
    let configA: string;
    let configB: string;

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-signer-postgres-'));
      pki = ensureDevPki(path.join(dir, 'pki'));
      pg = await startPostgres();
      url = await pg.createDatabase('signer');
      portA = await freePort();
      portB = await freePort();
      configA = writeSignerConfig(path.join(dir, 'a.json'), { pki, port: portA, storage: { backend: 'postgres', url }, alias: 'pgalias' });
      configB = writeSignerConfig(path.join(dir, 'b.json'), { pki, port: portB, storage: { backend: 'postgres', url }, alias: 'pgalias' });
    }, 90_000);

    afterAll(async () => {
      await stopAll();
      await pg?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('runs the key lifecycle, and keys survive a restart', async () => {
      let signer = await startSigner(configA, { NOTARY_SIGNER_PGALIAS: PASSPHRASE });
      let keys = keyService(pki, portA);
      const ts = await keys.createKey(GUN, 'timestamp', 'ecdsa');
      expect((await keys.createKey(GUN, 'timestamp', 'ecdsa')).id).toBe(ts.id);
      const snap = await keys.createKey(GUN, 'snapshot', 'ed25519');
      expect(await keys.getKeyInfo(snap.id)).toEqual({ key: snap, role: 'snapshot', gun: GUN });
      const msg = Buffer.from('before restart');
      expect(verifySignature(ts, 'ecdsa', msg, await keys.sign(ts.id, msg))).toBe(true);
      await keys.close();
      await signer.stop();

      signer = await startSigner(configA, { NOTARY_SIGNER_PGALIAS: PASSPHRASE });
      keys = keyService(pki, portA);
      const after = Buffer.from('after restart');
      expect(verifySignature(snap, 'eddsa', after, await keys.sign(snap.id, after))).toBe(true);
      // the timestamp key signed before the restart: no longer pending
      expect((await keys.createKey(GUN, 'timestamp', 'ecdsa')).id).not.toBe(ts.id);
      await keys.deleteGunKeys(GUN);
      expect(await keys.getKeyInfo(ts.id)).toBeNull();
      expect(await keys.getKeyInfo(snap.id)).toBeNull();
      await keys.close();
    });

    it('serves 300 concurrent Sign calls, every signature verifying', async () => {
      const keys = keyService(pki, portA);
      const ec = await keys.createKey(`${GUN}/parallel`, 'snapshot', 'ecdsa');
      const ed = await keys.createKey(`${GUN}/parallel`, 'timestamp', 'ed25519');
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) => {
          const key = i % 2 ? ec : ed;
          const msg = Buffer.from(`message ${i} ${crypto.randomBytes(4).toString('hex')}`);
          return keys.sign(key.id, msg).then((sig) => ({ key, msg, sig }));
        }),
      );
      for (const r of results) expect(verifySignature(r.key, methodOf(r.key), r.msg, r.sig)).toBe(true);
      await keys.close();
    });

    it('shares one database between two signers: a key deleted through one stops signing on the other', async () => {
      await startSigner(configB, { NOTARY_SIGNER_PGALIAS: PASSPHRASE });
      const a = keyService(pki, portA);
      const b = keyService(pki, portB);
      const key = await a.createKey(`${GUN}/shared`, 'timestamp', 'ecdsa');
      // made by A, known to and usable by B (B caches the decrypted key)
      expect(verifySignature(key, 'ecdsa', Buffer.from('via B'), await b.sign(key.id, Buffer.from('via B')))).toBe(true);
      await a.deleteGunKeys(`${GUN}/shared`);
      await expect(b.sign(key.id, Buffer.from('after delete'))).rejects.toThrow();
      expect(await b.getKeyInfo(key.id)).toBeNull();
      await a.close();
      await b.close();
    });

    it('stores no plaintext private key: each sealed value decrypts to its key and contains no form of it', async () => {
      const keys = keyService(pki, portA);
      await keys.createKey(`${GUN}/scan`, 'timestamp', 'ecdsa');
      await keys.createKey(`${GUN}/scan`, 'snapshot', 'ed25519');
      await keys.close();
      const store = new PostgresKeyStore(url);
      const rows = await store.listKeys();
      await store.close();
      expect(rows.length).toBeGreaterThanOrEqual(2);
      // everything the database holds for these keys, as one blob per row
      const c = new Client({ connectionString: url });
      await c.connect();
      const dump = await c.query<{ t: string }>('SELECT row_to_json(k)::text AS t FROM vouch_signer_keys k');
      await c.end();
      const text = dump.rows.map((r) => r.t).join('\n');
      const keyring = new Keyring({ NOTARY_SIGNER_PGALIAS: PASSPHRASE });
      for (const row of rows) {
        const der = await keyring.open(row, keyAad(row));
        const obj = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
        const raw = Buffer.from(obj.export({ format: 'jwk' }).d as string, 'base64url');
        for (const form of [raw, der, Buffer.from(obj.export({ format: 'pem', type: 'pkcs8' }) as string)]) {
          expect(row.sealed.includes(form)).toBe(false);
          // bytea columns come out of row_to_json as \x hex
          expect(text.includes(form.toString('hex'))).toBe(false);
          expect(text.includes(form.toString('base64'))).toBe(false);
        }
        // positive control: the public key is there, in hex
        expect(text.includes(row.public.toString('hex'))).toBe(true);
      }
    });

    it('stops at start on a wrong passphrase', async () => {
      const p = signerProcess(configA, { NOTARY_SIGNER_PGALIAS: 'wrong' });
      expect(await exitCode(p)).toBe(1);
      expect(p.output()).toContain('wrong passphrase for alias "pgalias"');
      expect(p.output()).not.toContain(PASSPHRASE);
    });

    it('reports NOT_SERVING to health checks when its database goes away (runs last: stops PostgreSQL)', async () => {
      const keys = keyService(pki, portA);
      await expect(keys.health()).resolves.toBeUndefined();
      await pg.stop();
      await expect(keys.health()).rejects.toThrow(/grpc\.health\.v1\.Health\.KeyManagement is NOT_SERVING/);
      await keys.close();
    });
  },
  PG_BIN_DIRS,
);
