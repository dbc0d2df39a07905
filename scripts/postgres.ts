/**
 * A private PostgreSQL cluster for tests and the benchmark: initdb into a fresh temp dir,
 * `postgres` on a free loopback port, trust auth, fsync off; stopped and removed by `stop()`.
 * Never a system service. (test/helpers/postgres.ts re-exports this for jest suites.)
 *
 * initdb refuses to run as root, so when the tests run as root both programs run as the
 * `postgres` user (setpriv, which execs: the pid we hold is the server's own). Gate suites on
 * the binaries with `describeWith(['initdb', 'postgres'], name, fn, PG_BIN_DIRS)`.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { freePort, run } from './proc-util';

export interface PostgresCluster {
  /** connection URL of the `postgres` database (superuser `postgres`, no password) */
  url: string;
  port: number;
  /** create an empty database and return its URL */
  createDatabase(name: string): Promise<string>;
  /** fast shutdown, then delete the data directory */
  stop(): Promise<void>;
}

const PG_ROOT = '/usr/lib/postgresql';
const READY_TIMEOUT_MS = 30_000;

/** The bin dir of the newest PostgreSQL under /usr/lib/postgresql that has initdb and postgres. */
export function findPostgresBinDir(): string {
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(PG_ROOT).filter((v) => /^\d+$/.test(v));
  } catch {
    // no PostgreSQL installed
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(PG_ROOT, v, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'postgres'))) return bin;
  }
  throw new Error(`no PostgreSQL with initdb and postgres under ${PG_ROOT} (apt-get install -y postgresql-15)`);
}

interface RunAs {
  /** prefix that runs a command as the cluster owner */
  wrap(cmd: string, args: string[]): [string, string[]];
  uid: number;
  gid: number;
}

function runAs(): RunAs {
  if (process.getuid?.() !== 0) {
    return { wrap: (cmd, args) => [cmd, args], uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
  }
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return {
    wrap: (cmd, args) => ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', cmd, ...args]],
    uid,
    gid,
  };
}

function tail(s: string, n = 4000): string {
  return s.length > n ? s.slice(-n) : s;
}

const DB_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = findPostgresBinDir();
  const who = runAs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-pg-'));
  const dataDir = path.join(dir, 'data');
  try {
    fs.chownSync(dir, who.uid, who.gid);
    fs.chmodSync(dir, 0o700);

    const [initCmd, initArgs] = who.wrap(path.join(bin, 'initdb'), [
      '-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync',
    ]);
    const init = await run(initCmd, initArgs, { cwd: dir });
    if (init.code !== 0) {
      throw new Error(`initdb failed (exit ${init.code}):\n${tail(init.stdout + init.stderr)}`);
    }

    // a port that was free may be taken by the time postgres binds it: try a few
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      try {
        return await launch(bin, who, dir, dataDir, port);
      } catch (e) {
        lastError = e as Error;
        if (!/could not bind|Address already in use|could not create any TCP/i.test(lastError.message)) break;
      }
    }
    throw lastError ?? new Error('postgres did not start');
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function launch(bin: string, who: RunAs, dir: string, dataDir: string, port: number): Promise<PostgresCluster> {
  const [cmd, args] = who.wrap(path.join(bin, 'postgres'), [
    '-D', dataDir,
    '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    // the socket lives in our temp dir, not /var/run/postgresql
    '-c', `unix_socket_directories=${dir}`,
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off',
    '-c', 'max_connections=200',
  ]);
  const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (b: Buffer) => {
    log += b.toString();
    if (log.length > 1_000_000) log = log.slice(-500_000);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  // if the test process dies without calling stop(), take the server down with it
  const killOnExit = () => {
    if (!exited) child.kill('SIGQUIT');
  };
  process.once('exit', killOnExit);

  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  try {
    await waitReady(url, child, () => exited, () => log);
  } catch (e) {
    process.removeListener('exit', killOnExit);
    await stopChild(child, () => exited, exitedPromise);
    throw e;
  }

  let stopped = false;
  return {
    url,
    port,
    async createDatabase(name: string): Promise<string> {
      if (!DB_NAME.test(name)) throw new Error(`database name ${JSON.stringify(name)} must match ${DB_NAME}`);
      const c = new Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}"`);
      } finally {
        await c.end();
      }
      return `postgresql://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', killOnExit);
      await stopChild(child, () => exited, exitedPromise);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Connect until the server answers a query; fail with its log if it exits or times out. */
async function waitReady(url: string, child: ChildProcess, exited: () => boolean, log: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  for (;;) {
    if (exited()) {
      throw new Error(`postgres exited (code ${child.exitCode}) before accepting connections; log:\n${tail(log())}`);
    }
    const c = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
      await c.end().catch(() => undefined);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `postgres not ready after ${READY_TIMEOUT_MS} ms (last error: ${lastError}); log:\n${tail(log())}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Fast shutdown (SIGINT: disconnect clients, checkpoint, exit); SIGKILL if it hangs. */
async function stopChild(child: ChildProcess, exited: () => boolean, done: Promise<void>): Promise<void> {
  if (exited()) return;
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  child.kill('SIGINT');
  await done;
  clearTimeout(t);
}
