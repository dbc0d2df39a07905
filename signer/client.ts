/**
 * GrpcKeyService: the metadata server's view of a remote key holder (vouch-signer or a real
 * notary-signer) over mutual TLS (transport: signer/rpc.ts). Every call has a deadline; answers
 * are checked before they are trusted: public keys must parse and key IDs must match what was
 * asked. Signatures are verified by the caller against the keys root names (KeyService.sign).
 */
import * as fs from 'node:fs';
import { makePublicKey, PublicKey } from '../tuf/keys';
import { KeyAlgorithm, KeyInfo, KeyNotHeldError, KeyService, OnlineRole } from './api';
import { SignerError } from './errors';
import { SIGNER_LIMITS } from './limits';
import { GetKeyInfoResponseMsg, GUN_METADATA_KEY, HEALTH_KEY_MANAGEMENT, HEALTH_SIGNER, HealthCheckResponseMsg, PublicKeyMsg, SignatureMsg } from './protos';
import { binaryHeader, MethodName, RpcClient, RpcError, STATUS, statusName, UnaryResult } from './rpc';

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
  /** where warnings and notes go (e.g. the server's pino logger); default: process warnings, no notes */
  logger?: { warn(msg: string): void; info?(msg: string): void };
}

export class GrpcKeyService implements KeyService {
  private readonly rpc: RpcClient;
  private readonly deadlineMs: number;
  private readonly warn: (msg: string) => void;
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
    // the signer's certificate is checked against this CA only, and its name against `hostname`
    const tls = { ca: read('tls_ca_file', cfg.tls_ca_file), cert: read('tls_client_cert', cfg.tls_client_cert), key: read('tls_client_key', cfg.tls_client_key) };
    this.target = cfg.hostname.includes(':') ? `[${cfg.hostname}]:${port}` : `${cfg.hostname}:${port}`;
    const logger = opts.logger;
    this.rpc = new RpcClient({
      host: cfg.hostname,
      port,
      tls,
      maxRequestBytes: SIGNER_LIMITS.maxRequestBytes,
      maxResponseBytes: SIGNER_LIMITS.maxResponseBytes,
      // vouch-rpc/1 with vouch-signer, h2 (gRPC) with a real notary-signer
      onConnect: (protocol) => logger?.info?.(`connected to the signer at ${this.target} (${protocol})`),
    });
    this.deadlineMs = opts.deadlineMs ?? SIGNER_LIMITS.callDeadlineMs;
    this.warn = logger ? (m) => logger.warn(m) : (m) => process.emitWarning(m, 'VouchSignerWarning');
  }

  private async call<Res>(method: MethodName, req: Record<string, unknown>): Promise<{ res: Res; headers: UnaryResult['headers'] }> {
    const { message, headers } = await this.rpc.call(method, req, this.deadlineMs);
    return { res: message as unknown as Res, headers };
  }

  private fail(method: string, e: unknown): never {
    if (e instanceof SignerError) throw e;
    if (e instanceof RpcError) {
      const code = e.code === STATUS.UNAVAILABLE || e.code === STATUS.DEADLINE_EXCEEDED ? 'UNAVAILABLE' : 'REMOTE';
      throw new SignerError(code, `signer ${method} at ${this.target} failed: ${statusName(e.code)}: ${e.details}`, { cause: e });
    }
    throw new SignerError('REMOTE', `signer ${method} at ${this.target} failed: ${(e as Error).message}`, { cause: e });
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
      ({ res } = await this.call<PublicKeyMsg>('CreateKey', { algorithm, gun, role }));
    } catch (e) {
      this.fail('CreateKey', e);
    }
    const key = GrpcKeyService.publicKeyOf('CreateKey', res.keyInfo?.algorithm?.algorithm, res.publicKey);
    if (key.keytype !== algorithm) throw new SignerError('BAD_RESPONSE', `signer CreateKey: asked for ${algorithm}, got ${key.keytype}`);
    // Notary's server computes the ID itself; a signer that names it differently is broken
    const named = res.keyInfo?.keyID?.ID;
    if (named !== undefined && named !== '' && named !== key.id) throw new SignerError('BAD_RESPONSE', 'signer CreateKey: key ID does not match the public key');
    return key;
  }

  async getKeyInfo(keyId: string): Promise<KeyInfo | null> {
    let res: GetKeyInfoResponseMsg;
    let headers: UnaryResult['headers'];
    try {
      ({ res, headers } = await this.call<GetKeyInfoResponseMsg>('GetKeyInfo', { ID: keyId }));
    } catch (e) {
      if (e instanceof RpcError && e.code === STATUS.NOT_FOUND) return null;
      this.fail('GetKeyInfo', e);
    }
    const key = GrpcKeyService.publicKeyOf('GetKeyInfo', res.keyInfo?.algorithm?.algorithm, res.publicKey);
    if (key.id !== keyId) throw new SignerError('BAD_RESPONSE', `signer GetKeyInfo: asked for key ${keyId}, got ${key.id}`);
    // a real notary-signer does not tell the GUN; vouch-signer sends it as response metadata
    const gun = binaryHeader(headers, GUN_METADATA_KEY)?.toString('utf8') ?? '';
    return { key, role: res.role, gun };
  }

  /** The signature as the signer made it; the caller verifies it against root (KeyService.sign). */
  async sign(keyId: string, message: Buffer): Promise<Buffer> {
    let res: SignatureMsg;
    try {
      ({ res } = await this.call<SignatureMsg>('Sign', { keyID: { ID: keyId }, content: message }));
    } catch (e) {
      if (e instanceof RpcError && e.code === STATUS.NOT_FOUND) throw new KeyNotHeldError(keyId);
      this.fail('Sign', e);
    }
    const named = res.keyInfo?.keyID?.ID;
    if (named !== undefined && named !== '' && named !== keyId) throw new SignerError('BAD_RESPONSE', `signer Sign: asked for key ${keyId}, signed with ${named}`);
    return res.content;
  }

  async deleteGunKeys(gun: string): Promise<void> {
    try {
      await this.call('DeleteGunKeys', { gun });
    } catch (e) {
      if (e instanceof RpcError && e.code === STATUS.UNIMPLEMENTED) {
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
        ({ res } = await this.call<HealthCheckResponseMsg>('HealthCheck', { service }));
      } catch (e) {
        this.fail(`Health/Check(${service})`, e);
      }
      if (res.status !== 'SERVING') throw new SignerError('UNAVAILABLE', `signer at ${this.target}: ${service} is ${res.status}`);
    }
  }

  async close(): Promise<void> {
    this.rpc.close();
  }
}
