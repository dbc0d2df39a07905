/**
 * The signer's gRPC API over mutual TLS: notary-signer's KeyManagement and Signer services
 * (spec 4.1), the standard health service, and vouch's DeleteGunKeys. The TLS handshake requires
 * a client certificate issued by the configured CA, so a client without one never reaches a
 * handler. Requests are bounded by SIGNER_LIMITS.maxRequestBytes.
 */
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { SignerError } from './errors';
import { SIGNER_LIMITS } from './limits';
import {
  CreateKeyRequestMsg,
  DeleteGunKeysRequestMsg,
  DeleteGunKeysResponseMsg,
  GetKeyInfoResponseMsg,
  GUN_METADATA_KEY,
  HEALTH_KEY_MANAGEMENT,
  HEALTH_SIGNER,
  HealthCheckRequestMsg,
  HealthCheckResponseMsg,
  KeyIdMsg,
  PublicKeyMsg,
  services,
  SignatureMsg,
  SignatureRequestMsg,
  VoidMsg,
} from './protos';
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
function toStatus(e: unknown): Partial<grpc.StatusObject> {
  if (e instanceof SignerError) {
    switch (e.code) {
      case 'KEY_NOT_FOUND':
        return { code: grpc.status.NOT_FOUND, details: e.message };
      // Notary answers an unsupported algorithm with a plain error, i.e. UNKNOWN
      case 'UNSUPPORTED_ALGORITHM':
        return { code: grpc.status.UNKNOWN, details: e.message };
      case 'INVALID_ARGUMENT':
        return { code: grpc.status.INVALID_ARGUMENT, details: e.message };
      case 'STORAGE':
        return { code: grpc.status.UNAVAILABLE, details: 'key storage unavailable' };
      case 'INTEGRITY':
      case 'PASSPHRASE':
        return { code: grpc.status.INTERNAL, details: e.message };
      case 'CONFIG':
      case 'REMOTE':
      case 'UNAVAILABLE':
      case 'BAD_RESPONSE':
        return { code: grpc.status.INTERNAL, details: 'internal error' };
      default: {
        const never: never = e.code;
        return { code: grpc.status.INTERNAL, details: String(never) };
      }
    }
  }
  return { code: grpc.status.INTERNAL, details: 'internal error' };
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
  // checkClientCertificate: the handshake fails unless the client presents a certificate
  // that chains to `ca`; no RPC handler runs before that
  const credentials = grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], true);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': SIGNER_LIMITS.maxRequestBytes,
    'grpc.max_send_message_length': SIGNER_LIMITS.maxResponseBytes,
    'grpc.max_concurrent_streams': SIGNER_LIMITS.maxConcurrentStreams,
  });
  const svc = services();

  const unary =
    <Req, Res>(name: string, fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      fn(call.request, call).then(
        (res) => callback(null, res),
        (e: unknown) => {
          const status = toStatus(e);
          const level = status.code === grpc.status.NOT_FOUND ? 'debug' : status.code === grpc.status.INTERNAL ? 'error' : 'warn';
          logger[level]({ rpc: name, code: status.code, err: e instanceof Error ? e.message : String(e) }, `${name} failed`);
          callback(status);
        },
      );
    };

  server.addService(svc.keyManagement.service, {
    CreateKey: unary<CreateKeyRequestMsg, PublicKeyMsg>('CreateKey', async (req) => {
      const pub = await service.createKey(req.gun, req.role, req.algorithm);
      logger.info({ rpc: 'CreateKey', keyId: pub.id, gun: req.gun, role: req.role, algorithm: pub.keytype }, 'key ready');
      return { keyInfo: { keyID: { ID: pub.id }, algorithm: { algorithm: pub.keytype } }, publicKey: pub.publicBytes };
    }),
    GetKeyInfo: unary<KeyIdMsg, GetKeyInfoResponseMsg>('GetKeyInfo', async (req, call) => {
      const id = keyIdOf(req);
      const info = await service.getKeyInfo(id);
      if (!info) throw new SignerError('KEY_NOT_FOUND', `key ${id.slice(0, 64)} not found`);
      const md = new grpc.Metadata();
      md.set(GUN_METADATA_KEY, Buffer.from(info.gun, 'utf8'));
      call.sendMetadata(md);
      return {
        keyInfo: { keyID: { ID: info.key.id }, algorithm: { algorithm: info.key.keytype } },
        publicKey: info.key.publicBytes,
        role: info.role,
      };
    }),
    DeleteKey: unary<KeyIdMsg, VoidMsg>('DeleteKey', async (req) => {
      const id = keyIdOf(req);
      await service.deleteKey(id);
      logger.info({ rpc: 'DeleteKey', keyId: shown(id) }, 'key deleted');
      return {};
    }),
  });

  server.addService(svc.signer.service, {
    Sign: unary<SignatureRequestMsg, SignatureMsg>('Sign', async (req) => {
      const id = keyIdOf(req.keyID);
      const made = await service.sign(id, req.content);
      logger.debug({ rpc: 'Sign', keyId: made.key.id, bytes: req.content.length }, 'signed');
      return {
        keyInfo: { keyID: { ID: made.key.id }, algorithm: { algorithm: made.key.keytype } },
        algorithm: { algorithm: made.method },
        content: made.sig,
      };
    }),
  });

  server.addService(svc.vouchKeyManagement.service, {
    DeleteGunKeys: unary<DeleteGunKeysRequestMsg, DeleteGunKeysResponseMsg>('DeleteGunKeys', async (req) => {
      const deleted = await service.deleteGunKeys(req.gun);
      logger.info({ rpc: 'DeleteGunKeys', gun: req.gun, deleted }, 'keys of GUN deleted');
      return { deleted };
    }),
  });

  server.addService(svc.health.service, {
    Check: (call: grpc.ServerUnaryCall<HealthCheckRequestMsg, HealthCheckResponseMsg>, callback: grpc.sendUnaryData<HealthCheckResponseMsg>) => {
      const name = call.request.service;
      if (name !== '' && name !== HEALTH_KEY_MANAGEMENT && name !== HEALTH_SIGNER) {
        callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        return;
      }
      service.health().then(
        () => {
          logger.debug({ rpc: 'Health/Check', service: name }, 'serving');
          callback(null, { status: 'SERVING' });
        },
        (e: unknown) => {
          logger.warn({ rpc: 'Health/Check', err: (e as Error).message }, 'not serving');
          callback(null, { status: 'NOT_SERVING' });
        },
      );
    },
  });

  const address = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, p) => (err ? reject(new SignerError('CONFIG', `cannot listen on ${address}: ${err.message}`)) : resolve(p))),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
