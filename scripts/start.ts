/**
 * `npm start`: the whole service on localhost for development. Starts vouch-signer and
 * vouch-server with SQLite in a data dir, with throwaway TLS material generated there on first
 * run, and prints the server URL and the CA certificate path.
 *
 *   npm start -- [--port 4443] [--data ./data] [--signer-port N]
 *   (or VOUCH_PORT / VOUCH_DATA / VOUCH_SIGNER_PORT)
 *
 * Everything lives in the data dir and is reused by the next start: TLS material (tls/), both
 * databases, and the signer's passphrase (DEV-ONLY-signer-passphrase, 0600). The two config files
 * and client.json (a notary/vouch client config naming the URL and the CA) are rewritten on every
 * start. None of it is fit for production: docs/running.md says how to run vouch for real.
 *
 * Ctrl-C (SIGINT) or SIGTERM stops both processes and exits 0. If either process dies, the other
 * is stopped and the exit code is 1.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DevPki, ensureDevPki } from './devpki';

export interface StartOptions {
  port: number;
  data: string;
  /** 0: any free port (the signer reports the one it bound) */
  signerPort: number;
}

/** The signer's passphrase alias in development; its variable is NOTARY_SIGNER_DEV. */
export const DEV_ALIAS = 'dev';
export const DEV_PASSPHRASE_FILE = 'DEV-ONLY-signer-passphrase';
const DEFAULT_PORT = 4443;
/** how long a child may take from spawn to listening (the signer runs scrypt first) */
const READY_TIMEOUT_MS = 60_000;
/** how long a child may take to stop after SIGTERM before it is killed */
const STOP_TIMEOUT_MS = 10_000;

class UsageError extends Error {}

function parsePort(what: string, v: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535 || (!allowZero && Number(v) === 0)) {
    throw new UsageError(`${what}: ${JSON.stringify(v)} is not a port number`);
  }
  return Number(v);
}

/** Flags win over environment variables, which win over the defaults. */
export function parseStartArgs(argv: string[], env: NodeJS.ProcessEnv, cwd: string): StartOptions | 'help' {
  let port = env.VOUCH_PORT ? parsePort('VOUCH_PORT', env.VOUCH_PORT, false) : DEFAULT_PORT;
  let data = path.resolve(cwd, env.VOUCH_DATA || 'data');
  let signerPort = env.VOUCH_SIGNER_PORT ? parsePort('VOUCH_SIGNER_PORT', env.VOUCH_SIGNER_PORT, true) : 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--port':
      case '-p':
        port = parsePort('--port', value(), false);
        break;
      case '--data':
      case '-d':
        data = path.resolve(cwd, value());
        break;
      case '--signer-port':
        signerPort = parsePort('--signer-port', value(), true);
        break;
      case '--help':
      case '-h':
        return 'help';
      default:
        throw new UsageError(`unknown option ${a}`);
    }
  }
  return { port, data, signerPort };
}

const USAGE = `usage: npm start -- [--port N] [--data DIR] [--signer-port N]

Runs vouch-signer and vouch-server on localhost for development: SQLite and throwaway TLS in DIR.
  --port N         the server's HTTPS port (default 4443, or VOUCH_PORT)
  --data DIR       the data dir (default ./data, or VOUCH_DATA); reused by the next start
  --signer-port N  the signer's gRPC port (default: any free port, or VOUCH_SIGNER_PORT)
Ctrl-C stops both.
`;

/**
 * The development signer passphrase: made once, kept in the data dir with mode 0600, and clearly
 * labelled. A real deployment gives the signer its passphrase from a secret store instead.
 */
