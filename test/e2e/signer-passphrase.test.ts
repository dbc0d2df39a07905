/**
 * Passphrases at start and alias rotation, on the real process: a wrong or missing passphrase
 * stops vouch-signer before it listens, with a clear message that never shows a passphrase;
 * `rotate-alias` re-encrypts every key so that only the new alias's passphrase is needed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ensureDevPki, DevPki } from '../../scripts/devpki';
import { PublicKey, verifySignature } from '../../tuf/keys';
import { stopAll } from '../helpers/proc';
import { exitCode, freePort, keyService, signerProcess, startSigner, writeSignerConfig } from '../signer/harness';

const OLD = 'the first passphrase';
const NEW = 'the second passphrase';
const WRONG = 'not the passphrase at all';

describe('vouch-signer passphrases and alias rotation', () => {
  let dir: string;
  let pki: DevPki;
  let dbFile: string;
  let port: number;
  let configOld: string;
  let configNew: string;
  let ecKey: PublicKey;
  let edKey: PublicKey;

  /** the key rows as stored, to prove a failed start changed nothing */
  const snapshotRows = () => {
    const db = new Database(dbFile, { readonly: true });
    try {
      return db.prepare('SELECT key_id, passphrase_alias, nonce, private FROM vouch_signer_keys ORDER BY key_id').all();
    } finally {
      db.close();
    }
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-signer-passphrase-'));
    pki = ensureDevPki(path.join(dir, 'pki'));
    dbFile = path.join(dir, 'signer.db');
    port = await freePort();
    const storage = { backend: 'sqlite' as const, path: dbFile };
    configOld = writeSignerConfig(path.join(dir, 'old.json'), { pki, port, storage, alias: 'alias1' });
    configNew = writeSignerConfig(path.join(dir, 'new.json'), { pki, port, storage, alias: 'alias.two' });
    const first = await startSigner(configOld, { NOTARY_SIGNER_ALIAS1: OLD });
    const keys = keyService(pki, port);
    ecKey = await keys.createKey('example.com/passphrase', 'timestamp', 'ecdsa');
    edKey = await keys.createKey('example.com/passphrase', 'snapshot', 'ed25519');
    await keys.sign(ecKey.id, Buffer.from('used'));
    await keys.close();
    await first.stop();
  });

  afterAll(async () => {
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stops at start on a wrong passphrase, saying which alias, showing no passphrase, changing nothing', async () => {
    const before = snapshotRows();
    const p = signerProcess(configOld, { NOTARY_SIGNER_ALIAS1: WRONG });
    expect(await exitCode(p)).toBe(1);
    const out = p.output();
    expect(out).toContain('vouch-signer: wrong passphrase for alias "alias1" (NOTARY_SIGNER_ALIAS1)');
    expect(out).not.toContain('listening');
    expect(out).not.toContain(WRONG);
    expect(out).not.toContain(OLD);
    expect(snapshotRows()).toEqual(before);
  });

  it('stops at start when the passphrase is missing or empty, naming the variable to set', async () => {
    for (const env of [{}, { NOTARY_SIGNER_ALIAS1: '' }] as Record<string, string>[]) {
      const p = signerProcess(configOld, env);
      expect(await exitCode(p)).toBe(1);
      expect(p.output()).toContain('vouch-signer: no passphrase for alias "alias1": set NOTARY_SIGNER_ALIAS1 or VOUCH_SIGNER_ALIAS1');
      expect(p.output()).not.toContain('listening');
    }
  });

  it('refuses to rotate without the current passphrase, changing nothing', async () => {
    const before = snapshotRows();
    const p = signerProcess(configOld, { NOTARY_SIGNER_ALIAS_TWO: NEW }, ['rotate-alias', '--to', 'alias.two']);
    expect(await exitCode(p)).toBe(1);
    expect(p.output()).toContain('no passphrase for alias "alias1"');
    expect(snapshotRows()).toEqual(before);
  });

  it('rotates every key to a new alias, after which the old passphrase is no longer needed', async () => {
    const before = snapshotRows() as { key_id: string; private: Buffer }[];
    const rot = signerProcess(configOld, { NOTARY_SIGNER_ALIAS1: OLD, NOTARY_SIGNER_ALIAS_TWO: NEW }, ['rotate-alias', '--to', 'alias.two']);
    expect(await exitCode(rot)).toBe(0);
    expect(rot.output()).toContain('re-encrypted 2 key(s) under alias "alias.two"');
    expect(rot.output()).toContain('now set storage.default_alias to "alias.two"');
    expect(rot.output()).not.toContain(OLD);
    expect(rot.output()).not.toContain(NEW);

    const after = snapshotRows() as { key_id: string; passphrase_alias: string; private: Buffer }[];
    expect(after.map((r) => r.key_id)).toEqual(before.map((r) => r.key_id));
    for (const [i, r] of after.entries()) {
      expect(r.passphrase_alias).toBe('alias.two');
      expect(r.private.equals((before[i] as { private: Buffer }).private)).toBe(false);
    }

    // only the new passphrase (in its VOUCH_SIGNER_ spelling), and the keys made before still sign
    const signer = await startSigner(configNew, { VOUCH_SIGNER_ALIAS_TWO: NEW });
    const keys = keyService(pki, port);
    // the pending-key state survived: the never-used snapshot key is still the pending one
    expect((await keys.createKey('example.com/passphrase', 'snapshot', 'ed25519')).id).toBe(edKey.id);
    for (const key of [ecKey, edKey]) {
      const msg = Buffer.from(`after rotation ${key.id}`);
      const sig = await keys.sign(key.id, msg);
      expect(verifySignature(key, key.keytype === 'ed25519' ? 'eddsa' : 'ecdsa', msg, sig)).toBe(true);
    }
    await keys.close();
    await signer.stop();

    // the old passphrase alone opens nothing any more
    const old = signerProcess(configOld, { NOTARY_SIGNER_ALIAS1: OLD });
    expect(await exitCode(old)).toBe(1);
    expect(old.output()).toContain('no passphrase for alias "alias.two"');
    // and a wrong new passphrase is caught by the new alias's check record
    const wrong = signerProcess(configNew, { NOTARY_SIGNER_ALIAS_TWO: WRONG });
    expect(await exitCode(wrong)).toBe(1);
    expect(wrong.output()).toContain('wrong passphrase for alias "alias.two"');
  });

  it('exits 2 with every problem listed for a bad configuration', async () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ server: { grpc_addr: '127.0.0.1:1' }, storage: { backend: 'sqlite' } }));
    const p = signerProcess(bad, { NOTARY_SIGNER_ALIAS1: OLD });
    expect(await exitCode(p)).toBe(2);
    for (const line of ['server.tls_cert_file: required', 'server.client_ca_file: required', 'storage.path: required', 'storage.default_alias: required']) {
      expect(p.output()).toContain(line);
    }
  });
});
