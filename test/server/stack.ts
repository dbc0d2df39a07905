/**
 * The shipped stack as a user starts it, for end-to-end tests: dev TLS material from
 * ensureDevPki, then `node dist/signer/main.js --config signer.json` and
 * `node dist/server/main.js --config server.json` (remote trust service over mutual TLS,
 * SQLite storage). Needs `npm run build` first (jest's pretest does it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DevPki, ensureDevPki } from '../../scripts/devpki';
import { freePort, HttpsResponse, httpsGet } from '../helpers/net';
import { remoteTrustService } from '../helpers/notary';
import { Proc, startProcess } from '../helpers/proc';
import { startTestSigner } from '../signer/harness';

const DIST = path.resolve(__dirname, '../../dist');

export interface Stack {
  dir: string;
  pki: DevPki;
  url: string;
  port: number;
  server: Proc;
  signer: Proc | null;
  /** the signer's gRPC port (remote trust only) */
  signerPort: number | null;
  /** GET over TLS with the dev CA */
  get(pathname: string): Promise<HttpsResponse>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** extra server config members (merged at the top level) */
  serverConfig?: Record<string, unknown>;
  /** `local` keeps the online keys in the server process (no signer started) */
  trust?: 'remote' | 'local';
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  for (const f of ['server/main.js', 'signer/main.js']) {
    if (!fs.existsSync(path.join(DIST, f))) throw new Error(`dist/${f} is missing: run npm run build first`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-e2e-server-'));
  const pki = ensureDevPki(path.join(dir, 'pki'));
  const port = await freePort();
  let signer: Proc | null = null;
  let signerPort: number | null = null;
  let trustService: Record<string, unknown> = { type: 'local' };
  if ((opts.trust ?? 'remote') === 'remote') {
    const started = await startTestSigner({
      dir,
      pki,
      storage: { backend: 'sqlite', path: path.join(dir, 'signer.db') },
      alias: 'e2e',
      passphrase: 'e2e-signer-passphrase-not-secret',
      level: 'info',
    });
    signer = started.proc;
    signerPort = started.port;
    trustService = remoteTrustService(pki, started.port);
  }
  const serverConfig = path.join(dir, 'server.json');
  fs.writeFileSync(
    serverConfig,
    JSON.stringify({
      server: { http_addr: `127.0.0.1:${port}`, tls_cert_file: 'pki/server.crt', tls_key_file: 'pki/server.key' },
      trust_service: trustService,
      storage: { backend: 'sqlite', path: 'data/server.db' },
      logging: { level: 'info' },
      ...opts.serverConfig,
    }),
  );
  const server = startProcess(process.execPath, [path.join(DIST, 'server/main.js'), '--config', serverConfig], { env: process.env });
  await server.waitFor(/vouch-server listening on https:\/\/127\.0\.0\.1:\d+/, 30000);
  const url = `https://127.0.0.1:${port}`;
  const ca = fs.readFileSync(pki.caCert);
  return {
    dir,
    pki,
    url,
    port,
    server,
    signer,
    signerPort,
    get: (pathname) => httpsGet(`${url}${pathname}`, ca),
    async stop() {
      await server.stop();
      await signer?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
