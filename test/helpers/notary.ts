/**
 * The real Notary 0.7 services (Debian's `notary-server` and `notary-signer`) as processes for
 * interop tests: config writing, start, readiness wait. Both are registered with proc.ts, so
 * `stopAll()` stops them; `proc.stop()` stops one early (a cut-over).
 *
 * Gate suites on the binaries with `describeWith(['notary-server', ...], name, fn)`.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import type { DevPki } from '../../scripts/devpki';
import { applyNotarySchema, NOTARY_SERVER_SCHEMA, NOTARY_SIGNER_SCHEMA } from '../../scripts/notary-schema';
import type { PostgresCluster } from '../../scripts/postgres';
import { freePort, waitForPort } from './net';
import { Proc, run, startProcess } from './proc';

/** Where a Notary service keeps its data: in memory, or in a database made by createNotaryDatabase. */
export type NotaryStorage = { backend: 'memory' } | { backend: 'postgres'; url: string };

/**
 * notary-signer's PostgreSQL storage encrypts keys under `alias`, whose passphrase it reads from
 * NOTARY_SIGNER_<ALIAS>.
 */
export type NotarySignerStorage = { backend: 'memory' } | { backend: 'postgres'; url: string; alias: string; passphrase: string };

export interface NotarySigner {
  proc: Proc;
  port: number;
  config: string;
}

export interface NotaryServer {
  proc: Proc;
  port: number;
  /** http(s)://127.0.0.1:port */
  url: string;
  config: string;
}

/**
 * A fresh database on `cluster` with Notary's tables: notary-server and notary-signer do not
 * create them (scripts/notary-schema.ts).
 */
export async function createNotaryDatabase(cluster: PostgresCluster, name: string, service: 'server' | 'signer'): Promise<string> {
  const url = await cluster.createDatabase(name);
  await applyNotarySchema(url, service === 'server' ? NOTARY_SERVER_SCHEMA : NOTARY_SIGNER_SCHEMA);
  return url;
}

/**
 * The trust_service section of a server config with a remote signer over mutual TLS (spec
 * Appendix B). vouch-server reads the same section as notary-server.
 */
export function remoteTrustService(pki: DevPki, signerPort: number, hostname = '127.0.0.1'): Record<string, string> {
  return {
    type: 'remote',
    hostname,
    port: String(signerPort),
    tls_ca_file: pki.caCert,
    key_algorithm: 'ecdsa',
    tls_client_cert: pki.serverCert,
    tls_client_key: pki.serverKey,
  };
}

/** Notary's Go PostgreSQL driver asks for TLS by default; the private test cluster has none. */
function postgresUrl(url: string): string {
  return `${url}?sslmode=disable`;
}

/** Start notary-signer on gRPC over mutual TLS (the dev PKI's signer certificate) and wait for its port. */
export async function startNotarySigner(o: {
  /** where its config file goes (also its working directory) */
  dir: string;
  pki: DevPki;
  storage?: NotarySignerStorage;
  level?: string;
}): Promise<NotarySigner> {
  const port = await freePort();
  const storage = o.storage ?? { backend: 'memory' };
  const env: NodeJS.ProcessEnv = { ...process.env };
  let storageConfig: Record<string, string> = { backend: 'memory' };
  if (storage.backend === 'postgres') {
    storageConfig = { backend: 'postgres', db_url: postgresUrl(storage.url), default_alias: storage.alias };
    env[`NOTARY_SIGNER_${storage.alias.toUpperCase()}`] = storage.passphrase;
  }
  const config = path.join(o.dir, 'notary-signer.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      server: { grpc_addr: `127.0.0.1:${port}`, tls_cert_file: o.pki.signerCert, tls_key_file: o.pki.signerKey, client_ca_file: o.pki.caCert },
      logging: { level: o.level ?? 'info' },
      storage: storageConfig,
    }),
  );
  const proc = startProcess('notary-signer', ['-config', config, '-logf', 'logfmt'], { cwd: o.dir, env });
  await waitForPort(port);
  return { proc, port, config };
}

/**
 * Start notary-server and wait until its health endpoint answers 200, which in remote mode also
 * means it reaches the signer.
 */
