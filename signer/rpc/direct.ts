/**
 * `vouch-rpc/1`: the signer API between vouch's own server and signer, without HTTP/2. The
 * same methods and protobuf messages as gRPC (signer/wire.ts), in length-prefixed frames on
 * the mutually authenticated TLS connection, chosen by ALPN: a vouch client offers
 * `vouch-rpc/1` before `h2`, vouch-signer prefers it, and everyone else (notary-server calling
 * vouch-signer, vouch-server calling a real notary-signer) agrees on `h2` and speaks gRPC.
 *
 * Why: node's HTTP/2 streams cost about a millisecond per call on each side when the process
 * has been idle, where a TLS round trip costs a third of that; a publish waits for one call.
 *
 * Frames, all integers big-endian:
 *   request:  u32 n | u32 call id | u8 method (index in METHOD_IDS) | message (n - 5 bytes)
 *   answer:   u32 n | u32 call id | u8 status | status 0: u16 m, metadata (m bytes), message
 *                                             | otherwise: the status message, UTF-8
 *   metadata: repeated u8 name length | name (ASCII) | u16 value length | value bytes
 * Calls on one connection may be answered in any order; the call id pairs them.
 */
import type * as tls from 'node:tls';
import { decodeMessage, encodeMessage, WireError } from '../wire';
import { METHODS, MethodName, RpcError, ServeOptions, STATUS, UnaryResult } from './api';

export const DIRECT_ALPN = 'vouch-rpc/1';

/** Method numbers on the wire: append only, never reorder. */
const METHOD_IDS: readonly MethodName[] = ['CreateKey', 'DeleteKey', 'GetKeyInfo', 'Sign', 'HealthCheck', 'DeleteGunKeys'];

const LENGTH = 4;
const HEAD = 5; // call id + method or status

/** Split a byte stream into frames (u32 length first); `onFrame` gets each frame's body. */
class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly maxFrame: number,
    private readonly onFrame: (body: Buffer) => void,
    private readonly onTooLarge: (n: number) => void,
  ) {}

  get pending(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size >= LENGTH) {
      let buf = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
      const n = buf.readUInt32BE(0);
      if (n < HEAD || n > this.maxFrame) {
        this.chunks = [];
        this.size = 0;
        this.onTooLarge(n);
        return;
      }
      if (this.size < LENGTH + n) {
        this.chunks = [buf];
        return;
      }
      const body = buf.subarray(LENGTH, LENGTH + n);
      buf = buf.subarray(LENGTH + n);
      this.chunks = buf.length > 0 ? [buf] : [];
      this.size = buf.length;
      this.onFrame(body);
    }
  }
}

function frameOf(id: number, tag: number, parts: Buffer[]): Buffer {
  const n = HEAD + parts.reduce((sum, p) => sum + p.length, 0);
  const head = Buffer.allocUnsafe(LENGTH + HEAD);
  head.writeUInt32BE(n, 0);
  head.writeUInt32BE(id, 4);
  head[8] = tag;
  return Buffer.concat([head, ...parts], LENGTH + n);
}

function encodeMetadata(headers: Record<string, string | Buffer> | undefined): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
    if (n.length > 255 || v.length > 0xffff) throw new WireError(`metadata ${name.slice(0, 40)} too long`);
    const lengths = Buffer.allocUnsafe(3);
    lengths[0] = n.length;
    lengths.writeUInt16BE(v.length, 1);
    parts.push(lengths.subarray(0, 1), n, lengths.subarray(1), v);
  }
  const all = Buffer.concat(parts);
  if (all.length > 0xffff) throw new WireError('metadata too long');
  const m = Buffer.allocUnsafe(2);
  m.writeUInt16BE(all.length, 0);
  return Buffer.concat([m, all]);
}

