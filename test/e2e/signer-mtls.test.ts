/**
 * Mutual TLS: vouch-signer refuses, at the handshake and before any call is served, a client
 * with no certificate and a client whose certificate comes from another CA; and its client
 * refuses a signer whose certificate it cannot verify.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ensureDevPki, DevPki } from '../../scripts/devpki';
import { GrpcKeyService } from '../../signer/client';
import { PublicKeyMsg } from '../../signer/protos';
import { SqliteKeyStore } from '../../signer/store/sqlite';
import { Proc, stopAll } from '../helpers/proc';
import { keyService, mtlsCredentials, rawClient, startTestSigner, unary } from '../signer/harness';

describe('vouch-signer mutual TLS', () => {
  let dir: string;
  let pki: DevPki;
  let otherPki: DevPki;
  let dbFile: string;
  let port: number;
  let signer: Proc;

  const keyCount = async () => {
    const store = new SqliteKeyStore(dbFile);
    try {
      return (await store.listKeys()).length;
    } finally {
      await store.close();
    }
  };

  const tryCreateKey = (creds: grpc.ChannelCredentials) => {
    const km = rawClient('keyManagement', port, creds);
    return unary<PublicKeyMsg>(km, 'CreateKey', { algorithm: 'ecdsa', gun: 'example.com/mtls', role: 'timestamp' }, 5000).finally(() => km.close());
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-signer-mtls-'));
    pki = ensureDevPki(path.join(dir, 'pki'));
    // a second, unrelated CA with certificates for the same names
    otherPki = ensureDevPki(path.join(dir, 'other-pki'));
    dbFile = path.join(dir, 'signer.db');
    ({ proc: signer, port } = await startTestSigner({ dir, pki, storage: { backend: 'sqlite', path: dbFile }, alias: 'mtls', passphrase: 'mtls passphrase' }));
  });

  afterAll(async () => {
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves a client whose certificate chains to the configured CA (control)', async () => {
    const ok = await tryCreateKey(mtlsCredentials(pki.caCert, pki.serverCert, pki.serverKey));
    expect(ok.err).toBeUndefined();
    expect(ok.res?.keyInfo?.keyID?.ID).toMatch(/^[0-9a-f]{64}$/);
    expect(await keyCount()).toBe(1);
  });

  it('refuses a client without a certificate before any call is served', async () => {
    const r = await tryCreateKey(mtlsCredentials(pki.caCert));
    expect(r.res).toBeUndefined();
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(await keyCount()).toBe(1);
  });

  it('refuses a client whose certificate comes from another CA before any call is served', async () => {
    // trusts the signer correctly, but presents a certificate our CA never issued
    const r = await tryCreateKey(mtlsCredentials(pki.caCert, otherPki.clientCert, otherPki.clientKey));
    expect(r.res).toBeUndefined();
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    const viaClient = keyService(pki, port, { cert: otherPki.serverCert, key: otherPki.serverKey });
    await expect(viaClient.createKey('example.com/mtls', 'timestamp', 'ecdsa')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(viaClient.health()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await viaClient.close();
    expect(await keyCount()).toBe(1);
  });

  /**
   * A bare TLS connection that then sends the HTTP/2 preface. Settles on the first bytes the
   * server sends back (an HTTP/2 SETTINGS frame means the connection was accepted), on close, or
   * after 5 s.
   */
  const handshake = (client: { cert?: string; key?: string }) =>
    new Promise<{ outcome: 'answered' | 'closed' | 'still open'; error?: string }>((resolve) => {
      let error: string | undefined;
      const s = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: fs.readFileSync(pki.caCert),
        ALPNProtocols: ['h2'],
        ...(client.cert && client.key ? { cert: fs.readFileSync(client.cert), key: fs.readFileSync(client.key) } : {}),
      });
      const settle = (outcome: 'answered' | 'closed' | 'still open') => {
        clearTimeout(timer);
        s.destroy();
        resolve({ outcome, error });
      };
      const timer = setTimeout(() => settle('still open'), 5000);
      s.on('data', () => settle('answered'));
      s.on('error', (e: NodeJS.ErrnoException) => (error = `${e.code ?? ''} ${e.message}`));
      s.on('close', () => settle('closed'));
      // TLS 1.3: the server's verdict on the client certificate arrives after the client's Finished
      s.on('secureConnect', () => s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    });

  it('fails the TLS handshake itself, with no HTTP/2 answer, for a client without a certificate', async () => {
    const r = await handshake({});
    expect(r.outcome).toBe('closed');
    expect(r.error).toMatch(/CERTIFICATE_REQUIRED|certificate required/i);
  });

  it('drops a client certificate from another CA at the TLS layer, with no HTTP/2 answer', async () => {
    const r = await handshake({ cert: otherPki.clientCert, key: otherPki.clientKey });
    expect(r.outcome).toBe('closed');
    // control: the same probe with a good certificate gets the server's HTTP/2 SETTINGS frame
    const good = await handshake({ cert: pki.clientCert, key: pki.clientKey });
    expect(good.outcome).toBe('answered');
  });

  it('refuses to talk to a signer whose certificate its CA did not issue (the client checks the server)', async () => {
    const wrongTrust = new GrpcKeyService({
      hostname: 'localhost',
      port,
      tls_ca_file: otherPki.caCert,
      tls_client_cert: pki.serverCert,
      tls_client_key: pki.serverKey,
    });
    await expect(wrongTrust.health()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await wrongTrust.close();
  });

  it('is still serving good clients after the refusals', async () => {
    const good = keyService(pki, port);
    await expect(good.health()).resolves.toBeUndefined();
    await good.close();
    expect(signer.child.exitCode).toBeNull();
  });
});
