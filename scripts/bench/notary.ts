/**
 * The real Notary 0.7 stack (Debian's `notary-server` and `notary-signer`) as the bench's
 * baseline: server and signer over mutual TLS with the dev PKI (spec Appendix B), on memory
 * storage or on PostgreSQL.
 *
 * notary-server and notary-signer do not create their PostgreSQL tables themselves, and
 * Debian's package ships no SQL: the tables come from scripts/notary-schema.ts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DevPki } from '../devpki';
import { applyNotarySchema, NOTARY_SERVER_SCHEMA, NOTARY_SIGNER_SCHEMA } from '../notary-schema';
import type { PostgresCluster } from '../postgres';
import { freePort } from '../proc-util';
import { HttpsClient, waitUntilHealthy } from './http';
import { Service, startService } from './process';

const SIGNER_ALIAS = 'benchalias';
/** the remote-mode server needs several seconds before its health endpoint reports the signer */
const HEALTHY_TIMEOUT_MS = 60_000;

export type StackStorage = { kind: 'memory' } | { kind: 'postgres'; cluster: PostgresCluster; dbPrefix: string };

export interface Stack {
  /** short name in the tables, e.g. "notary-server (memory)" */
  readonly label: string;
  /** the HTTPS base URL of each server process (one, or several sharing a database) */
  readonly urls: string[];
  /** the server processes measured (RSS, throughput); the signer is not */
  readonly servers: Service[];
  readonly signer: Service;
  readonly client: HttpsClient;
  stop(): Promise<void>;
}

export async function startNotaryStack(opts: { label: string; dir: string; pki: DevPki; storage: StackStorage }): Promise<Stack> {
  const { dir, pki, storage } = opts;
  fs.mkdirSync(dir, { recursive: true });
  const signerPort = await freePort();
  const serverPort = await freePort();

  let signerStorage: Record<string, string> = { backend: 'memory' };
  let serverStorage: Record<string, string> = { backend: 'memory' };
  if (storage.kind === 'postgres') {
    const serverDb = await storage.cluster.createDatabase(`${storage.dbPrefix}_server`);
    const signerDb = await storage.cluster.createDatabase(`${storage.dbPrefix}_signer`);
    await applyNotarySchema(serverDb, NOTARY_SERVER_SCHEMA);
    await applyNotarySchema(signerDb, NOTARY_SIGNER_SCHEMA);
    serverStorage = { backend: 'postgres', db_url: `${serverDb}?sslmode=disable` };
    signerStorage = { backend: 'postgres', db_url: `${signerDb}?sslmode=disable`, default_alias: SIGNER_ALIAS };
  }

  const signerConfig = path.join(dir, 'notary-signer.json');
  fs.writeFileSync(
    signerConfig,
    JSON.stringify({
      server: { grpc_addr: `127.0.0.1:${signerPort}`, tls_cert_file: pki.signerCert, tls_key_file: pki.signerKey, client_ca_file: pki.caCert },
      logging: { level: 'warn' },
      storage: signerStorage,
    }),
  );
  const serverConfig = path.join(dir, 'notary-server.json');
  fs.writeFileSync(
    serverConfig,
    JSON.stringify({
      server: { http_addr: `127.0.0.1:${serverPort}`, tls_cert_file: pki.serverCert, tls_key_file: pki.serverKey },
      trust_service: {
        type: 'remote',
        hostname: '127.0.0.1',
        port: String(signerPort),
        tls_ca_file: pki.caCert,
        key_algorithm: 'ecdsa',
        tls_client_cert: pki.serverCert,
        tls_client_key: pki.serverKey,
      },
      // warn: an info line per request would make logging part of what is measured
      logging: { level: 'warn' },
      storage: serverStorage,
    }),
  );

  const env = { ...process.env, [`NOTARY_SIGNER_${SIGNER_ALIAS.toUpperCase()}`]: crypto.randomBytes(18).toString('base64url') };
  const signer = startService(`${opts.label} signer`, 'notary-signer', ['-config', signerConfig], { env, cwd: dir, logFile: path.join(dir, 'notary-signer.log') });
  const server = startService(opts.label, 'notary-server', ['-config', serverConfig, '-logf', 'logfmt'], { env, cwd: dir, logFile: path.join(dir, 'notary-server.log') });
  const url = `https://localhost:${serverPort}`;
  const client = new HttpsClient(url, fs.readFileSync(pki.caCert));
  const stop = async () => {
    client.close();
    await server.stop();
    await signer.stop();
  };
  try {
    await waitUntilHealthy(client, '/_notary_server/health', HEALTHY_TIMEOUT_MS, () => server.alive() && signer.alive(), opts.label);
  } catch (e) {
    const logs = `--- notary-server log:\n${server.logTail()}\n--- notary-signer log:\n${signer.logTail()}`;
    await stop();
    throw new Error(`${(e as Error).message}\n${logs}`);
  }
  return { label: opts.label, urls: [url], servers: [server], signer, client, stop };
}
