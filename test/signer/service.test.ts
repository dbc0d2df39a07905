/**
 * The signing service on a real SQLite file, in-process: the pending-key rule, signatures,
 * deletion, tamper detection, the bounded key cache and alias rotation.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { verifySignature } from '../../tuf/keys';
import { SignerError } from '../../signer/errors';
import { Keyring } from '../../signer/sealing';
import { SigningService } from '../../signer/service';
import { SqliteKeyStore } from '../../signer/store/sqlite';

const GUN = 'example.com/vouch/service';

describe('signing service on SQLite', () => {
  let dir: string;
  let dbFile: string;
  let store: SqliteKeyStore;
  let service: SigningService;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-signer-service-'));
    dbFile = path.join(dir, 'keys.db');
    store = new SqliteKeyStore(dbFile);
    await store.init();
    service = new SigningService(store, new Keyring({ NOTARY_SIGNER_ALIAS1: 'pw-one', NOTARY_SIGNER_ALIAS2: 'pw-two' }), {
      defaultAlias: 'alias1',
      cacheEntries: 2,
    });
    await service.verifyPassphrases();
  });

  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates the database file readable by its owner only', () => {
    expect(fs.statSync(dbFile).mode & 0o077).toBe(0);
  });

  it('returns the same pending key until it has signed, then a new one (Notary pending-key rule)', async () => {
    const first = await service.createKey(GUN, 'timestamp', 'ecdsa');
    const again = await service.createKey(GUN, 'timestamp', 'ecdsa');
    expect(again.id).toBe(first.id);
    // other role, algorithm or GUN: another key
    expect((await service.createKey(GUN, 'snapshot', 'ecdsa')).id).not.toBe(first.id);
    expect((await service.createKey(GUN, 'timestamp', 'ed25519')).id).not.toBe(first.id);
    expect((await service.createKey(`${GUN}2`, 'timestamp', 'ecdsa')).id).not.toBe(first.id);
    await service.sign(first.id, Buffer.from('use it'));
    const next = await service.createKey(GUN, 'timestamp', 'ecdsa');
    expect(next.id).not.toBe(first.id);
  });

  it('hands concurrent CreateKey calls for one role the same key', async () => {
    const keys = await Promise.all(Array.from({ length: 20 }, () => service.createKey('example.com/concurrent', 'timestamp', 'ed25519')));
    expect(new Set(keys.map((k) => k.id)).size).toBe(1);
  });

  it('signs the whole message: ECDSA as raw r||s over SHA-256, Ed25519 as 64 bytes', async () => {
    const ec = await service.createKey('example.com/sigs', 'snapshot', 'ecdsa');
    const ed = await service.createKey('example.com/sigs', 'timestamp', 'ed25519');
    const msg = Buffer.from('{"signed":"canonical bytes"}');
    const a = await service.sign(ec.id, msg);
    expect(a.method).toBe('ecdsa');
    expect(a.sig).toHaveLength(64);
    expect(verifySignature(ec, 'ecdsa', msg, a.sig)).toBe(true);
    const b = await service.sign(ed.id, msg);
    expect(b.method).toBe('eddsa');
    expect(b.sig).toHaveLength(64);
    expect(verifySignature(ed, 'eddsa', msg, b.sig)).toBe(true);
    expect(verifySignature(ed, 'eddsa', Buffer.from('other'), b.sig)).toBe(false);
  });

  it('refuses unsupported algorithms with Notary\'s message and bad names with INVALID_ARGUMENT', async () => {
    await expect(service.createKey(GUN, 'timestamp', 'rsa')).rejects.toThrow('algorithm rsa not supported for create key');
    await expect(service.createKey('', 'timestamp', 'ecdsa')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(service.createKey('a'.repeat(300), 'timestamp', 'ecdsa')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(service.createKey(GUN, 'Timestamp', 'ecdsa')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(service.createKey('bad\ngun', 'timestamp', 'ecdsa')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('keeps at most the configured number of decrypted keys and still signs with evicted ones', async () => {
    const keys = [];
    for (let i = 0; i < 5; i++) keys.push(await service.createKey(`example.com/cache/${i}`, 'timestamp', 'ecdsa'));
    for (const k of keys) await service.sign(k.id, Buffer.from('x'));
    expect(service.cachedKeys).toBeLessThanOrEqual(2);
    for (const k of keys) {
      const s = await service.sign(k.id, Buffer.from('again'));
      expect(verifySignature(k, 'ecdsa', Buffer.from('again'), s.sig)).toBe(true);
    }
  });

  it('refuses a key whose ciphertext was swapped with another row (tampered database)', async () => {
    const a = await service.createKey('example.com/tamper-a', 'timestamp', 'ecdsa');
    const b = await service.createKey('example.com/tamper-b', 'timestamp', 'ecdsa');
    const fresh = new SigningService(store, new Keyring({ NOTARY_SIGNER_ALIAS1: 'pw-one' }), { defaultAlias: 'alias1' });
    await fresh.verifyPassphrases();
    const db = new Database(dbFile);
    try {
      const rowA = db.prepare('SELECT nonce, private FROM vouch_signer_keys WHERE key_id = ?').get(a.id) as { nonce: Buffer; private: Buffer };
      db.prepare('UPDATE vouch_signer_keys SET nonce = ?, private = ? WHERE key_id = ?').run(rowA.nonce, rowA.private, b.id);
    } finally {
      db.close();
    }
    const err = await fresh.sign(b.id, Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SignerError);
    expect((err as SignerError).code).toBe('INTEGRITY');
    // the untouched key still signs
    expect(verifySignature(a, 'ecdsa', Buffer.from('x'), (await fresh.sign(a.id, Buffer.from('x'))).sig)).toBe(true);
    await fresh.deleteKey(b.id);
  });

  it('refuses at start a passphrase that opens a replaced check record but not the stored keys', async () => {
    await service.createKey('example.com/check', 'timestamp', 'ecdsa');
    const db = new Database(dbFile);
    const saved = db.prepare("SELECT * FROM vouch_signer_aliases WHERE alias = 'alias1'").get();
    try {
      // an attacker with write access swaps in a check record sealed under a passphrase they know
      db.prepare("DELETE FROM vouch_signer_aliases WHERE alias = 'alias1'").run();
      const theirs = new SigningService(store, new Keyring({ NOTARY_SIGNER_ALIAS1: 'attacker' }), { defaultAlias: 'alias1' });
      // with no check record, their passphrase is tried on a stored key and refused
      await expect(theirs.verifyPassphrases()).rejects.toThrow(/wrong passphrase for alias "alias1"/);
      const ring = new Keyring({ NOTARY_SIGNER_ALIAS1: 'attacker' });
      const { kdf, salt } = Keyring.newKdf();
      ring.setCurrentKdf('alias1', kdf, salt);
      const forged = await ring.seal('alias1', Buffer.from('vouch-signer passphrase check v1'), Buffer.from('vouch-signer check v1\u0000alias1'));
      await store.putAliasCheck({ ...forged, createdAt: new Date() });
      // the forged record opens, but the keys do not: still refused
      await expect(theirs.verifyPassphrases()).rejects.toThrow(/wrong passphrase for alias "alias1"/);
    } finally {
      db.prepare("DELETE FROM vouch_signer_aliases WHERE alias = 'alias1'").run();
      db.prepare('INSERT INTO vouch_signer_aliases (alias, kdf, kdf_salt, nonce, sealed, created_at) VALUES (@alias, @kdf, @kdf_salt, @nonce, @sealed, @created_at)').run(saved);
      db.close();
    }
  });

  it('deletes single keys (missing is fine) and every key of a GUN', async () => {
    const k = await service.createKey('example.com/delete-me', 'timestamp', 'ecdsa');
    await service.createKey('example.com/delete-me', 'snapshot', 'ed25519');
    const keep = await service.createKey('example.com/delete-me-not', 'timestamp', 'ecdsa');
    expect(await service.deleteGunKeys('example.com/delete-me')).toBe(2);
    expect(await service.getKeyInfo(k.id)).toBeNull();
    await expect(service.sign(k.id, Buffer.from('x'))).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    expect((await service.getKeyInfo(keep.id))?.gun).toBe('example.com/delete-me-not');
    await service.deleteKey(keep.id);
    await service.deleteKey(keep.id);
    await service.deleteKey('not-an-id');
    expect(await service.getKeyInfo(keep.id)).toBeNull();
  });

  it('re-encrypts every key under a new alias, after which only that passphrase is needed', async () => {
    const k = await service.createKey('example.com/rotate', 'timestamp', 'ed25519');
    const { resealed, dropped } = await service.rotateAlias('alias2');
    expect(resealed).toBeGreaterThan(5);
    expect(dropped).toEqual(['alias1']);
    expect(await store.aliasesInUse()).toEqual(['alias2']);
    const onlyNew = new SigningService(store, new Keyring({ NOTARY_SIGNER_ALIAS2: 'pw-two' }), { defaultAlias: 'alias2' });
    await onlyNew.verifyPassphrases();
    const s = await onlyNew.sign(k.id, Buffer.from('after rotation'));
    expect(verifySignature(k, 'eddsa', Buffer.from('after rotation'), s.sig)).toBe(true);
    const onlyOld = new SigningService(store, new Keyring({ NOTARY_SIGNER_ALIAS1: 'pw-one' }), { defaultAlias: 'alias1' });
    await expect(onlyOld.verifyPassphrases()).rejects.toThrow('no passphrase for alias "alias2"');
  });
});
