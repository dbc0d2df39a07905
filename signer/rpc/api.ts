/**
 * The signer API as both transports carry it: methods, gRPC status codes, errors, and the
 * shapes handlers and callers exchange. The transports are ./grpc.ts (gRPC over HTTP/2, what
 * Notary speaks) and ./direct.ts (vouch-rpc/1, vouch to vouch); ./index.ts picks one per
 * connection by ALPN.
 */
import type { MessageType } from '../wire';
import { MESSAGES } from '../wire';

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

/** What a call answers: the decoded message and the response metadata (`-bin` values in base64). */
export interface UnaryResult {
  message: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/** How a server treats calls, whatever the transport. */
export interface ServeOptions {
  handlers: ReadonlyMap<MethodName, UnaryHandler>;
  maxRequestBytes: number;
  /** calls in flight per connection */
  maxConcurrentCalls: number;
  /** a request must be complete within this time */
  requestTimeoutMs: number;
  /** a handler failed or a request was refused; `status` is what the caller got */
  onError(method: string, status: number, err: unknown): void;
  /** maps a handler's error to the status the caller gets */
  toStatus(err: unknown): { code: number; details: string };
}

/** The bytes of a `-bin` metadata value (base64, padded or not). */
export function binaryHeader(headers: UnaryResult['headers'], name: string): Buffer | null {
  const v = headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? null : Buffer.from(s, 'base64');
}