/** Metadata as gRPC clients see it: `-bin` values base64, others as text. */
function decodeMetadata(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < buf.length) {
    const nameLen = buf[i] as number;
    if (i + 1 + nameLen + 2 > buf.length) throw new WireError('truncated metadata');
    const name = buf.toString('latin1', i + 1, i + 1 + nameLen);
    const valueLen = buf.readUInt16BE(i + 1 + nameLen);
    const start = i + 3 + nameLen;
    if (start + valueLen > buf.length) throw new WireError('truncated metadata');
    const value = buf.subarray(start, start + valueLen);
    out[name] = name.endsWith('-bin') ? value.toString('base64') : value.toString('utf8');
    i = start + valueLen;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// server side

/** Serve `vouch-rpc/1` calls on an authenticated TLS socket until it closes. */
export function serveDirect(socket: tls.TLSSocket, opts: ServeOptions): void {
  socket.setNoDelay(true);
  let inFlight = 0;
  /** frames read while maxConcurrentCalls were in flight; reading pauses until they start */
  const waiting: Buffer[] = [];
  const send = (frame: Buffer) => {
    if (socket.writable) socket.write(frame);
  };
  const fail = (id: number, method: string, code: number, details: string, err: unknown) => {
    opts.onError(method, code, err);
    send(frameOf(id, code, [Buffer.from(details, 'utf8')]));
  };
  const finished = () => {
    inFlight--;
    const next = waiting.shift();
    if (next) start(next);
    if (waiting.length === 0 && socket.isPaused()) socket.resume();
  };

  const start = (body: Buffer) => {
    const id = body.readUInt32BE(0);
    const name = METHOD_IDS[body[4] as number];
    const handler = name === undefined ? undefined : opts.handlers.get(name);
    if (name === undefined || handler === undefined) {
      fail(id, `method #${body[4] as number}`, STATUS.UNIMPLEMENTED, `unknown method #${body[4] as number}`, new Error('unknown method'));
      return;
    }
    let request: Record<string, unknown>;
    try {
      request = decodeMessage(METHODS[name].request, body.subarray(HEAD));
    } catch (e) {
      fail(id, name, STATUS.INTERNAL, `cannot decode the request: ${(e as Error).message}`, e);
      return;
    }
    inFlight++;
    handler(request).then(
      (reply) => {
        let parts: Buffer[] | null = null;
        try {
          parts = [encodeMetadata(reply.headers), encodeMessage(METHODS[name].response, reply.message)];
        } catch (e) {
          fail(id, name, STATUS.INTERNAL, 'cannot encode the answer', e);
        }
        if (parts) send(frameOf(id, STATUS.OK, parts));
        finished();
      },
      (e: unknown) => {
        const status = opts.toStatus(e);
        fail(id, name, status.code, status.details, e);
        finished();
      },
    );
  };

  const reader = new FrameReader(
    opts.maxRequestBytes + HEAD,
    (body) => {
      if (inFlight < opts.maxConcurrentCalls) {
        start(body);
        return;
      }
      // back-pressure, as HTTP/2's stream limit gives: stop reading until calls finish
      waiting.push(body);
      socket.pause();
    },
    (n) => {
      // the stream cannot be resynchronised after a frame it will not read: answer, then close
      fail(0, 'frame', STATUS.RESOURCE_EXHAUSTED, `request larger than ${opts.maxRequestBytes} bytes`, new Error(`frame of ${n} bytes`));
      socket.end();
    },
  );
  // a frame left half-sent is cut off; an idle connection between calls is fine
  socket.setTimeout(opts.requestTimeoutMs, () => {
    if (reader.pending > 0) socket.destroy();
  });
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
  socket.on('error', () => undefined);
}

// ---------------------------------------------------------------------------------------------
// client side

interface Pending {
  name: MethodName;
  resolve(r: UnaryResult): void;
  reject(e: RpcError): void;
  timer: NodeJS.Timeout;
}

/** One `vouch-rpc/1` connection of an RpcClient. */
export class DirectConnection {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private broken: RpcError | null = null;

  constructor(
    private readonly socket: tls.TLSSocket,
    private readonly maxResponseBytes: number,
  ) {
    socket.setNoDelay(true);
    const reader = new FrameReader(
      maxResponseBytes + 64 * 1024,
      (body) => this.answer(body),
      (n) => this.breakWith(new RpcError(STATUS.RESOURCE_EXHAUSTED, `answer of ${n} bytes`)),
    );
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', (e: Error) => this.breakWith(new RpcError(STATUS.UNAVAILABLE, e.message)));
    socket.on('close', () => this.breakWith(new RpcError(STATUS.UNAVAILABLE, 'connection closed')));
  }

  get usable(): boolean {
    return this.broken === null && !this.socket.destroyed;
  }

  private breakWith(err: RpcError): void {
    if (!this.broken) this.broken = err;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
    this.socket.destroy();
  }

  private answer(body: Buffer): void {
    const id = body.readUInt32BE(0);
    const code = body[4] as number;
    const p = this.pending.get(id);
    // an answer after its deadline (or to nothing we asked) is dropped
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    const rest = body.subarray(HEAD);
    if (code !== STATUS.OK) {
      p.reject(new RpcError(code, rest.toString('utf8')));
      return;
    }
    try {
      if (rest.length > this.maxResponseBytes + 2) throw new RpcError(STATUS.RESOURCE_EXHAUSTED, `answer larger than ${this.maxResponseBytes} bytes`);
      if (rest.length < 2) throw new WireError('truncated answer');
      const m = rest.readUInt16BE(0);
      if (2 + m > rest.length) throw new WireError('truncated metadata');
      const headers = decodeMetadata(rest.subarray(2, 2 + m));
      p.resolve({ message: decodeMessage(METHODS[p.name].response, rest.subarray(2 + m)), headers });
    } catch (e) {
      p.reject(e instanceof RpcError ? e : new RpcError(STATUS.INTERNAL, `cannot decode the answer: ${(e as Error).message}`));
    }
  }

  call(name: MethodName, message: Buffer, deadlineMs: number): Promise<UnaryResult> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(STATUS.DEADLINE_EXCEEDED, `no answer within ${deadlineMs} ms`));
      }, deadlineMs);
      this.pending.set(id, { name, resolve, reject, timer });
      this.socket.write(frameOf(id, METHOD_IDS.indexOf(name), [message]));
    });
  }

  close(): void {
    this.breakWith(new RpcError(STATUS.UNAVAILABLE, 'client closed'));
  }
}
