/**
 * signer/rpc.ts, the signer's gRPC transport, in one process over real mutual TLS: statuses,
 * deadlines, bounds, reconnection, and what a non-gRPC or compressed request gets. Interop with
 * grpc-js and the real Go binaries is in test/e2e/signer-*.test.ts.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { DevPki, ensureDevPki } from '../../scripts/devpki';
import { binaryHeader, decodeStatusMessage, encodeStatusMessage, listenRpc, MethodName, RpcClient, RpcError, RpcServer, STATUS, UnaryHandler } from '../../signer/rpc';

describe('signer gRPC transport', () => {
  let dir: string;
  let pki: DevPki;
  let server: RpcServer;
  const errors: Array<{ method: string; status: number }> = [];
  let hang: Promise<void>;
  let release: () => void;

  const tlsOf = (cert: string, key: string) => ({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), ca: fs.readFileSync(pki.caCert) });

  const handlers = new Map<MethodName, UnaryHandler>([
    ['Sign', async (req) => ({ message: { keyInfo: { keyID: req.keyID, algorithm: { algorithm: 'ecdsa' } }, content: Buffer.concat([req.content as Buffer, Buffer.from('!')]) } })],
    ['GetKeyInfo', async (req) => ({ message: { role: 'timestamp', publicKey: Buffer.from('pk') }, headers: { 'vouch-gun-bin': Buffer.from(`gün of ${(req.ID as string).slice(0, 8)}`) } })],
    [
      'CreateKey',
      async () => {
        throw Object.assign(new Error('nope'), { status: { code: STATUS.NOT_FOUND, details: 'no such key: ключ 100%' } });
      },
    ],
    [
      'DeleteKey',
      async () => {
        await hang;
        return { message: {} };
      },
    ],
    ['DeleteGunKeys', async () => ({ message: { deleted: 1 }, headers: {} })],
  ]);

  const start = (port = 0) =>
    listenRpc({
      host: '127.0.0.1',
      port,
      tls: tlsOf(pki.signerCert, pki.signerKey),
      handlers,
      maxRequestBytes: 64 * 1024,
      maxConcurrentStreams: 100,
      requestTimeoutMs: 2000,
      onError: (method, status) => errors.push({ method, status }),
      toStatus: (e) => (e as { status?: { code: number; details: string } }).status ?? { code: STATUS.INTERNAL, details: 'internal error' },
    });

  const client = (maxResponseBytes = 64 * 1024) =>
    new RpcClient({ host: '127.0.0.1', port: server.port, tls: tlsOf(pki.serverCert, pki.serverKey), maxRequestBytes: 64 * 1024, maxResponseBytes });

  const failure = async (p: Promise<unknown>): Promise<RpcError> => {
    try {
      await p;
    } catch (e) {
      if (e instanceof RpcError) return e;
      throw e;
    }
    throw new Error('the call succeeded');
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-rpc-'));
    pki = ensureDevPki(path.join(dir, 'pki'));
    hang = new Promise((r) => (release = r));
    server = await start();
  });

  afterAll(async () => {
    release();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers a unary call with the decoded message and binary metadata', async () => {
    const c = client();
    const r = await c.call('Sign', { keyID: { ID: 'k1' }, content: Buffer.from('hello') }, 5000);
    expect(r.message).toEqual({ keyInfo: { keyID: { ID: 'k1' }, algorithm: { algorithm: 'ecdsa' } }, algorithm: null, content: Buffer.from('hello!') });
    const info = await c.call('GetKeyInfo', { ID: 'abcdefghij' }, 5000);
    expect(binaryHeader(info.headers, 'vouch-gun-bin')?.toString('utf8')).toBe('gün of abcdefgh');
    c.close();
  });

  it('carries a handler error as status and percent-encoded message (trailers-only)', async () => {
    const c = client();
    const e = await failure(c.call('CreateKey', { algorithm: 'ecdsa', gun: 'g', role: 'timestamp' }, 5000));
    expect([e.code, e.details]).toEqual([STATUS.NOT_FOUND, 'no such key: ключ 100%']);
    expect(errors).toContainEqual({ method: 'CreateKey', status: STATUS.NOT_FOUND });
    c.close();
  });

  it('percent-encodes grpc-message as the gRPC protocol says', () => {
    expect(encodeStatusMessage('a b%c\né')).toBe('a b%25c%0A%C3%A9');
    expect(decodeStatusMessage('a b%25c%0A%C3%A9')).toBe('a b%c\né');
    expect(decodeStatusMessage('100% sure')).toBe('100% sure');
  });

  it('answers UNIMPLEMENTED for a method it does not serve (as notary-signer does for DeleteGunKeys)', async () => {
    const c = client();
    const e = await failure(c.call('HealthCheck', { service: '' }, 5000));
    expect(e.code).toBe(STATUS.UNIMPLEMENTED);
    c.close();
  });

  it('gives up at the deadline with DEADLINE_EXCEEDED, and the connection stays usable', async () => {
    const c = client();
    const started = Date.now();
    const e = await failure(c.call('DeleteKey', { ID: 'slow' }, 300));
    expect(e.code).toBe(STATUS.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await c.call('DeleteGunKeys', { gun: 'g' }, 5000)).message).toEqual({ deleted: 1 });
    c.close();
  });

  it('refuses a request above the bound on the server, and an answer above the bound on the client', async () => {
    const c = client();
    // the client's own bound is the same; send raw to reach the server's
    const tls = tlsOf(pki.serverCert, pki.serverKey);
    const session = http2.connect(`https://127.0.0.1:${server.port}`, tls);
    const big = Buffer.alloc(5 + 100 * 1024);
    big.writeUInt32BE(100 * 1024, 1);
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const st = session.request({ ':method': 'POST', ':path': '/proto.Signer/Sign', 'content-type': 'application/grpc', te: 'trailers' });
      st.on('response', resolve);
      st.on('error', reject);
      st.end(big);
    });
    expect([headers['grpc-status'], headers['grpc-message']]).toEqual([String(STATUS.RESOURCE_EXHAUSTED), 'request larger than 65536 bytes']);
    session.close();
    expect((await failure(c.call('Sign', { keyID: { ID: 'k' }, content: Buffer.alloc(70 * 1024) }, 5000))).code).toBe(STATUS.RESOURCE_EXHAUSTED);
    const small = client(16);
    expect((await failure(small.call('Sign', { keyID: { ID: 'k' }, content: Buffer.alloc(100) }, 5000))).code).toBe(STATUS.RESOURCE_EXHAUSTED);
    small.close();
    // and the server still serves
    expect((await c.call('DeleteGunKeys', { gun: 'g' }, 5000)).message).toEqual({ deleted: 1 });
    c.close();
  });

  it('refuses a compressed message and a request that is not gRPC', async () => {
    const session = http2.connect(`https://127.0.0.1:${server.port}`, tlsOf(pki.serverCert, pki.serverKey));
    const ask = (headers: http2.OutgoingHttpHeaders, body: Buffer) =>
      new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const st = session.request(headers);
        st.on('response', resolve);
        st.on('error', reject);
        st.resume();
        st.end(body);
      });
    const compressed = Buffer.from([1, 0, 0, 0, 0]);
    const h = await ask({ ':method': 'POST', ':path': '/proto.Signer/Sign', 'content-type': 'application/grpc', te: 'trailers' }, compressed);
    expect(h['grpc-status']).toBe(String(STATUS.INTERNAL));
    expect(decodeStatusMessage(String(h['grpc-message']))).toMatch(/compressed message/);
    const plain = await ask({ ':method': 'POST', ':path': '/proto.Signer/Sign', 'content-type': 'application/json' }, Buffer.from('{}'));
    expect(plain[':status']).toBe(415);
    session.close();
  });

  it('refuses a client without a certificate in the handshake', async () => {
    const noCert = new RpcClient({
      host: '127.0.0.1',
      port: server.port,
      tls: { ca: fs.readFileSync(pki.caCert) } as never,
      maxRequestBytes: 1024,
      maxResponseBytes: 1024,
    });
    expect((await failure(noCert.call('DeleteGunKeys', { gun: 'g' }, 5000))).code).toBe(STATUS.UNAVAILABLE);
    noCert.close();
  });

  it('reconnects after the server restarts; calls while it is down are UNAVAILABLE', async () => {
    const c = client();
    expect((await c.call('DeleteGunKeys', { gun: 'g' }, 5000)).message).toEqual({ deleted: 1 });
    const port = server.port;
    await server.close();
    expect((await failure(c.call('DeleteGunKeys', { gun: 'g' }, 5000))).code).toBe(STATUS.UNAVAILABLE);
    server = await start(port);
    expect((await c.call('DeleteGunKeys', { gun: 'g' }, 5000)).message).toEqual({ deleted: 1 });
    c.close();
    expect((await failure(c.call('DeleteGunKeys', { gun: 'g' }, 5000))).code).toBe(STATUS.UNAVAILABLE);
  });

  it('runs many calls at once on one connection', async () => {
    const c = client();
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => c.call('Sign', { keyID: { ID: `k${i}` }, content: Buffer.from(String(i)) }, 10_000)));
    answers.forEach((a, i) => expect((a.message.content as Buffer).toString()).toBe(`${i}!`));
    c.close();
  });
});
