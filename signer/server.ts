/**
 * The signer's gRPC API over mutual TLS: notary-signer's KeyManagement and Signer services
 * (spec 4.1), the standard health service, and vouch's DeleteGunKeys. The TLS handshake requires
 * a client certificate issued by the configured CA, so a client without one never reaches a
 * handler. Requests are bounded in size (SIGNER_LIMITS.maxRequestBytes) and in time. The gRPC
 * transport is signer/rpc.ts.
 */
import * as fs from 'node:fs';
import { SignerError } from './errors';
import { SIGNER_LIMITS } from './limits';
import {
  CreateKeyRequestMsg,
  DeleteGunKeysRequestMsg,
  GUN_METADATA_KEY,
  HEALTH_KEY_MANAGEMENT,
  HEALTH_SIGNER,
  HealthCheckRequestMsg,
  KeyIdMsg,
  SignatureRequestMsg,
} from './protos';
import { listenRpc, MethodName, STATUS, UnaryHandler, UnaryReply } from './rpc';
import { SigningService } from './service';

export interface SignerLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface TlsFiles {
  tlsCertFile: string;
  tlsKeyFile: string;
  clientCaFile: string;
}

export interface RunningSigner {
  port: number;
  close(): Promise<void>;
}

/** gRPC status for each error code; anything unexpected is INTERNAL with a generic message. */
function toStatus(e: unknown): { code: number; details: string } {
  if (e instanceof SignerError) {
    switch (e.code) {
      case 'KEY_NOT_FOUND':
        return { code: STATUS.NOT_FOUND, details: e.message };
      // Notary answers an unsupported algorithm with a plain error, i.e. UNKNOWN
      case 'UNSUPPORTED_ALGORITHM':
        return { code: STATUS.UNKNOWN, details: e.message };
      case 'INVALID_ARGUMENT':
        return { code: STATUS.INVALID_ARGUMENT, details: e.message };
      case 'STORAGE':
        return { code: STATUS.UNAVAILABLE, details: 'key storage unavailable' };
      case 'INTEGRITY':
      case 'PASSPHRASE':
        return { code: STATUS.INTERNAL, details: e.message };
      case 'CONFIG':
      case 'REMOTE':
      case 'UNAVAILABLE':
      case 'BAD_RESPONSE':
        return { code: STATUS.INTERNAL, details: 'internal error' };
      default: {
        const never: never = e.code;
        return { code: STATUS.INTERNAL, details: String(never) };
      }
    }
  }
  return { code: STATUS.INTERNAL, details: 'internal error' };
}

function keyIdOf(m: { ID?: string } | null | undefined): string {
  return typeof m?.ID === 'string' ? m.ID : '';
}

/** A short, safe rendering of a client-supplied ID for logs. */
function shown(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id : JSON.stringify(id.slice(0, 70));
}

export async function startSignerServer(opts: {
  host: string;
  port: number;
  tls: TlsFiles;
  service: SigningService;
  logger: SignerLogger;
}): Promise<RunningSigner> {
  const { service, logger } = opts;
  let cert: Buffer, key: Buffer, ca: Buffer;
  try {
    cert = fs.readFileSync(opts.tls.tlsCertFile);
    key = fs.readFileSync(opts.tls.tlsKeyFile);
    ca = fs.readFileSync(opts.tls.clientCaFile);
  } catch (e) {
    throw new SignerError('CONFIG', `cannot read TLS files: ${(e as Error).message}`);
  }
  // typed views of the decoded requests (signer/wire.ts fills every field with its default)
  const handle =
    <Req>(fn: (req: Req) => Promise<UnaryReply>): UnaryHandler =>
    (req) =>
      fn(req as unknown as Req);

  const handlers = new Map<MethodName, UnaryHandler>([
    [
      'CreateKey',
      handle<CreateKeyRequestMsg>(async (req) => {
        const pub = await service.createKey(req.gun, req.role, req.algorithm);
        logger.info({ rpc: 'CreateKey', keyId: pub.id, gun: req.gun, role: req.role, algorithm: pub.keytype }, 'key ready');
        return { message: { keyInfo: { keyID: { ID: pub.id }, algorithm: { algorithm: pub.keytype } }, publicKey: pub.publicBytes } };
      }),
    ],
    [
      'GetKeyInfo',
      handle<KeyIdMsg>(async (req) => {
        const id = keyIdOf(req);
        const info = await service.getKeyInfo(id);
        if (!info) throw new SignerError('KEY_NOT_FOUND', `key ${id.slice(0, 64)} not found`);
        return {
          message: { keyInfo: { keyID: { ID: info.key.id }, algorithm: { algorithm: info.key.keytype } }, publicKey: info.key.publicBytes, role: info.role },
          headers: { [GUN_METADATA_KEY]: Buffer.from(info.gun, 'utf8') },
        };
      }),
    ],
    [
      'DeleteKey',
      handle<KeyIdMsg>(async (req) => {
        const id = keyIdOf(req);
        await service.deleteKey(id);
        logger.info({ rpc: 'DeleteKey', keyId: shown(id) }, 'key deleted');
        return { message: {} };
      }),
    ],
    [
      'Sign',
      handle<SignatureRequestMsg>(async (req) => {
        const id = keyIdOf(req.keyID);
        const made = await service.sign(id, req.content);
        logger.debug({ rpc: 'Sign', keyId: made.key.id, bytes: req.content.length }, 'signed');
        return {
          message: {
            keyInfo: { keyID: { ID: made.key.id }, algorithm: { algorithm: made.key.keytype } },
            algorithm: { algorithm: made.method },
            content: made.sig,
          },
        };
      }),
    ],
    [
      'DeleteGunKeys',
      handle<DeleteGunKeysRequestMsg>(async (req) => {
        const deleted = await service.deleteGunKeys(req.gun);
        logger.info({ rpc: 'DeleteGunKeys', gun: req.gun, deleted }, 'keys of GUN deleted');
        return { message: { deleted } };
      }),
    ],
    [
      'HealthCheck',
      handle<HealthCheckRequestMsg>(async (req) => {
        const name = req.service;
        if (name !== '' && name !== HEALTH_KEY_MANAGEMENT && name !== HEALTH_SIGNER) throw new SignerError('KEY_NOT_FOUND', 'unknown service');
        try {
          await service.health();
        } catch (e) {
          logger.warn({ rpc: 'Health/Check', err: (e as Error).message }, 'not serving');
          return { message: { status: 'NOT_SERVING' } };
        }
        logger.debug({ rpc: 'Health/Check', service: name }, 'serving');
        return { message: { status: 'SERVING' } };
      }),
    ],
  ]);

  try {
    return await listenRpc({
      host: opts.host,
      port: opts.port,
      tls: { cert, key, ca },
      handlers,
      maxRequestBytes: SIGNER_LIMITS.maxRequestBytes,
      maxConcurrentCalls: SIGNER_LIMITS.maxConcurrentCalls,
      requestTimeoutMs: SIGNER_LIMITS.requestTimeoutMs,
      toStatus,
      onError: (rpc, code, e) => {
        const level = code === STATUS.NOT_FOUND ? 'debug' : code === STATUS.INTERNAL ? 'error' : 'warn';
        logger[level]({ rpc, code, err: e instanceof Error ? e.message : String(e) }, `${rpc} failed`);
      },
    });
  } catch (e) {
    const address = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
    throw new SignerError('CONFIG', `cannot listen on ${address}: ${(e as Error).message}`);
  }
}
