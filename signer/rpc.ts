/**
 * Unary gRPC over HTTP/2 with mutual TLS, on node:http2: what the signer API needs of gRPC and
 * nothing more (spec 4.1). Real notary-server calls our signer through grpc-go and our server
 * calls a real notary-signer, so the framing follows the gRPC HTTP/2 protocol exactly:
 *
 * - request: POST `/<package>.<Service>/<Method>`, `content-type: application/grpc`,
 *   `te: trailers`, optional `grpc-timeout`; the body is one length-prefixed message
 *   (1 byte compressed flag, 4 bytes big-endian length, the protobuf bytes);
 * - response: `:status 200`, headers (custom metadata here), one length-prefixed message, and
 *   trailers `grpc-status` / `grpc-message`; an error is a "trailers-only" response: one
 *   HEADERS frame that carries the status and ends the stream.
 *
 * Compression is never offered, so a compressed message is refused. A general-purpose gRPC
 * runtime (channels, load balancing, retries, interceptors) cost about a millisecond per call
 * on each side, more than the signature itself.
 */
import * as http2 from 'node:http2';
import { decodeMessage, encodeMessage, MESSAGES, MessageType, WireError } from './wire';

/** gRPC status codes (the ones this API uses). */
export const STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

const STATUS_NAMES = new Map<number, string>(Object.entries(STATUS).map(([k, v]) => [v, k]));

export function statusName(code: number): string {
  return STATUS_NAMES.get(code) ?? String(code);
}

/** A call that ended with a status other than OK. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${statusName(code)}: ${details}`);
    this.name = 'RpcError';
  }
}

export interface Method {
  path: string;
  request: MessageType;
  response: MessageType;
}

/** Every method of signer/proto/*.proto, by its gRPC path. */
export const METHODS = {
  CreateKey: { path: '/proto.KeyManagement/CreateKey', request: MESSAGES.CreateKeyRequest, response: MESSAGES.PublicKey },
  DeleteKey: { path: '/proto.KeyManagement/DeleteKey', request: MESSAGES.KeyID, response: MESSAGES.Void },
  GetKeyInfo: { path: '/proto.KeyManagement/GetKeyInfo', request: MESSAGES.KeyID, response: MESSAGES.GetKeyInfoResponse },
  Sign: { path: '/proto.Signer/Sign', request: MESSAGES.SignatureRequest, response: MESSAGES.Signature },
  HealthCheck: { path: '/grpc.health.v1.Health/Check', request: MESSAGES.HealthCheckRequest, response: MESSAGES.HealthCheckResponse },
  DeleteGunKeys: { path: '/vouch.KeyManagement/DeleteGunKeys', request: MESSAGES.DeleteGunKeysRequest, response: MESSAGES.DeleteGunKeysResponse },
} as const satisfies Record<string, Method>;

export type MethodName = keyof typeof METHODS;

// ---------------------------------------------------------------------------------------------
// framing and metadata

const PREFIX = 5;
const GRPC_CONTENT_TYPE = /^application\/grpc(\+proto)?(;|$)/;

function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, PREFIX);
  return out;
}

/** The one uncompressed message of a unary call's body. */
function unframe(body: Buffer): Buffer {
  if (body.length < PREFIX) throw new WireError('missing message');
  if (body[0] !== 0) throw new WireError('compressed message, but no compression was negotiated');
  const len = body.readUInt32BE(1);
  if (len !== body.length - PREFIX) throw new WireError(len > body.length - PREFIX ? 'truncated message' : 'more than one message in a unary call');
  return body.subarray(PREFIX);
}

