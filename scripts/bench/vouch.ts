/**
 * vouch under test, started as a user starts it: `dist/signer/main.js` and one or more
 * `dist/server/main.js` processes with JSON configs (as scripts/start.ts writes them), mutual
 * TLS between server and signer with the dev PKI. Storage: SQLite in the bench dir, or
 * PostgreSQL in the bench's private cluster (server and signer databases side by side, as for
 * Notary). Several server processes share one PostgreSQL database and one signer.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DevPki } from '../devpki';
import type { PostgresCluster } from '../postgres';
import { freePort } from '../proc-util';
import { HttpsClient, waitUntilHealthy } from './http';
import type { Stack } from './notary';
import { Service, startService } from './process';

const SIGNER_ALIAS = 'benchalias';
const HEALTHY_TIMEOUT_MS = 60_000;
const DIST = path.resolve(__dirname, '..', '..');

export type VouchStorage = { kind: 'sqlite' } | { kind: 'postgres'; cluster: PostgresCluster; dbPrefix: string };

export interface VouchStack extends Stack {
  /** start one more server process on the same storage and signer (PostgreSQL only) */
  addServer(label: string): Promise<{ url: string; server: Service }>;
}

export async function startVouchStack(opts: {
  label: string;
  dir: string;
  pki: DevPki;
  storage: VouchStorage;
  /** extra node options for the server and signer processes (e.g. --cpu-prof) */
  nodeArgs?: string[];
}): Promise<VouchStack> {
  const nodeArgs = opts.nodeArgs ?? [];
  const { dir, pki, storage } = opts;
  fs.mkdirSync(dir, { recursive: true });
  const signerPort = await freePort();

  let signerStorage: Record<string, string>;
  let serverStorage: Record<string, string>;
  if (storage.kind === 'postgres') {
    const serverDb = await storage.cluster.createDatabase(`${storage.dbPrefix}_server`);
    const signerDb = await storage.cluster.createDatabase(`${storage.dbPrefix}_signer`);
    serverStorage = { backend: 'postgres', db_url: serverDb };
    signerStorage = { backend: 'postgres', db_url: signerDb, default_alias: SIGNER_ALIAS };
  } else {
    serverStorage = { backend: 'sqlite', path: path.join(dir, 'server.db') };
    signerStorage = { backend: 'sqlite', path: path.join(dir, 'signer.db'), default_alias: SIGNER_ALIAS };
  }

  const signerConfig = path.join(dir, 'vouch-signer.json');
  fs.writeFileSync(
    signerConfig,
    JSON.stringify({
      server: { grpc_addr: `127.0.0.1:${signerPort}`, tls_cert_file: pki.signerCert, tls_key_file: pki.signerKey, client_ca_file: pki.caCert },
      storage: signerStorage,
      logging: { level: 'warn' },
    }),
  );
  const env = { ...process.env, [`NOTARY_SIGNER_${SIGNER_ALIAS.toUpperCase()}`]: crypto.randomBytes(18).toString('base64url') };
  const signer = startService(`${opts.label} signer`, process.execPath, [...nodeArgs, path.join(DIST, 'signer', 'main.js'), '--config', signerConfig], {
    env,
    cwd: dir,
    logFile: path.join(dir, 'vouch-signer.log'),
  });

  const servers: Service[] = [];
  const urls: string[] = [];
  const ca = fs.readFileSync(pki.caCert);
  const clients: HttpsClient[] = [];

  const addServer = async (label: string) => {
    if (servers.length > 0 && storage.kind !== 'postgres') throw new Error('several server processes need shared (PostgreSQL) storage');
    const n = servers.length + 1;
    const port = await freePort();
    const serverConfig = path.join(dir, `vouch-server-${n}.json`);
    fs.writeFileSync(
      serverConfig,
      JSON.stringify({
        server: { http_addr: `127.0.0.1:${port}`, tls_cert_file: pki.serverCert, tls_key_file: pki.serverKey },
        trust_service: {
          type: 'remote',
          hostname: '127.0.0.1',
          port: String(signerPort),
          tls_ca_file: pki.caCert,
          tls_client_cert: pki.serverCert,
          tls_client_key: pki.serverKey,
          key_algorithm: 'ecdsa',
        },
        storage: serverStorage,
        // warn: an info line per request would make logging part of what is measured
        logging: { level: 'warn' },
      }),
    );
    const server = startService(label, process.execPath, [...nodeArgs, path.join(DIST, 'server', 'main.js'), '--config', serverConfig], {
      env: process.env,
      cwd: dir,
      logFile: path.join(dir, `vouch-server-${n}.log`),
    });
    const url = `https://localhost:${port}`;
    const client = new HttpsClient(url, ca);
    clients.push(client);
    servers.push(server);
    urls.push(url);
    try {
      await waitUntilHealthy(client, '/_notary_server/health', HEALTHY_TIMEOUT_MS, () => server.alive() && signer.alive(), label);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- vouch-server log:\n${server.logTail()}\n--- vouch-signer log:\n${signer.logTail()}`);
    }
    return { url, server };
  };

  const stop = async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop();
    await signer.stop();
  };
  try {
    await addServer(opts.label);
  } catch (e) {
    await stop();
    throw e;
  }
  const first = clients[0] as HttpsClient;
  return { label: opts.label, urls, servers, signer, client: first, stop, addServer };
}
