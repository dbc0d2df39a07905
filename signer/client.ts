/**
 * GrpcKeyService: the metadata server's view of a remote key holder (vouch-signer or a real
 * notary-signer) over mutual TLS. Every call has a deadline; answers are checked before they
 * are trusted: the key IDs must match what was asked, and every signature is verified against
 * the key's public part before it is handed to the server.
 */
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { makePublicKey, PublicKey, verifySignature } from '../tuf/keys';
import { KeyAlgorithm, KeyInfo, KeyNotHeldError, KeyService, OnlineRole } from './api';
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
} from './protos';

/** Server config `trust_service` (Notary's names; `port` may be a string as in Notary's files). */
export interface TrustServiceConfig {
  hostname: string;
  port: string | number;
  tls_ca_file: string;
  tls_client_cert: string;
  tls_client_key: string;
}

export interface GrpcKeyServiceOptions {
  /** deadline of each call (default SIGNER_LIMITS.callDeadlineMs) */
  deadlineMs?: number;
  /** where warnings go (e.g. the server's pino logger); default: process warnings */
  logger?: { warn(msg: string): void };
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

const PUBLIC_CACHE_MAX = 4096;

function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as grpc.ServiceError).code === 'number';
}

export class GrpcKeyService implements KeyService {
  private readonly channel: grpc.Channel;
  private readonly km: grpc.Client;
  private readonly signer: grpc.Client;
  private readonly health_: grpc.Client;
  private readonly vouch: grpc.Client;
  private readonly deadlineMs: number;
  private readonly warn: (msg: string) => void;
  /** public keys learnt from CreateKey/GetKeyInfo, to verify signatures against */
  private readonly publicKeys = new Map<string, PublicKey>();
  private readonly target: string;