/** grpc-message is percent-encoded UTF-8 (printable ASCII other than % stays as is). */
export function encodeStatusMessage(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeStatusMessage(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const hex = s[i] === '%' ? s.slice(i + 1, i + 3) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(s.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

// ---------------------------------------------------------------------------------------------
// server

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** peers must present a certificate that chains to this CA */
  ca: Buffer;
}

export interface UnaryReply {
  message: Record<string, unknown>;
  /** custom response metadata; names ending in `-bin` carry bytes (sent base64) */
  headers?: Record<string, string | Buffer>;
}

export type UnaryHandler = (request: Record<string, unknown>) => Promise<UnaryReply>;

export interface RpcServerOptions {
  host: string;
  port: number;
  tls: TlsMaterial;
  handlers: ReadonlyMap<MethodName, UnaryHandler>;
  maxRequestBytes: number;
  maxConcurrentStreams: number;
  /** a request must be complete within this time */
  requestTimeoutMs: number;
  /** a handler failed or a request was refused; `status` is what the caller got */
  onError(method: string, status: number, err: unknown): void;
  /** maps a handler's error to the status the caller gets */
  toStatus(err: unknown): { code: number; details: string };
}

export interface RpcServer {
  port: number;
  close(): Promise<void>;
}

function respondStatus(stream: http2.ServerHttp2Stream, code: number, details: string): void {
  if (stream.destroyed || stream.headersSent) return;
  // trailers-only: one HEADERS frame with the status, ending the stream
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeStatusMessage(details) }, { endStream: true });
}

function respondMessage(stream: http2.ServerHttp2Stream, method: Method, reply: UnaryReply): void {
  if (stream.destroyed || stream.headersSent) return;
  const body = frame(encodeMessage(method.response, reply.message));
  const headers: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc' };
  for (const [name, value] of Object.entries(reply.headers ?? {})) headers[name] = Buffer.isBuffer(value) ? value.toString('base64') : value;
  stream.respond(headers, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(STATUS.OK) }));
  stream.end(body);
}

export async function listenRpc(opts: RpcServerOptions): Promise<RpcServer> {
  const byPath = new Map<string, { name: MethodName; method: Method; handler: UnaryHandler }>();
  for (const [name, handler] of opts.handlers) byPath.set(METHODS[name].path, { name, method: METHODS[name], handler });

  // the handshake fails unless the client presents a certificate that chains to `ca`: no
  // request reaches a handler before that
  const server = http2.createSecureServer({
    cert: opts.tls.cert,
    key: opts.tls.key,
    ca: opts.tls.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    allowHTTP1: false,
    settings: { maxConcurrentStreams: opts.maxConcurrentStreams },
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => undefined);
  });

  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = headerString(headers[':path']) ?? '';
    const contentType = headerString(headers['content-type']) ?? '';
    if (headers[':method'] !== 'POST' || !GRPC_CONTENT_TYPE.test(contentType)) {
      stream.respond({ ':status': 415, 'content-type': 'text/plain' });
      stream.end('gRPC requests only\n');
      return;
    }
    const target = byPath.get(path);
    if (!target) {
      opts.onError(path.slice(0, 100), STATUS.UNIMPLEMENTED, new Error('unknown method'));
      respondStatus(stream, STATUS.UNIMPLEMENTED, `unknown method ${path.slice(0, 100)}`);
      stream.resume();
      return;
    }
    const { name, method, handler } = target;
    const refuse = (code: number, details: string, err: unknown) => {
      opts.onError(name, code, err);
      respondStatus(stream, code, details);
      // stop a client that is still sending (RST_STREAM NO_ERROR follows the status)
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    };
    stream.setTimeout(opts.requestTimeoutMs, () => refuse(STATUS.DEADLINE_EXCEEDED, 'request not received in time', new Error('request timeout')));

    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    stream.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > opts.maxRequestBytes + PREFIX) {
        refused = true;
        refuse(STATUS.RESOURCE_EXHAUSTED, `request larger than ${opts.maxRequestBytes} bytes`, new Error('request too large'));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (refused) return;
      stream.setTimeout(0);
      let request: Record<string, unknown>;
      try {
        request = decodeMessage(method.request, unframe(Buffer.concat(chunks, size)));
      } catch (e) {
        refuse(STATUS.INTERNAL, `cannot decode the request: ${(e as Error).message}`, e);
        return;
      }
      handler(request).then(
        (reply) => respondMessage(stream, method, reply),
        (e: unknown) => {
          const status = opts.toStatus(e);
          opts.onError(name, status.code, e);
          respondStatus(stream, status.code, status.details);
        },
      );
    });
  });

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
        setTimeout(() => {
          for (const s of sessions) s.destroy();
        }, 5000).unref();
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
}

export interface UnaryResult {
  message: Record<string, unknown>;
  headers: http2.IncomingHttpHeaders;
}

