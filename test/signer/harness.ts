/**
 * Starting vouch-signer as a real process for tests (the compiled dist/signer/main.js, real TLS
 * from ensureDevPki), plus a GrpcKeyService and a raw gRPC client for it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { DevPki } from '../../scripts/devpki';
import { GrpcKeyService, GrpcKeyServiceOptions } from '../../signer/client';
import { freePort } from '../helpers/net';
import { Proc, startProcess } from '../helpers/proc';

export const SIGNER_MAIN = path.resolve(__dirname, '../../dist/signer/main.js');

export type TestStorage = { backend: 'sqlite'; path: string } | { backend: 'postgres'; url: string };

export interface SignerConfigOptions {
  pki: DevPki;
  port: number;
  storage: TestStorage;
  alias: string;
  level?: string;
}

export function writeSignerConfig(file: string, o: SignerConfigOptions): string {
  const storage =
    o.storage.backend === 'sqlite'
      ? { backend: 'sqlite', path: o.storage.path, default_alias: o.alias }
      : { backend: 'postgres', db_url: o.storage.url, default_alias: o.alias };
  const config = {
    server: { grpc_addr: `127.0.0.1:${o.port}`, tls_cert_file: o.pki.signerCert, tls_key_file: o.pki.signerKey, client_ca_file: o.pki.caCert },
    storage,
    logging: { level: o.level ?? 'debug' },
  };
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** The test runner's environment without any signer passphrase that might leak in. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('NOTARY_SIGNER_') && !k.startsWith('VOUCH_SIGNER_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Start `vouch-signer --config file` with these passphrase variables. */
export function signerProcess(configFile: string, passphrases: Record<string, string>, args: string[] = []): Proc {
  if (!fs.existsSync(SIGNER_MAIN)) throw new Error(`${SIGNER_MAIN} missing: run npm run build first`);
  return startProcess(process.execPath, [SIGNER_MAIN, ...args, '--config', configFile], { env: cleanEnv(passphrases) });
}

export async function startSigner(configFile: string, passphrases: Record<string, string>): Promise<Proc> {
  const p = signerProcess(configFile, passphrases);
  await p.waitFor(/vouch-signer listening/, 30000);
  return p;
}

/**
 * Write `dir/signer.json` for a free port and start vouch-signer with it; the passphrase of
 * `alias` comes from NOTARY_SIGNER_<ALIAS>.
 */
export async function startTestSigner(o: {
  dir: string;
  pki: DevPki;
  storage: TestStorage;
  alias: string;
  passphrase: string;
  level?: string;
}): Promise<{ proc: Proc; port: number; config: string }> {
  const port = await freePort();
  const config = writeSignerConfig(path.join(o.dir, 'signer.json'), { pki: o.pki, port, storage: o.storage, alias: o.alias, level: o.level });
  const proc = await startSigner(config, { [`NOTARY_SIGNER_${o.alias.toUpperCase()}`]: o.passphrase });
  return { proc, port, config };
}

/** Wait for a process to exit; resolves with its exit code. */
export function exitCode(p: Proc, timeoutMs = 30000): Promise<number | null> {
  if (p.child.exitCode !== null) return Promise.resolve(p.child.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`process did not exit; output:\n${p.output()}`)), timeoutMs);
    p.child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

export function keyService(
  pki: DevPki,
  port: number,
  client: { cert: string; key: string } = { cert: pki.serverCert, key: pki.serverKey },
  opts: GrpcKeyServiceOptions = {},
): GrpcKeyService {
  return new GrpcKeyService({ hostname: 'localhost', port: String(port), tls_ca_file: pki.caCert, tls_client_cert: client.cert, tls_client_key: client.key }, opts);
}

type ServiceName = 'keyManagement' | 'signer' | 'health' | 'vouchKeyManagement';
let loaded: Record<ServiceName, grpc.ServiceClientConstructor> | null = null;

/**
 * The signer's services as grpc-js builds them from signer/proto/*.proto: an independent gRPC
 * implementation (grpc-js with protobufjs) to check signer/rpc.ts and signer/wire.ts against.
 */
function services(): Record<ServiceName, grpc.ServiceClientConstructor> {
  if (loaded) return loaded;
  const definition = protoLoader.loadSync(['signer.proto', 'health.proto', 'vouch.proto'], {
    includeDirs: [path.resolve(__dirname, '..', '..', 'signer', 'proto')],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition);
  const pick = (dotted: string): grpc.ServiceClientConstructor => {
    let node: unknown = root;
    for (const part of dotted.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
    if (typeof node !== 'function' || !('service' in node)) throw new Error(`service ${dotted} missing from the .proto files`);
    return node as grpc.ServiceClientConstructor;
  };
  loaded = {
    keyManagement: pick('proto.KeyManagement'),
    signer: pick('proto.Signer'),
    health: pick('grpc.health.v1.Health'),
    vouchKeyManagement: pick('vouch.KeyManagement'),
  };
  return loaded;
}

/** A raw gRPC client of one service (grpc-js), for status codes and messages as they are on the wire. */
export function rawClient(
  which: ServiceName,
  port: number,
  creds: grpc.ChannelCredentials,
): grpc.Client {
  const Ctor = services()[which];
  return new Ctor(`localhost:${port}`, creds);
}

export function mtlsCredentials(caFile: string, certFile?: string, keyFile?: string): grpc.ChannelCredentials {
  const ca = fs.readFileSync(caFile);
  if (certFile && keyFile) return grpc.credentials.createSsl(ca, fs.readFileSync(keyFile), fs.readFileSync(certFile));
  return grpc.credentials.createSsl(ca);
}

/** Call a unary method of a raw client; resolves with the answer or the gRPC error. */
export function unary<Res>(client: grpc.Client, method: string, req: object, deadlineMs = 10000): Promise<{ res?: Res; err?: grpc.ServiceError }> {
  const fn = (client as unknown as Record<string, (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void>)[method];
  if (typeof fn !== 'function') throw new Error(`no method ${method}`);
  return new Promise((resolve) => fn.call(client, req, { deadline: Date.now() + deadlineMs }, (err, res) => resolve(err ? { err } : { res })));
}

export { freePort };
