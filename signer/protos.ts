/**
 * The signer API's messages (signer/proto/*.proto, the wire contract) as TypeScript shapes, and
 * the names the API agrees on. The binary form is in signer/wire.ts, the transport in
 * signer/rpc.ts.
 */

// Message shapes as signer/wire.ts decodes them (proto3 defaults filled in, bytes as Buffer);
// grpc-js with proto-loader (keepCase, defaults, enums as strings) presents the same shapes.

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
