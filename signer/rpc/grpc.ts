/**
 * gRPC over HTTP/2 (what Notary speaks: notary-server calls our signer through grpc-go, our
 * server calls a real notary-signer), framed exactly as the gRPC HTTP/2 protocol says:
 *
 * - request: POST `/<package>.<Service>/<Method>`, `content-type: application/grpc`,
 *   `te: trailers`, optional `grpc-timeout`; the body is one length-prefixed message
 *   (1 byte compressed flag, 4 bytes big-endian length, the protobuf bytes);
 * - response: `:status 200`, headers (custom metadata here), one length-prefixed message, and
 *   trailers `grpc-status` / `grpc-message`; an error is a "trailers-only" response: one
 *   HEADERS frame that carries the status and ends the stream.
 *
 * Compression is never offered, so a compressed message is refused.
 */
import * as http2 from 'node:http2';
import { decodeMessage, encodeMessage, WireError } from '../wire';
import { decodeStatusMessage, encodeStatusMessage, Method, METHODS, MethodName, RpcError, ServeOptions, STATUS, UnaryHandler, UnaryReply, UnaryResult } from './api';

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

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
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

export function grpcStreamHandler(opts: ServeOptions): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void {
  const byPath = new Map<string, { name: MethodName; method: Method; handler: UnaryHandler }>();
  for (const [name, handler] of opts.handlers) byPath.set(METHODS[name].path, { name, method: METHODS[name], handler });
  return (stream, headers) => {
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
  };
}

// ---------------------------------------------------------------------------------------------
// client side

/** One gRPC connection (an HTTP/2 session) of an RpcClient. */
export class GrpcConnection {
  constructor(
    private readonly session: http2.ClientHttp2Session,
    private readonly maxResponseBytes: number,
  ) {
    session.on('error', () => undefined);
  }

  get usable(): boolean {
    return !this.session.closed && !this.session.destroyed;
  }

  /** One unary call; `message` is the encoded request. */
  call(name: MethodName, message: Buffer, deadlineMs: number): Promise<UnaryResult> {
    const method: Method = METHODS[name];
    const body = frame(message);
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
        stream = this.session.request({
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
        if (size > this.maxResponseBytes + PREFIX) {
          finish(new RpcError(STATUS.RESOURCE_EXHAUSTED, `answer larger than ${this.maxResponseBytes} bytes`));
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
    this.session.close();
  }
}
