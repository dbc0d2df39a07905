/**
 * signer/rpc, the signer's transport, in one process over real mutual TLS, on both protocols
 * (gRPC over HTTP/2, and vouch-rpc/1 chosen by ALPN): statuses, deadlines, bounds,
 * reconnection, and what malformed requests get. Interop with grpc-js and the real Go
 * binaries is in test/e2e/signer-*.test.ts.
 */
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { DevPki, ensureDevPki } from '../../scripts/devpki';
import {
  binaryHeader,
  decodeStatusMessage,
  DIRECT_ALPN,
  encodeStatusMessage,
  listenRpc,
  MethodName,
  RpcClient,
  RpcError,
  RpcServer,
  STATUS,
  UnaryHandler,
} from '../../signer/rpc';

describe('signer transport', () => {
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
      maxConcurrentCalls: 100,
      requestTimeoutMs: 2000,
      onError: (method, status) => errors.push({ method, status }),
      toStatus: (e) => (e as { status?: { code: number; details: string } }).status ?? { code: STATUS.INTERNAL, details: 'internal error' },
    });

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

  it('percent-encodes grpc-message as the gRPC protocol says', () => {
    expect(encodeStatusMessage('a b%c\né')).toBe('a b%25c%0A%C3%A9');
    expect(decodeStatusMessage('a b%25c%0A%C3%A9')).toBe('a b%c\né');
    expect(decodeStatusMessage('100% sure')).toBe('100% sure');
  });

  describe.each([
    ['vouch-rpc/1', [DIRECT_ALPN, 'h2']],
    ['gRPC (h2)', ['h2']],
  ])('%s', (protocol, protocols) => {
    const client = (maxResponseBytes = 64 * 1024) =>
      new RpcClient({ host: '127.0.0.1', port: server.port, tls: tlsOf(pki.serverCert, pki.serverKey), maxRequestBytes: 64 * 1024, maxResponseBytes, protocols });

    it('answers a unary call with the decoded message and binary metadata, on the protocol offered first', async () => {
      const c = client();
      const r = await c.call('Sign', { keyID: { ID: 'k1' }, content: Buffer.from('hello') }, 5000);
      expect(c.protocol).toBe(protocols[0]);
      expect(r.message).toEqual({ keyInfo: { keyID: { ID: 'k1' }, algorithm: { algorithm: 'ecdsa' } }, algorithm: null, content: Buffer.from('hello!') });
      const info = await c.call('GetKeyInfo', { ID: 'abcdefghij' }, 5000);
      expect(binaryHeader(info.headers, 'vouch-gun-bin')?.toString('utf8')).toBe('gün of abcdefgh');
      c.close();
    });

    it('carries a handler error as status and message', async () => {
      const c = client();
      const e = await failure(c.call('CreateKey', { algorithm: 'ecdsa', gun: 'g', role: 'timestamp' }, 5000));
      expect([e.code, e.details]).toEqual([STATUS.NOT_FOUND, 'no such key: ключ 100%']);
      expect(errors).toContainEqual({ method: 'CreateKey', status: STATUS.NOT_FOUND });
      c.close();
    });

    it('answers UNIMPLEMENTED for a method it does not serve (as notary-signer does for DeleteGunKeys)', async () => {
      const c = client();
      expect((await failure(c.call('HealthCheck', { service: '' }, 5000))).code).toBe(STATUS.UNIMPLEMENTED);
      c.close();
    });

    it('gives up at the deadline with DEADLINE_EXCEEDED, and the connection stays usable', async () => {
      const c = client();
      const started = Date.now();
      expect((await failure(c.call('DeleteKey', { ID: 'slow' }, 300))).code).toBe(STATUS.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeLessThan(3000);
      expect((await c.call('DeleteGunKeys', { gun: 'g' }, 5000)).message).toEqual({ deleted: 1 });
      c.close();
    });

    it('refuses a request above its bound before sending, and an answer above its bound', async () => {
      const c = client();
      expect((await failure(c.call('Sign', { keyID: { ID: 'k' }, content: Buffer.alloc(70 * 1024) }, 5000))).code).toBe(STATUS.RESOURCE_EXHAUSTED);
      const small = client(16);
      expect((await failure(small.call('Sign', { keyID: { ID: 'k' }, content: Buffer.alloc(100) }, 5000))).code).toBe(STATUS.RESOURCE_EXHAUSTED);
      small.close();
      expect((await c.call('DeleteGunKeys', { gun: 'g' }, 5000)).message).toEqual({ deleted: 1 });
      c.close();
    });

    it('refuses a client without a certificate in the handshake', async () => {
      const noCert = new RpcClient({
        host: '127.0.0.1',
        port: server.port,
        tls: { ca: fs.readFileSync(pki.caCert) } as never,
        maxRequestBytes: 1024,
        maxResponseBytes: 1024,
        protocols,
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

    it('runs many calls at once on one connection, each answered with its own result', async () => {
      const c = client();
      const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => c.call('Sign', { keyID: { ID: `k${i}` }, content: Buffer.from(String(i)) }, 10_000)));
      answers.forEach((a, i) => expect((a.message.content as Buffer).toString()).toBe(`${i}!`));
      c.close();
    });
  });

  describe('gRPC framing, as a raw HTTP/2 client sends it', () => {
    const ask = (headers: http2.OutgoingHttpHeaders, body: Buffer) =>
      new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const session = http2.connect(`https://127.0.0.1:${server.port}`, tlsOf(pki.serverCert, pki.serverKey));
        session.on('error', reject);
        const st = session.request(headers);
        st.on('response', (h) => {
          resolve(h);
          session.close();
        });
        st.on('error', reject);
        st.resume();
        st.end(body);
      });
    const grpcHeaders = { ':method': 'POST', ':path': '/proto.Signer/Sign', 'content-type': 'application/grpc', te: 'trailers' };

    it('refuses a request above the bound with RESOURCE_EXHAUSTED', async () => {
      const big = Buffer.alloc(5 + 100 * 1024);
      big.writeUInt32BE(100 * 1024, 1);
      const h = await ask(grpcHeaders, big);
      expect([h['grpc-status'], h['grpc-message']]).toEqual([String(STATUS.RESOURCE_EXHAUSTED), 'request larger than 65536 bytes']);
    });

    it('refuses a compressed message, and a request that is not gRPC', async () => {
      const h = await ask(grpcHeaders, Buffer.from([1, 0, 0, 0, 0]));
      expect(h['grpc-status']).toBe(String(STATUS.INTERNAL));
      expect(decodeStatusMessage(String(h['grpc-message']))).toMatch(/compressed message/);
      const plain = await ask({ ':method': 'POST', ':path': '/proto.Signer/Sign', 'content-type': 'application/json' }, Buffer.from('{}'));
      expect(plain[':status']).toBe(415);
    });
  });

  describe('vouch-rpc/1 framing, as a raw TLS client sends it', () => {
    /** Send raw bytes on a vouch-rpc/1 connection; resolve with what comes back until it closes or `wait` ms pass. */
    const exchange = (bytes: Buffer, wait = 500) =>
      new Promise<{ data: Buffer; closed: boolean }>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: server.port, ...tlsOf(pki.serverCert, pki.serverKey), ALPNProtocols: [DIRECT_ALPN] });
        const chunks: Buffer[] = [];
        let closed = false;
        socket.on('error', reject);
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('close', () => {
          closed = true;
          resolve({ data: Buffer.concat(chunks), closed });
        });
        socket.on('secureConnect', () => {
          expect(socket.alpnProtocol).toBe(DIRECT_ALPN);
          socket.write(bytes);
          setTimeout(() => {
            resolve({ data: Buffer.concat(chunks), closed });
            socket.destroy();
          }, wait);
        });
      });
    const frame = (id: number, tag: number, payload: Buffer) => {
      const head = Buffer.alloc(9);
      head.writeUInt32BE(5 + payload.length, 0);
      head.writeUInt32BE(id, 4);
      head[8] = tag;
      return Buffer.concat([head, payload]);
    };
    const statusOf = (data: Buffer) => ({ id: data.readUInt32BE(4), code: data[8], details: data.subarray(9).toString('utf8') });

    it('answers an unknown method number with UNIMPLEMENTED for that call id', async () => {
      const r = await exchange(frame(7, 200, Buffer.alloc(0)));
      expect(statusOf(r.data)).toEqual({ id: 7, code: STATUS.UNIMPLEMENTED, details: 'unknown method #200' });
    });

    it('answers a message that does not decode with INTERNAL, and keeps the connection', async () => {
      const r = await exchange(frame(9, 3, Buffer.from([0x0a, 0x05, 0x61])));
      expect(statusOf(r.data).code).toBe(STATUS.INTERNAL);
      expect(r.closed).toBe(false);
    });

    it('answers a frame above the bound with RESOURCE_EXHAUSTED and closes the connection', async () => {
      const head = Buffer.alloc(9);
      head.writeUInt32BE(10 * 1024 * 1024, 0);
      const r = await exchange(head, 2000);
      expect(statusOf(r.data)).toEqual({ id: 0, code: STATUS.RESOURCE_EXHAUSTED, details: 'request larger than 65536 bytes' });
      expect(r.closed).toBe(true);
    });
  });
});
