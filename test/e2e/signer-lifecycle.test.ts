/**
 * vouch-signer as a real process over real mutual TLS, driven through GrpcKeyService (the
 * server's client) and a raw gRPC client: the key lifecycle, Notary's answers and error texts,
 * bounded messages, 500 parallel signatures, and no plaintext private key in the database file.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ensureDevPki, DevPki } from '../../scripts/devpki';
import { GrpcKeyService } from '../../signer/client';
import { SignerError } from '../../signer/errors';
import { GetKeyInfoResponseMsg, HealthCheckResponseMsg, PublicKeyMsg, SignatureMsg } from '../../signer/protos';
import { Keyring } from '../../signer/sealing';
import { keyAad } from '../../signer/service';
import { SqliteKeyStore } from '../../signer/store/sqlite';
import { KeyAlgorithm, KeyNotHeldError } from '../../signer/api';
import { computeKeyId, PublicKey, verifySignature } from '../../tuf/keys';
import { Proc, stopAll } from '../helpers/proc';
import { keyService, mtlsCredentials, rawClient, startTestSigner, unary } from '../signer/harness';

const PASSPHRASE = 'lifecycle passphrase, not a real one';
const GUN = 'example.com/vouch/signer-lifecycle';

describe('vouch-signer key lifecycle over mutual TLS', () => {
  let dir: string;
  let pki: DevPki;
  let dbFile: string;
  let port: number;
  let signer: Proc;
  let keys: GrpcKeyService;
  let creds: grpc.ChannelCredentials;
  const warnings: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-signer-lifecycle-'));
    pki = ensureDevPki(path.join(dir, 'pki'));
    dbFile = path.join(dir, 'db', 'signer.db');
    ({ proc: signer, port } = await startTestSigner({ dir, pki, storage: { backend: 'sqlite', path: dbFile }, alias: 'lifecycle', passphrase: PASSPHRASE }));
    keys = keyService(pki, port, undefined, { logger: { warn: (m) => warnings.push(m) } });
    creds = mtlsCredentials(pki.caCert, pki.serverCert, pki.serverKey);
  });

  afterAll(async () => {
    await keys?.close();
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports both health services SERVING, and NOT_FOUND for unknown services', async () => {
    await expect(keys.health()).resolves.toBeUndefined();
    const health = rawClient('health', port, creds);
    const ok = await unary<HealthCheckResponseMsg>(health, 'Check', { service: 'grpc.health.v1.Health.Signer' });
    expect(ok.res?.status).toBe('SERVING');
    const unknown = await unary<HealthCheckResponseMsg>(health, 'Check', { service: 'no.such.Service' });
    expect(unknown.err?.code).toBe(grpc.status.NOT_FOUND);
    health.close();
  });

  it('creates, describes, signs with and deletes a key of each algorithm', async () => {
    for (const algorithm of ['ecdsa', 'ed25519'] as KeyAlgorithm[]) {
      const key = await keys.createKey(GUN, 'timestamp', algorithm);
      expect(key.keytype).toBe(algorithm);
      expect(key.id).toBe(computeKeyId(algorithm, key.publicB64));
      expect(key.publicBytes).toHaveLength(algorithm === 'ed25519' ? 32 : 91);

      const info = await keys.getKeyInfo(key.id);
      expect(info).toEqual({ key, role: 'timestamp', gun: GUN });

      const msg = Buffer.from(`{"signed":{"_type":"Timestamp","alg":"${algorithm}"}}`);
      const sig = await keys.sign(key.id, msg);
      expect(sig).toHaveLength(64);
      expect(verifySignature(key, algorithm === 'ed25519' ? 'eddsa' : 'ecdsa', msg, sig)).toBe(true);

      const del = rawClient('keyManagement', port, creds);
      expect((await unary(del, 'DeleteKey', { ID: key.id })).err).toBeUndefined();
      // deleting a missing key is not an error (Notary)
      expect((await unary(del, 'DeleteKey', { ID: key.id })).err).toBeUndefined();
      del.close();
      expect(await keys.getKeyInfo(key.id)).toBeNull();
      // a deleted key is reported as not held, so the server skips it instead of failing
      await expect(keys.sign(key.id, msg)).rejects.toBeInstanceOf(KeyNotHeldError);
      await expect(keys.sign(key.id, msg)).rejects.toThrow(`holds no key ${key.id}`);
    }
  });

  it('answers with Notary\'s messages: Sign result fields, NOT_FOUND text, UNKNOWN for unsupported algorithms', async () => {
    const km = rawClient('keyManagement', port, creds);
    const sg = rawClient('signer', port, creds);
    const created = await unary<PublicKeyMsg>(km, 'CreateKey', { algorithm: 'ecdsa', gun: GUN, role: 'snapshot' });
    const id = created.res?.keyInfo?.keyID?.ID as string;
    expect(created.res?.keyInfo?.algorithm?.algorithm).toBe('ecdsa');
    expect(id).toBe(computeKeyId('ecdsa', (created.res?.publicKey as Buffer).toString('base64')));

    const signed = await unary<SignatureMsg>(sg, 'Sign', { keyID: { ID: id }, content: Buffer.from('abc') });
    expect(signed.res?.keyInfo).toEqual({ keyID: { ID: id }, algorithm: { algorithm: 'ecdsa' } });
    expect(signed.res?.algorithm).toEqual({ algorithm: 'ecdsa' });

    const missing = 'f'.repeat(64);
    const nf = await unary<GetKeyInfoResponseMsg>(km, 'GetKeyInfo', { ID: missing });
    expect(nf.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(nf.err?.details).toBe(`key ${missing} not found`);
    const nfSign = await unary<SignatureMsg>(sg, 'Sign', { keyID: { ID: missing }, content: Buffer.from('abc') });
    expect(nfSign.err?.code).toBe(grpc.status.NOT_FOUND);

    const rsa = await unary<PublicKeyMsg>(km, 'CreateKey', { algorithm: 'rsa', gun: GUN, role: 'timestamp' });
    expect(rsa.err?.code).toBe(grpc.status.UNKNOWN);
    expect(rsa.err?.details).toBe('algorithm rsa not supported for create key');
    const viaClient = await keys.createKey(GUN, 'timestamp', 'rsa' as KeyAlgorithm).catch((e: unknown) => e);
    expect(viaClient).toBeInstanceOf(SignerError);
    expect((viaClient as Error).message).toContain('algorithm rsa not supported for create key');
    km.close();
    sg.close();
  });

  it('applies the pending-key rule across calls until the key signs', async () => {
    const gun = `${GUN}/pending`;
    const a = await keys.createKey(gun, 'timestamp', 'ecdsa');
    const b = await keys.createKey(gun, 'timestamp', 'ecdsa');
    expect(b.id).toBe(a.id);
    await keys.sign(a.id, Buffer.from('first use'));
    const c = await keys.createKey(gun, 'timestamp', 'ecdsa');
    expect(c.id).not.toBe(a.id);
  });

  it('deletes every key of a GUN through the vouch extension, and only those', async () => {
    const gun = `${GUN}/to-delete`;
    const t = await keys.createKey(gun, 'timestamp', 'ecdsa');
    const s = await keys.createKey(gun, 'snapshot', 'ed25519');
    const other = await keys.createKey(`${GUN}/kept`, 'timestamp', 'ecdsa');
    await keys.deleteGunKeys(gun);
    expect(await keys.getKeyInfo(t.id)).toBeNull();
    expect(await keys.getKeyInfo(s.id)).toBeNull();
    expect((await keys.getKeyInfo(other.id))?.gun).toBe(`${GUN}/kept`);
    expect(warnings).toEqual([]);
  });

  it('refuses a message above the size bound and keeps serving', async () => {
    const sg = rawClient('signer', port, creds);
    const key = await keys.createKey(`${GUN}/big`, 'timestamp', 'ed25519');
    const big = await unary<SignatureMsg>(sg, 'Sign', { keyID: { ID: key.id }, content: Buffer.alloc(17 * 1024 * 1024, 0x41) }, 30000);
    expect(big.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // refused by the signer on receipt (signer/rpc.ts says so), not by grpc-js on sending
    expect(big.err?.details).toBe('request larger than 16777216 bytes');
    const ok = await unary<SignatureMsg>(sg, 'Sign', { keyID: { ID: key.id }, content: Buffer.alloc(1024 * 1024, 0x41) });
    expect(ok.res?.content).toHaveLength(64);
    sg.close();
  });

  it('serves 500 concurrent Sign calls, every signature verifying', async () => {
    const ec = await keys.createKey(`${GUN}/parallel`, 'snapshot', 'ecdsa');
    const ed = await keys.createKey(`${GUN}/parallel`, 'timestamp', 'ed25519');
    const jobs = Array.from({ length: 500 }, (_, i) => {
      const key: PublicKey = i % 2 === 0 ? ec : ed;
      const msg = Buffer.from(`{"signed":{"n":${i},"r":"${crypto.randomBytes(8).toString('hex')}"}}`);
      return keys.sign(key.id, msg).then((sig) => ({ key, msg, sig }));
    });
    const results = await Promise.all(jobs);
    expect(results).toHaveLength(500);
    for (const { key, msg, sig } of results) {
      expect(verifySignature(key, key.keytype === 'ed25519' ? 'eddsa' : 'ecdsa', msg, sig)).toBe(true);
    }
  });

  it('stores no private key in the clear: no raw, PKCS#8, SEC1 or PEM form occurs in the database files', async () => {
    // every key this file made, decrypted with the passphrase, in every form it could leak in
    const store = new SqliteKeyStore(dbFile);
    const keyring = new Keyring({ NOTARY_SIGNER_LIFECYCLE: PASSPHRASE });
    const rows = await store.listKeys();
    expect(rows.length).toBeGreaterThanOrEqual(6);
    expect(new Set(rows.map((r) => r.algorithm))).toEqual(new Set(['ecdsa', 'ed25519']));
    const forms: { what: string; bytes: Buffer }[] = [];
    for (const row of rows) {
      const der = await keyring.open(row, keyAad(row));
      const obj = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      // the stored key is the one its row names
      const pub = crypto.createPublicKey(obj);
      const pubBytes = row.algorithm === 'ed25519' ? Buffer.from(pub.export({ format: 'jwk' }).x as string, 'base64url') : pub.export({ format: 'der', type: 'spki' });
      expect(computeKeyId(row.algorithm, pubBytes.toString('base64'))).toBe(row.keyId);
      const raw = Buffer.from(obj.export({ format: 'jwk' }).d as string, 'base64url');
      expect(raw).toHaveLength(32);
      forms.push({ what: `${row.keyId} raw`, bytes: raw });
      forms.push({ what: `${row.keyId} raw hex`, bytes: Buffer.from(raw.toString('hex')) });
      forms.push({ what: `${row.keyId} raw base64`, bytes: Buffer.from(raw.toString('base64')) });
      forms.push({ what: `${row.keyId} pkcs8`, bytes: obj.export({ format: 'der', type: 'pkcs8' }) });
      forms.push({ what: `${row.keyId} pem`, bytes: Buffer.from(obj.export({ format: 'pem', type: 'pkcs8' }) as string) });
      if (row.algorithm === 'ecdsa') forms.push({ what: `${row.keyId} sec1`, bytes: obj.export({ format: 'der', type: 'sec1' }) });
    }
    await store.close();

    const files = () => ['', '-wal', '-shm'].map((s) => dbFile + s).filter((f) => fs.existsSync(f));
    const scan = () => {
      const contents = files().map((f) => fs.readFileSync(f));
      expect(contents.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(4096);
      // positive control: the public halves are stored in the clear, so the scan must find them
      for (const row of rows) expect(contents.some((b) => b.includes(row.public))).toBe(true);
      for (const { what, bytes } of forms) {
        for (const b of contents) if (b.includes(bytes)) throw new Error(`plaintext private key found: ${what}`);
      }
    };
    scan(); // while the signer runs (database plus write-ahead log)
    await signer.stop();
    scan(); // after a clean stop (log checkpointed into the database)

    // nor does the signer's own output carry a passphrase or key material
    const log = signer.output();
    expect(log).toContain('vouch-signer listening');
    expect(log).not.toContain(PASSPHRASE);
    for (const { what, bytes } of forms) if (log.includes(bytes.toString('latin1'))) throw new Error(`log holds ${what}`);
  });
});