  constructor(cfg: TrustServiceConfig, opts: GrpcKeyServiceOptions = {}) {
    const port = Number(cfg.port);
    if (!cfg.hostname || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new SignerError('CONFIG', `trust_service: invalid hostname/port ${cfg.hostname}:${String(cfg.port)}`);
    }
    const read = (what: string, file: string) => {
      try {
        return fs.readFileSync(file);
      } catch (e) {
        throw new SignerError('CONFIG', `trust_service.${what}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    };
    const ca = read('tls_ca_file', cfg.tls_ca_file);
    const cert = read('tls_client_cert', cfg.tls_client_cert);
    const key = read('tls_client_key', cfg.tls_client_key);
    // the signer's certificate is checked against this CA only, and its name against `hostname`
    const creds = grpc.credentials.createSsl(ca, key, cert);
    this.target = cfg.hostname.includes(':') ? `[${cfg.hostname}]:${port}` : `${cfg.hostname}:${port}`;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_send_message_length': SIGNER_LIMITS.maxRequestBytes,
      'grpc.max_receive_message_length': SIGNER_LIMITS.maxResponseBytes,
    };
    this.channel = new grpc.Channel(this.target, creds, channelOptions);
    const svc = services();
    const make = (ctor: grpc.ServiceClientConstructor) => new ctor(this.target, creds, { ...channelOptions, channelOverride: this.channel });
    this.km = make(svc.keyManagement);
    this.signer = make(svc.signer);
    this.health_ = make(svc.health);
    this.vouch = make(svc.vouchKeyManagement);
    this.deadlineMs = opts.deadlineMs ?? SIGNER_LIMITS.callDeadlineMs;
    const logger = opts.logger;
    this.warn = logger ? (m) => logger.warn(m) : (m) => process.emitWarning(m, 'VouchSignerWarning');
  }

  private call<Req, Res>(client: grpc.Client, method: string, req: Req, md: grpc.Metadata = new grpc.Metadata()): Promise<{ res: Res; headers: grpc.Metadata }> {
    const fn = (client as unknown as Record<string, Unary<Req, Res>>)[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`no client method ${method}`));
    return new Promise((resolve, reject) => {
      let headers = new grpc.Metadata();
      const c = fn.call(client, req, md, { deadline: Date.now() + this.deadlineMs }, (err, res) => {
        if (err) reject(err);
        else if (res === undefined) reject(new SignerError('BAD_RESPONSE', `signer ${method}: empty answer`));
        else resolve({ res, headers });
      });
      c.on('metadata', (m: grpc.Metadata) => (headers = m));
    });
  }

  private fail(method: string, e: unknown): never {
    if (e instanceof SignerError) throw e;
    if (isServiceError(e)) {
      const code = e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED ? 'UNAVAILABLE' : 'REMOTE';
      const err = new SignerError(code, `signer ${method} at ${this.target} failed: ${grpc.status[e.code] ?? e.code}: ${e.details}`, { cause: e });
      throw Object.assign(err, { grpcCode: e.code });
    }
    throw new SignerError('REMOTE', `signer ${method} at ${this.target} failed: ${(e as Error).message}`, { cause: e });
  }

  private learn(key: PublicKey): void {
    if (this.publicKeys.size >= PUBLIC_CACHE_MAX) this.publicKeys.clear();
    this.publicKeys.set(key.id, key);
  }

  /** Turn a keyInfo + bytes answer into a PublicKey, refusing anything that is not a usable key. */
  private static publicKeyOf(method: string, algorithm: string | undefined, bytes: Buffer): PublicKey {
    if (algorithm !== 'ecdsa' && algorithm !== 'ed25519') {
      throw new SignerError('BAD_RESPONSE', `signer ${method}: unexpected key type ${JSON.stringify(String(algorithm).slice(0, 32))}`);
    }
    try {
      return makePublicKey(algorithm, bytes);
    } catch (e) {
      throw new SignerError('BAD_RESPONSE', `signer ${method}: unusable public key`, { cause: e });
    }
  }

  async createKey(gun: string, role: OnlineRole, algorithm: KeyAlgorithm): Promise<PublicKey> {
    let res: PublicKeyMsg;
    try {
      ({ res } = await this.call<CreateKeyRequestMsg, PublicKeyMsg>(this.km, 'CreateKey', { algorithm, gun, role }));
    } catch (e) {
      this.fail('CreateKey', e);
    }
    const key = GrpcKeyService.publicKeyOf('CreateKey', res.keyInfo?.algorithm?.algorithm, res.publicKey);
    if (key.keytype !== algorithm) throw new SignerError('BAD_RESPONSE', `signer CreateKey: asked for ${algorithm}, got ${key.keytype}`);
    // Notary's server computes the ID itself; a signer that names it differently is broken
    const named = res.keyInfo?.keyID?.ID;
    if (named !== undefined && named !== '' && named !== key.id) throw new SignerError('BAD_RESPONSE', 'signer CreateKey: key ID does not match the public key');
    this.learn(key);
    return key;
  }

  async getKeyInfo(keyId: string): Promise<KeyInfo | null> {
    let res: GetKeyInfoResponseMsg;
    let headers: grpc.Metadata;
    try {
      ({ res, headers } = await this.call<KeyIdMsg, GetKeyInfoResponseMsg>(this.km, 'GetKeyInfo', { ID: keyId }));
    } catch (e) {
      if (isServiceError(e) && e.code === grpc.status.NOT_FOUND) return null;
      this.fail('GetKeyInfo', e);
    }
    const key = GrpcKeyService.publicKeyOf('GetKeyInfo', res.keyInfo?.algorithm?.algorithm, res.publicKey);
    if (key.id !== keyId) throw new SignerError('BAD_RESPONSE', `signer GetKeyInfo: asked for key ${keyId}, got ${key.id}`);
    this.learn(key);
    // a real notary-signer does not tell the GUN; vouch-signer sends it as response metadata
    const gunValue = headers.get(GUN_METADATA_KEY)[0];
    const gun = Buffer.isBuffer(gunValue) ? gunValue.toString('utf8') : '';
    return { key, role: res.role, gun };
  }

  async sign(keyId: string, message: Buffer): Promise<Buffer> {
    let key = this.publicKeys.get(keyId);
    if (!key) {
      const info = await this.getKeyInfo(keyId);
      if (!info) throw new KeyNotHeldError(keyId);
      key = info.key;
    }
    let res: SignatureMsg;
    try {
      ({ res } = await this.call<SignatureRequestMsg, SignatureMsg>(this.signer, 'Sign', { keyID: { ID: keyId }, content: message }));
    } catch (e) {
      if (isServiceError(e) && e.code === grpc.status.NOT_FOUND) {
        this.publicKeys.delete(keyId);
        throw new KeyNotHeldError(keyId);
      }
      this.fail('Sign', e);
    }
    // never hand the server a signature that does not verify: it would publish unusable metadata
    const method = key.keytype === 'ed25519' ? 'eddsa' : 'ecdsa';
    if (!verifySignature(key, method, message, res.content)) {
      throw new SignerError('BAD_RESPONSE', `signer Sign: the signature by key ${keyId} does not verify`);
    }
    return res.content;
  }

  async deleteGunKeys(gun: string): Promise<void> {
    try {
      await this.call<DeleteGunKeysRequestMsg, DeleteGunKeysResponseMsg>(this.vouch, 'DeleteGunKeys', { gun });
    } catch (e) {
      if (isServiceError(e) && e.code === grpc.status.UNIMPLEMENTED) {
        // a real notary-signer cannot delete by GUN; its keys stay, unused, as with Notary itself
        this.warn(`signer at ${this.target} does not implement DeleteGunKeys (notary-signer?): the keys of ${gun} were left in place`);
        return;
      }
      this.fail('DeleteGunKeys', e);
    }
  }

  async health(): Promise<void> {
    for (const service of [HEALTH_KEY_MANAGEMENT, HEALTH_SIGNER]) {
      let res: HealthCheckResponseMsg;
      try {
        ({ res } = await this.call<HealthCheckRequestMsg, HealthCheckResponseMsg>(this.health_, 'Check', { service }));
      } catch (e) {
        this.fail(`Health/Check(${service})`, e);
      }
      if (res.status !== 'SERVING') throw new SignerError('UNAVAILABLE', `signer at ${this.target}: ${service} is ${res.status}`);
    }
  }

  async close(): Promise<void> {
    for (const c of [this.km, this.signer, this.health_, this.vouch]) c.close();
    this.channel.close();
  }
}