/**
 * One HTTP/2 connection to the signer, opened on first use and again after it closes; every
 * call is a stream on it. The peer's certificate must chain to `tls.ca` and name `host`.
 */
export class RpcClient {
  private session: http2.ClientHttp2Session | null = null;
  private readonly authority: string;
  private closed = false;

  constructor(private readonly opts: RpcClientOptions) {
    this.authority = `https://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  }

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(this.authority, {
      ca: this.opts.tls.ca,
      cert: this.opts.tls.cert,
      key: this.opts.tls.key,
      minVersion: 'TLSv1.2',
    });
    const forget = () => {
      if (this.session === session) this.session = null;
    };
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    // an idle connection must not keep the process alive; calls in flight hold their timers
    session.unref();
    this.session = session;
    return session;
  }

  call(name: MethodName, request: Record<string, unknown>, deadlineMs: number): Promise<UnaryResult> {
    const method: Method = METHODS[name];
    if (this.closed) return Promise.reject(new RpcError(STATUS.UNAVAILABLE, 'client closed'));
    let body: Buffer;
    try {
      body = frame(encodeMessage(method.request, request));
    } catch (e) {
      return Promise.reject(new RpcError(STATUS.INTERNAL, `cannot encode the request: ${(e as Error).message}`));
    }
    if (body.length > this.opts.maxRequestBytes + PREFIX) {
      return Promise.reject(new RpcError(STATUS.RESOURCE_EXHAUSTED, `request larger than ${this.opts.maxRequestBytes} bytes`));
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      let stream: http2.ClientHttp2Stream;
      const finish = (err: RpcError | null, result?: UnaryResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
          reject(err);
        } else resolve(result as UnaryResult);
      };
      const timer = setTimeout(() => finish(new RpcError(STATUS.DEADLINE_EXCEEDED, `no answer within ${deadlineMs} ms`)), deadlineMs);
      try {
        stream = this.connect().request({
          ':method': 'POST',
          ':path': method.path,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${Math.max(1, Math.min(deadlineMs, 99_999_999))}m`,
        });
      } catch (e) {
        finish(new RpcError(STATUS.UNAVAILABLE, (e as Error).message));
        return;
      }
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | null = null;
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.opts.maxResponseBytes + PREFIX) {
          finish(new RpcError(STATUS.RESOURCE_EXHAUSTED, `answer larger than ${this.opts.maxResponseBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      stream.on('error', (e: Error) => {
        // no answer at all is a connection problem; a broken answer is the peer's fault
        finish(new RpcError(headers[':status'] === undefined ? STATUS.UNAVAILABLE : STATUS.INTERNAL, e.message));
      });
      stream.on('close', () => {
        if (settled) return;
        // node hands :status over as a number, whatever IncomingHttpHeaders says
        const httpStatus = headers[':status'] === undefined ? undefined : Number(headers[':status']);
        if (httpStatus === undefined) {
          finish(new RpcError(STATUS.UNAVAILABLE, `stream closed without an answer (code ${stream.rstCode ?? 'none'})`));
          return;
        }
        if (httpStatus !== 200) {
          finish(new RpcError(STATUS.UNKNOWN, `HTTP status ${httpStatus}`));
          return;
        }
        // a trailers-only answer carries the status in its headers
        const status = (trailers ?? headers)['grpc-status'];
        const code = Number(headerString(status));
        if (status === undefined || !Number.isInteger(code)) {
          finish(new RpcError(STATUS.INTERNAL, 'answer without a grpc-status'));
          return;
        }
        if (code !== STATUS.OK) {
          finish(new RpcError(code, decodeStatusMessage(headerString((trailers ?? headers)['grpc-message']) ?? '')));
          return;
        }
        try {
          finish(null, { message: decodeMessage(method.response, unframe(Buffer.concat(chunks, size))), headers });
        } catch (e) {
          finish(new RpcError(STATUS.INTERNAL, `cannot decode the answer: ${(e as Error).message}`));
        }
      });
      stream.end(body);
    });
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = null;
  }
}

/** The bytes of a `-bin` metadata header (base64, padded or not). */
export function binaryHeader(headers: http2.IncomingHttpHeaders, name: string): Buffer | null {
  const v = headerString(headers[name]);
  return v === undefined ? null : Buffer.from(v, 'base64');
}