export function devPassphrase(data: string): string {
  const file = path.join(data, DEV_PASSPHRASE_FILE);
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, `${crypto.randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  }
  // keep it private even if someone loosened the mode
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  const pass = fs.readFileSync(file, 'utf8').trim();
  if (pass.length < 16) throw new Error(`${file} holds no usable passphrase: delete it only if signer.db holds nothing you need`);
  return pass;
}

const DATA_README = `THIS FOLDER IS FOR DEVELOPMENT ONLY (made by \`npm start\`).

tls/                       throwaway CA and certificates; the CA key is right next to them
DEV-ONLY-signer-passphrase the passphrase that encrypts signer.db's keys, in plain text
signer.db, server.db       the signer's keys and the server's metadata (SQLite)
server.json, signer.json   configs, rewritten on every start
client.json                a notary / vouch client config: server URL and CA certificate

Never use any of it in production: see docs/running.md.
`;

export interface DevConfigs {
  pki: DevPki;
  serverConfig: string;
  signerConfig: string;
  clientConfig: string;
}

/** Write the dev configs into the data dir (TLS material only on first run). */
export function writeDevConfigs(opts: StartOptions): DevConfigs {
  fs.mkdirSync(opts.data, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(opts.data, 'README.txt'), DATA_README);
  const pki = ensureDevPki(path.join(opts.data, 'tls'));
  const signerConfig = path.join(opts.data, 'signer.json');
  const serverConfig = path.join(opts.data, 'server.json');
  const clientConfig = path.join(opts.data, 'client.json');
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  // paths relative to the data dir, so the folder can be moved as a whole
  fs.writeFileSync(
    signerConfig,
    json({
      server: { grpc_addr: `127.0.0.1:${opts.signerPort}`, tls_cert_file: 'tls/signer.crt', tls_key_file: 'tls/signer.key', client_ca_file: 'tls/ca.crt' },
      storage: { backend: 'sqlite', path: 'signer.db', default_alias: DEV_ALIAS },
      logging: { level: 'info' },
    }),
  );
  fs.writeFileSync(clientConfig, json({ remote_server: { url: `https://localhost:${opts.port}`, root_ca: 'tls/ca.crt' } }));
  return { pki, serverConfig, signerConfig, clientConfig };
}

/** server.json, once the signer's port is known. */
export function writeDevServerConfig(file: string, port: number, signerPort: number): void {
  const cfg = {
    server: { http_addr: `127.0.0.1:${port}`, tls_cert_file: 'tls/server.crt', tls_key_file: 'tls/server.key' },
    trust_service: {
      type: 'remote',
      hostname: '127.0.0.1',
      port: String(signerPort),
      tls_ca_file: 'tls/ca.crt',
      // Notary's arrangement: the server's certificate is also its client certificate
      tls_client_cert: 'tls/server.crt',
      tls_client_key: 'tls/server.key',
      key_algorithm: 'ecdsa',
    },
    storage: { backend: 'sqlite', path: 'server.db' },
    logging: { level: 'info' },
  };
  fs.writeFileSync(file, `${JSON.stringify(cfg, null, 2)}\n`);
}

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<number>;
  /** null while running */
  exitCode: number | null;
}

/**
 * Spawn one of our processes. Its output goes to our stderr (stdout stays for the lines a user
 * or script reads); `ready` resolves with the first match of `readyLine` in its output.
 */
function spawnChild(name: string, script: string, args: string[], env: NodeJS.ProcessEnv, readyLine: RegExp): { child: Child; ready: Promise<RegExpExecArray> } {
  const proc = spawn(process.execPath, [path.join(__dirname, '..', script), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = { name, proc, exitCode: null, exited: Promise.resolve(0) };
  child.exited = new Promise((resolve) =>
    proc.once('exit', (code, signal) => {
      child.exitCode = code ?? (signal ? 128 : 1);
      resolve(child.exitCode);
    }),
  );
  proc.once('error', (e) => process.stderr.write(`vouch start: ${name}: ${e.message}\n`));
  const ready = new Promise<RegExpExecArray>((resolve, reject) => {
    let seen = '';
    let done = false;
    const timer = setTimeout(() => finish(new Error(`${name} did not start within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
    const finish = (r: RegExpExecArray | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      seen = '';
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const onData = (b: Buffer) => {
      process.stderr.write(b);
      if (done) return;
      seen = (seen + b.toString()).slice(-64 * 1024);
      const m = readyLine.exec(seen);
      if (m) finish(m);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    void child.exited.then((code) => finish(new Error(`${name} exited with code ${code} before it was ready`)));
  });
  return { child, ready };
}

async function stopChild(c: Child): Promise<void> {
  if (c.exitCode !== null) return;
  const killer = setTimeout(() => c.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
  c.proc.kill('SIGTERM');
  await c.exited;
  clearTimeout(killer);
}

export async function main(argv: string[]): Promise<number> {
  let opts: StartOptions | 'help';
  try {
    opts = parseStartArgs(argv, process.env, process.cwd());
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`vouch start: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const o = opts;
  const files = writeDevConfigs(o);
  const passphrase = devPassphrase(o.data);

  // each process gets only what it needs: the passphrase goes to the signer alone
  const baseEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('NOTARY_SIGNER_') && !k.startsWith('VOUCH_SIGNER_')) baseEnv[k] = v;
  }
  const children: Child[] = [];
  let stopping = false;
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));
  const stopAll = async (code: number, why?: string) => {
    if (stopping) return;
    stopping = true;
    if (why) process.stderr.write(`vouch start: ${why}\n`);
    // the server first: it must not be left running without its signer
    for (const c of [...children].reverse()) await stopChild(c);
    resolveDone(code);
  };
  process.on('SIGINT', () => void stopAll(0, 'stopping (SIGINT)'));
  process.on('SIGTERM', () => void stopAll(0, 'stopping (SIGTERM)'));
  /** track a child; one spawned while stopping (a signal during start-up) is stopped at once */
  const adopt = (c: Child) => {
    children.push(c);
    if (stopping) void stopChild(c);
    void c.exited.then((code) => {
      if (stopping) return;
      const hint = c.name === 'vouch-server' ? ` (if port ${o.port} is taken, choose another with --port)` : '';
      void stopAll(1, `${c.name} exited unexpectedly (code ${code})${hint}; stopping`);
    });
  };

  try {
    const signer = spawnChild('vouch-signer', 'signer/main.js', ['--config', files.signerConfig], { ...baseEnv, [`NOTARY_SIGNER_${DEV_ALIAS.toUpperCase()}`]: passphrase }, /^[^\n]*"msg":"vouch-signer listening"[^\n]*$/m);
    adopt(signer.child);
    const signerLine = (await signer.ready)[0];
    if (stopping) return done;
    const signerPort = Number(/"port":(\d+)/.exec(signerLine)?.[1] ?? o.signerPort);
    if (!signerPort) throw new Error('vouch-signer did not report its port');
    writeDevServerConfig(files.serverConfig, o.port, signerPort);

    const server = spawnChild('vouch-server', 'server/main.js', ['--config', files.serverConfig], baseEnv, /^vouch-server listening on (\S+)$/m);
    adopt(server.child);
    await server.ready;
  } catch (e) {
    if (!stopping) await stopAll(1, (e as Error).message);
    return done;
  }
  if (stopping) return done;

  const url = `https://localhost:${o.port}`;
  process.stdout.write(
    [
      '',
      'vouch is running (development mode: throwaway TLS and passphrase, do not use in production)',
      `  server URL:      ${url}`,
      `  CA certificate:  ${files.pki.caCert}`,
      `  client config:   ${files.clientConfig}`,
      `  data dir:        ${o.data}`,
      `  try:             node dist/cli/main.js -c ${files.clientConfig} init example.com/my/app -p`,
      'Ctrl-C stops both processes.',
      '',
    ].join('\n'),
  );
  return done;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`vouch start: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
