/**
 * The signer's messages in Protocol Buffers (proto3) binary form, written by hand for the few
 * small messages of signer/proto/*.proto (the wire contract, spec 4.1). A generic protobuf
 * runtime costs more per call than the signature itself; these messages need only strings,
 * bytes, uint32, enums and nested messages.
 *
 * Decoding is strict where proto3 is (wire type must match the field, strings must be UTF-8,
 * lengths must fit) and lenient where it must be for compatibility: unknown fields are skipped,
 * a repeated scalar keeps the last value, a repeated message is merged as protobuf does.
 */

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

type Scalar = 'string' | 'bytes' | 'uint32';
export type Field =
  | { no: number; name: string; kind: Scalar }
  | { no: number; name: string; kind: 'enum'; values: readonly string[] }
  | { no: number; name: string; kind: 'message'; type: MessageType };

export interface MessageType {
  name: string;
  fields: readonly Field[];
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;
/** Our messages nest three deep; anything deeper is not one of them. */
const MAX_DEPTH = 8;
const utf8 = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------------------------------------
// encoding

function varintBytes(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function lengthDelimited(no: number, payload: Buffer, parts: Buffer[]): void {
  const head: number[] = [];
  varintBytes((no << 3) | LEN, head);
  varintBytes(payload.length, head);
  parts.push(Buffer.from(head), payload);
}

function encodeInto(type: MessageType, value: Record<string, unknown>, parts: Buffer[]): void {
  for (const f of type.fields) {
    const v = value[f.name];
    // proto3: a field at its default value is not written
    switch (f.kind) {
      case 'string':
        if (typeof v === 'string' && v !== '') lengthDelimited(f.no, Buffer.from(v, 'utf8'), parts);
        break;
      case 'bytes':
        if (Buffer.isBuffer(v) && v.length > 0) lengthDelimited(f.no, v, parts);
        break;
      case 'uint32':
      case 'enum': {
        const n = f.kind === 'enum' ? f.values.indexOf(String(v)) : Number(v ?? 0);
        if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new WireError(`${type.name}.${f.name}: ${String(v)} is not encodable`);
        if (n === 0) break;
        const bytes: number[] = [];
        varintBytes((f.no << 3) | VARINT, bytes);
        varintBytes(n, bytes);
        parts.push(Buffer.from(bytes));
        break;
      }
      case 'message':
        if (v !== null && v !== undefined && typeof v === 'object') lengthDelimited(f.no, encodeMessage(f.type, v as Record<string, unknown>), parts);
        break;
      default: {
        const never: never = f;
        throw new WireError(`unknown field kind ${String(never)}`);
      }
    }
  }
}

export function encodeMessage(type: MessageType, value: Record<string, unknown>): Buffer {
  const parts: Buffer[] = [];
  encodeInto(type, value, parts);
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// decoding

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly end: number,
  ) {}

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const b = this.buf[this.pos++] as number;
      // values above 2^53 lose precision; every number we read is a uint32 or a length
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  take(n: number): Buffer {
    if (n > this.end - this.pos) throw new WireError('length past the end of the message');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case I64:
        this.take(8);
        return;
      case LEN:
        this.take(this.varint());
        return;
      case I32:
        this.take(4);
        return;
      default:
        // groups (3, 4) are proto2 only; 6 and 7 do not exist
        throw new WireError(`unsupported wire type ${wireType}`);
    }
  }
}

function defaults(type: MessageType): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fields) {
    switch (f.kind) {
      case 'string':
        out[f.name] = '';
        break;
      case 'bytes':
        out[f.name] = Buffer.alloc(0);
        break;
      case 'uint32':
        out[f.name] = 0;
        break;
      case 'enum':
        out[f.name] = f.values[0];
        break;
      case 'message':
        out[f.name] = null;
        break;
      default: {
        const never: never = f;
        throw new WireError(`unknown field kind ${String(never)}`);
      }
    }
  }
  return out;
}

