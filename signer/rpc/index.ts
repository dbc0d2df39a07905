/**
 * The signer API's transport: one mutually authenticated TLS port, two protocols chosen by
 * ALPN during the handshake:
 *
 * - `h2`: gRPC over HTTP/2 (./grpc.ts), what Notary speaks: a real notary-server calling
 *   vouch-signer, vouch-server calling a real notary-signer;
 * - `vouch-rpc/1` (./direct.ts): the same calls in plain frames, vouch to vouch, because
 *   node's HTTP/2 costs about a millisecond per call on each side after an idle moment.
 *
 * A vouch client offers `vouch-rpc/1` first and `h2` second; vouch-signer prefers
 * `vouch-rpc/1`; anything else agrees on `h2`. No request reaches a handler before the peer's
 * certificate has been checked against the CA.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { encodeMessage } from '../wire';
import { METHODS, MethodName, RpcError, ServeOptions, STATUS, TlsMaterial, UnaryResult } from './api';
import { DIRECT_ALPN, DirectConnection, serveDirect } from './direct';
import { GrpcConnection, grpcStreamHandler } from './grpc';

export * from './api';
export { DIRECT_ALPN } from './direct';

const GRPC_ALPN = 'h2';
/** After close(), calls in flight get this long before their connections are cut. */
const CLOSE_GRACE_MS = 5000;

// ---------------------------------------------------------------------------------------------
// server

export interface RpcServerOptions extends ServeOptions {
  host: string;
  port: number;
  tls: TlsMaterial;
}

export interface RpcServer {
  port: number;
  close(): Promise<void>;
}

export async function listenRpc(opts: RpcServerOptions): Promise<RpcServer> {
  // the handshake fails unless the client presents a certificate that chains to `ca`
  const server = tls.createServer({
    cert: opts.tls.cert,
    key: opts.tls.key,
    ca: opts.tls.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    // the server's order decides: vouch-rpc/1 when the client offers it
    ALPNProtocols: [DIRECT_ALPN, GRPC_ALPN],
  });
  // gRPC sessions run on the authenticated TLS sockets handed over below
  const grpc = http2.createServer({ settings: { maxConcurrentStreams: opts.maxConcurrentCalls } });
  grpc.on('stream', grpcStreamHandler(opts));
  const sessions = new Set<http2.ServerHttp2Session>();
  grpc.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => undefined);
  });
  const direct = new Set<tls.TLSSocket>();
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    socket.on('error', () => undefined);
    if (socket.alpnProtocol === DIRECT_ALPN) {
      direct.add(socket);
      socket.on('close', () => direct.delete(socket));
      serveDirect(socket, opts);
    } else if (socket.alpnProtocol === GRPC_ALPN) {
      grpc.emit('connection', socket);
    } else {
      // gRPC clients always negotiate h2; there is nothing else to speak
      socket.destroy();
    }
  });
  server.on('tlsClientError', () => undefined);

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : opts.port);
    });
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // let calls in flight finish, then cut what is left
        for (const s of sessions) s.close();
        for (const s of direct) s.end();
        setTimeout(() => {
          for (const s of sessions) s.destroy();
          for (const s of direct) s.destroy();
        }, CLOSE_GRACE_MS).unref();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// client

export interface RpcClientOptions {
  host: string;
  port: number;
  tls: TlsMaterial;
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** ALPN protocols to offer, preferred first (default: vouch-rpc/1, then h2) */
  protocols?: readonly string[];
  /** told the protocol of each new connection */
  onConnect?(protocol: string): void;
}

type Connection = DirectConnection | GrpcConnection;

/**
 * One connection to the signer, opened on first use and again after it breaks; calls share
 * it. The peer's certificate must chain to `tls.ca` and name `host`.
 */
export class RpcClient {
  private connection: Connection | null = null;
  private connecting: Promise<Connection> | null = null;
  private closed = false;

  constructor(private readonly opts: RpcClientOptions) {}

  /** the protocol of the current connection (null before the first call) */
  get protocol(): string | null {
    if (!this.connection) return null;
    return this.connection instanceof DirectConnection ? DIRECT_ALPN : GRPC_ALPN;
  }

  private open(): Promise<Connection> {
    const { host, port, tls: material } = this.opts;
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        ca: material.ca,
        cert: material.cert,
        key: material.key,
        minVersion: 'TLSv1.2',
        // an IP address is checked against the certificate's IP SANs, and is no server name
        servername: net.isIP(host) ? undefined : host,
        ALPNProtocols: [...(this.opts.protocols ?? [DIRECT_ALPN, GRPC_ALPN])],
      });
      const failed = (e: Error) => reject(new RpcError(STATUS.UNAVAILABLE, e.message));
      socket.once('error', failed);
      socket.once('secureConnect', () => {
        socket.off('error', failed);
        // an idle connection must not keep the process alive; calls in flight hold their timers
        socket.unref();
        if (socket.alpnProtocol === DIRECT_ALPN) {
          resolve(new DirectConnection(socket, this.opts.maxResponseBytes));
        } else if (socket.alpnProtocol === GRPC_ALPN) {
          const authority = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
          resolve(new GrpcConnection(http2.connect(authority, { createConnection: () => socket }), this.opts.maxResponseBytes));
        } else {
          socket.destroy();
          reject(new RpcError(STATUS.UNAVAILABLE, `the signer agreed on no protocol (ALPN ${String(socket.alpnProtocol)})`));
        }
      });
    });
  }

  private connect(): Promise<Connection> {
    if (this.connection?.usable) return Promise.resolve(this.connection);
    this.connection = null;
    if (!this.connecting) {
      this.connecting = this.open().then(
        (c) => {
          this.connecting = null;
          if (this.closed) c.close();
          else this.connection = c;
          this.opts.onConnect?.(this.protocol ?? '');
          return c;
        },
        (e: unknown) => {
          this.connecting = null;
          throw e;
        },
      );
    }
    return this.connecting;
  }

  async call(name: MethodName, request: Record<string, unknown>, deadlineMs: number): Promise<UnaryResult> {
    if (this.closed) throw new RpcError(STATUS.UNAVAILABLE, 'client closed');
    let message: Buffer;
    try {
      message = encodeMessage(METHODS[name].request, request);
    } catch (e) {
      throw new RpcError(STATUS.INTERNAL, `cannot encode the request: ${(e as Error).message}`);
    }
    if (message.length > this.opts.maxRequestBytes) throw new RpcError(STATUS.RESOURCE_EXHAUSTED, `request larger than ${this.opts.maxRequestBytes} bytes`);
    // connected: the request goes out now, not after the caller's next await
    if (this.connection?.usable) return this.connection.call(name, message, deadlineMs);
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const connection = await Promise.race([
      this.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RpcError(STATUS.DEADLINE_EXCEEDED, `no connection within ${deadlineMs} ms`)), deadlineMs);
      }),
    ]).finally(() => clearTimeout(timer));
    return connection.call(name, message, Math.max(1, deadlineMs - (Date.now() - started)));
  }

  close(): void {
    this.closed = true;
    this.connection?.close();
    this.connection = null;
  }
}
