/**
 * The gRPC service definitions of the signer, loaded from the .proto files in signer/proto.
 * The files are not compiled by tsc: from dist/signer/ they are found in the source tree
 * (../../signer/proto), so the package ships them as they are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Where the .proto files are: next to this module (ts-jest) or in the source tree (dist). */
export function protoDir(): string {
  const candidates = [path.join(__dirname, 'proto'), path.resolve(__dirname, '..', '..', 'signer', 'proto')];
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'signer.proto'))) return dir;
  }
  throw new Error(`signer .proto files not found (looked in ${candidates.join(', ')})`);
}

// Message shapes as proto-loader presents them (keepCase, defaults on, bytes as Buffer).

export interface KeyIdMsg {
  ID: string;
}
export interface AlgorithmMsg {
  algorithm: string;
}
export interface KeyInfoMsg {
  keyID: KeyIdMsg | null;
  algorithm: AlgorithmMsg | null;
}
export interface CreateKeyRequestMsg {
  algorithm: string;
  gun: string;
  role: string;
}
export interface PublicKeyMsg {
  keyInfo: KeyInfoMsg | null;
  publicKey: Buffer;
}
export interface GetKeyInfoResponseMsg {
  keyInfo: KeyInfoMsg | null;
  publicKey: Buffer;
  role: string;
}
export interface SignatureRequestMsg {
  keyID: KeyIdMsg | null;
  content: Buffer;
}
export interface SignatureMsg {
  keyInfo: KeyInfoMsg | null;
  algorithm: AlgorithmMsg | null;
  content: Buffer;
}
export type VoidMsg = Record<string, never>;
export interface HealthCheckRequestMsg {
  service: string;
}
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
export interface HealthCheckResponseMsg {
  status: ServingStatus;
}
export interface DeleteGunKeysRequestMsg {
  gun: string;
}
export interface DeleteGunKeysResponseMsg {
  deleted: number;
}

/** Health service names notary-server checks (notary.HealthCheckKeyManagement / HealthCheckSigner). */
export const HEALTH_KEY_MANAGEMENT = 'grpc.health.v1.Health.KeyManagement';
export const HEALTH_SIGNER = 'grpc.health.v1.Health.Signer';

/**
 * Response header (binary metadata) carrying a key's GUN on GetKeyInfo: vouch-signer's answer to
 * "whose key is this" without changing Notary's messages; Go clients ignore unknown metadata.
 */
export const GUN_METADATA_KEY = 'vouch-gun-bin';

export interface SignerServices {
  keyManagement: grpc.ServiceClientConstructor;
  signer: grpc.ServiceClientConstructor;
  health: grpc.ServiceClientConstructor;
  vouchKeyManagement: grpc.ServiceClientConstructor;
}

let loaded: SignerServices | null = null;

function pick(root: grpc.GrpcObject, dotted: string): grpc.ServiceClientConstructor {
  let node: unknown = root;
  for (const part of dotted.split('.')) {
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  if (typeof node !== 'function' || !('service' in node)) throw new Error(`service ${dotted} missing from the .proto files`);
  return node as grpc.ServiceClientConstructor;
}

export function services(): SignerServices {
  if (loaded) return loaded;
  const dir = protoDir();
  const definition = protoLoader.loadSync(['signer.proto', 'health.proto', 'vouch.proto'], {
    includeDirs: [dir],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition);
  loaded = {
    keyManagement: pick(root, 'proto.KeyManagement'),
    signer: pick(root, 'proto.Signer'),
    health: pick(root, 'grpc.health.v1.Health'),
    vouchKeyManagement: pick(root, 'vouch.KeyManagement'),
  };
  return loaded;
}