export async function startNotaryServer(o: {
  /** where its config file goes (also its working directory) */
  dir: string;
  /** needed for TLS and for a remote signer */
  pki?: DevPki;
  /** the signer holding the online keys (trust_service remote); without it the server holds them (local) */
  signer?: { port: number; hostname?: string };
  /** serve HTTPS with the dev PKI's server certificate (default), or plain HTTP */
  tls?: boolean;
  /** a port chosen beforehand, e.g. one URL that another server takes over later */
  port?: number;
  storage?: NotaryStorage;
}): Promise<NotaryServer> {
  const tls = o.tls ?? true;
  const pki = o.pki;
  if ((tls || o.signer) && !pki) throw new Error('startNotaryServer: TLS and a remote signer need the dev PKI');
  const port = o.port ?? (await freePort());
  const storage = o.storage ?? { backend: 'memory' };
  const config = path.join(o.dir, 'notary-server.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      server: { http_addr: `127.0.0.1:${port}`, ...(tls && pki ? { tls_cert_file: pki.serverCert, tls_key_file: pki.serverKey } : {}) },
      trust_service: o.signer && pki ? remoteTrustService(pki, o.signer.port, o.signer.hostname) : { type: 'local' },
      logging: { level: 'info' },
      storage: storage.backend === 'postgres' ? { backend: 'postgres', db_url: postgresUrl(storage.url) } : { backend: 'memory' },
    }),
  );
  const proc = startProcess('notary-server', ['-config', config, '-logf', 'logfmt'], { cwd: o.dir });
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  await waitUntilHealthy(url, pki && fs.readFileSync(pki.caCert), proc);
  return { proc, port, url, config };
}

/** Poll /_notary_server/health until it answers 200 (notary-server checks its signer there too). */
async function waitUntilHealthy(url: string, ca: Buffer | undefined, proc: Proc, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const healthy = await new Promise<boolean>((resolve) => {
      (url.startsWith('https:') ? https : http)
        .get(`${url}/_notary_server/health`, { ca, agent: false, timeout: 2000 }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        })
        // a listener that never answers counts as not healthy yet
        .on('timeout', function (this: http.ClientRequest) {
          this.destroy();
        })
        .on('error', () => resolve(false));
    });
    if (healthy) return;
    if (proc.child.exitCode !== null) throw new Error(`notary-server exited (${proc.child.exitCode}); output:\n${proc.output().slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`notary-server never became healthy; output:\n${proc.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The notary client's passphrase variables for every key role it may create, labelled per test file. */
export function notaryClientPassphrases(label: string): {
  NOTARY_ROOT_PASSPHRASE: string;
  NOTARY_TARGETS_PASSPHRASE: string;
  NOTARY_SNAPSHOT_PASSPHRASE: string;
  NOTARY_DELEGATION_PASSPHRASE: string;
} {
  return {
    NOTARY_ROOT_PASSPHRASE: `${label}-root-passphrase`,
    NOTARY_TARGETS_PASSPHRASE: `${label}-targets-passphrase`,
    NOTARY_SNAPSHOT_PASSPHRASE: `${label}-snapshot-passphrase`,
    NOTARY_DELEGATION_PASSPHRASE: `${label}-delegation-passphrase`,
  };
}

/**
 * The notary CLI as an interop test drives it: `run(trustDir, ...args)` against the server, with
 * a trust directory of that name under `dir()`; `ok(result)` throws with the CLI's output and the
 * tail of each service log unless it exited 0. Getters, because suites set these in beforeAll.
 */
export function notaryCli(o: { server: () => string; dir: () => string; caCert?: () => string; label: string; logs: () => Record<string, string> }) {
  const env = { ...process.env, ...notaryClientPassphrases(o.label) };
  return {
    run: (trustDir: string, ...args: string[]) =>
      run('notary', ['-s', o.server(), ...(o.caCert ? ['--tlscacert', o.caCert()] : []), '-d', path.join(o.dir(), trustDir), ...args], { env, timeoutMs: 90000 }),
    ok: (r: { code: number | null; stdout: string; stderr: string }): void => {
      if (r.code === 0) return;
      const logs = Object.entries(o.logs()).map(([name, text]) => `${name}:\n${text.slice(-3000)}`);
      throw new Error([`notary failed (${r.code}):`, r.stdout, r.stderr, ...logs].join('\n'));
    },
  };
}