function decodeInto(type: MessageType, r: Reader, out: Record<string, unknown>, depth: number): void {
  if (depth > MAX_DEPTH) throw new WireError('messages nested too deeply');
  while (r.pos < r.end) {
    const tag = r.varint();
    const no = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (no < 1) throw new WireError('field number 0');
    const f = type.fields.find((x) => x.no === no);
    if (!f) {
      r.skip(wireType);
      continue;
    }
    const want = f.kind === 'uint32' || f.kind === 'enum' ? VARINT : LEN;
    if (wireType !== want) throw new WireError(`${type.name}.${f.name}: wire type ${wireType}, expected ${want}`);
    switch (f.kind) {
      case 'string':
        try {
          out[f.name] = utf8.decode(r.take(r.varint()));
        } catch (e) {
          if (e instanceof WireError) throw e;
          throw new WireError(`${type.name}.${f.name}: not UTF-8`);
        }
        break;
      case 'bytes':
        // a copy: the caller may keep it after the frame's buffer is reused
        out[f.name] = Buffer.from(r.take(r.varint()));
        break;
      case 'uint32':
        out[f.name] = r.varint() % 2 ** 32;
        break;
      case 'enum': {
        const n = r.varint();
        // an unknown enum value is kept as its number's name, as proto3 keeps unknown values
        out[f.name] = f.values[n] ?? String(n);
        break;
      }
      case 'message': {
        const len = r.varint();
        if (len > r.end - r.pos) throw new WireError('length past the end of the message');
        const inner = new Reader(r.buf, r.pos + len);
        inner.pos = r.pos;
        const target = (out[f.name] as Record<string, unknown> | null) ?? defaults(f.type);
        decodeInto(f.type, inner, target, depth + 1);
        out[f.name] = target;
        r.pos += len;
        break;
      }
      default: {
        const never: never = f;
        throw new WireError(`unknown field kind ${String(never)}`);
      }
    }
  }
}

export function decodeMessage(type: MessageType, buf: Buffer): Record<string, unknown> {
  const out = defaults(type);
  decodeInto(type, new Reader(buf, buf.length), out, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// the messages of signer/proto/*.proto

const KeyID: MessageType = { name: 'KeyID', fields: [{ no: 1, name: 'ID', kind: 'string' }] };
const Algorithm: MessageType = { name: 'Algorithm', fields: [{ no: 1, name: 'algorithm', kind: 'string' }] };
const KeyInfo: MessageType = {
  name: 'KeyInfo',
  fields: [
    { no: 1, name: 'keyID', kind: 'message', type: KeyID },
    { no: 2, name: 'algorithm', kind: 'message', type: Algorithm },
  ],
};

export const MESSAGES = {
  KeyID,
  CreateKeyRequest: {
    name: 'CreateKeyRequest',
    fields: [
      { no: 1, name: 'algorithm', kind: 'string' },
      { no: 2, name: 'gun', kind: 'string' },
      { no: 3, name: 'role', kind: 'string' },
    ],
  },
  PublicKey: {
    name: 'PublicKey',
    fields: [
      { no: 1, name: 'keyInfo', kind: 'message', type: KeyInfo },
      { no: 2, name: 'publicKey', kind: 'bytes' },
    ],
  },
  GetKeyInfoResponse: {
    name: 'GetKeyInfoResponse',
    fields: [
      { no: 1, name: 'keyInfo', kind: 'message', type: KeyInfo },
      { no: 2, name: 'publicKey', kind: 'bytes' },
      { no: 3, name: 'role', kind: 'string' },
    ],
  },
  Signature: {
    name: 'Signature',
    fields: [
      { no: 1, name: 'keyInfo', kind: 'message', type: KeyInfo },
      { no: 2, name: 'algorithm', kind: 'message', type: Algorithm },
      { no: 3, name: 'content', kind: 'bytes' },
    ],
  },
  SignatureRequest: {
    name: 'SignatureRequest',
    fields: [
      { no: 1, name: 'keyID', kind: 'message', type: KeyID },
      { no: 2, name: 'content', kind: 'bytes' },
    ],
  },
  Void: { name: 'Void', fields: [] },
  HealthCheckRequest: { name: 'HealthCheckRequest', fields: [{ no: 1, name: 'service', kind: 'string' }] },
  HealthCheckResponse: {
    name: 'HealthCheckResponse',
    fields: [{ no: 1, name: 'status', kind: 'enum', values: ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] }],
  },
  DeleteGunKeysRequest: { name: 'DeleteGunKeysRequest', fields: [{ no: 1, name: 'gun', kind: 'string' }] },
  DeleteGunKeysResponse: { name: 'DeleteGunKeysResponse', fields: [{ no: 1, name: 'deleted', kind: 'uint32' }] },
} as const satisfies Record<string, MessageType>;
