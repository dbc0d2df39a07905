/**
 * `npm start` as a user runs it (the compiled script, without the build `npm start` runs first):
 * signer and server come up with SQLite and dev TLS in a data dir, the real notary client
 * publishes and a fresh client trusts on first use, Ctrl-C stops both processes, a second start
 * on the same data dir keeps keys and data, and a child that dies takes the other one down with a
 * non-zero exit.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parsePublicKey } from '../../tuf';
import { describeWith } from '../helpers/interop';
import { freePort, httpsGet } from '../helpers/net';
import { notaryClientPassphrases } from '../helpers/notary';
import { Proc, run, startProcess, stopAll } from '../helpers/proc';

const ROOT = path.resolve(__dirname, '../..');
const START = path.join(ROOT, 'dist/scripts/start.js');
const GUN = 'example.com/vouch-start/app';
const PASSPHRASES = notaryClientPassphrases('start-e2e');
const HASH_A = crypto.createHash('sha256').update('first target').digest('hex');
const HASH_B = crypto.createHash('sha256').update('second target').digest('hex');

/** The pids whose parent is `ppid` (Linux /proc). */
function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // the command name may hold spaces and parentheses: fields start after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Live processes whose command line mentions `needle` (e.g. a data dir's config file). */
function processesMentioning(needle: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle) && alive(Number(e));
      } catch {
        return false;
      }
    })
    .map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie is dead: it only waits to be reaped
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function exitOf(p: Proc, timeoutMs = 20000): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve(p.child.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms:\n${p.output().slice(-3000)}`)), timeoutMs);
    p.child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

describeWith(['notary'], 'npm start (dist/scripts/start.js) with the real notary client', () => {
  let work: string;
  let data: string;
  let port: number;

  const start = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const p = startProcess(process.execPath, [START, ...args], { cwd: work, env: { ...process.env, ...env } });
    await p.waitFor(/server URL:\s+https:\/\/localhost:\d+/, 60000);
    return p;
  };
  const notary = async (trustDir: string, args: string[]) => {
    const r = await run('notary', ['-c', path.join(data, 'client.json'), '-d', path.join(work, trustDir), ...args], {
      env: { ...process.env, ...PASSPHRASES },
      cwd: work,
      timeoutMs: 60000,
    });
    if (r.code !== 0) throw new Error(`notary ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout + r.stderr;
  };
  const timestampKeyId = async () => {
    const res = await httpsGet(`https://localhost:${port}/v2/${GUN}/_trust/tuf/timestamp.key`, fs.readFileSync(path.join(data, 'tls/ca.crt')));
    expect(res.status).toBe(200);
    return parsePublicKey(JSON.parse(res.body.toString())).id;
  };

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-start-'));
    data = path.join(work, 'data');
    port = await freePort();
  });

  afterAll(async () => {
    await stopAll();
    fs.rmSync(work, { recursive: true, force: true });
  });

  let firstTimestampKey = '';
  let firstCa = '';

  it('starts signer and server, prints the URL and the CA path, and the notary client publishes and reads back', async () => {
    const p = await start(['--port', String(port), '--data', data]);
    const out = p.output();
    expect(out).toContain(`server URL:      https://localhost:${port}`);
    expect(out).toContain(`CA certificate:  ${path.join(data, 'tls', 'ca.crt')}`);
    const pids = childPids(p.child.pid as number);
    expect(pids).toHaveLength(2);

    await notary('trust', ['init', GUN, '-p']);
    await notary('trust', ['addhash', GUN, 'first', '12', '--sha256', HASH_A, '-p']);
    // a second client with nothing cached trusts on first use and sees the same target
    const list = await notary('fresh', ['list', GUN]);
    expect(list).toMatch(new RegExp(`first\\s+${HASH_A}\\s+12\\s+targets`));
    firstTimestampKey = await timestampKeyId();
    firstCa = fs.readFileSync(path.join(data, 'tls/ca.crt'), 'utf8');

    // Ctrl-C: both children stop, the exit code is 0
    p.child.kill('SIGINT');
    expect(await exitOf(p)).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(processesMentioning(path.join(data, 'server.json'))).toEqual([]);
    expect(p.output()).toMatch(/vouch-signer stopping/);
  }, 120000);

  it('keeps the dev passphrase in the data dir, private and labelled as development-only', () => {
    const file = path.join(data, 'DEV-ONLY-signer-passphrase');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(data, 'README.txt'), 'utf8')).toMatch(/DEVELOPMENT ONLY/);
    // the passphrase itself never reaches the output
    const pass = fs.readFileSync(file, 'utf8').trim();
    expect(pass.length).toBeGreaterThanOrEqual(16);
  });

  it('a second start on the same data dir (chosen by VOUCH_PORT / VOUCH_DATA) reuses keys, TLS and data', async () => {
    const p = await start([], { VOUCH_PORT: String(port), VOUCH_DATA: data });
    expect(fs.readFileSync(path.join(data, 'tls/ca.crt'), 'utf8')).toBe(firstCa);
    expect(await timestampKeyId()).toBe(firstTimestampKey);
    // the old data is there, and the reopened timestamp key signs a new publish
    await notary('trust', ['addhash', GUN, 'second', '13', '--sha256', HASH_B, '-p']);
    const list = await notary('fresh', ['list', GUN]);
    expect(list).toMatch(new RegExp(`first\\s+${HASH_A}\\s+12\\s+targets`));
    expect(list).toMatch(new RegExp(`second\\s+${HASH_B}\\s+13\\s+targets`));
    expect(p.output()).not.toContain(fs.readFileSync(path.join(data, 'DEV-ONLY-signer-passphrase'), 'utf8').trim());

    // when one child dies, the other is stopped and the exit code is non-zero
    const pids = childPids(p.child.pid as number);
    expect(pids).toHaveLength(2);
    const signerPid = pids.find((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('signer/main.js'));
    expect(signerPid).toBeDefined();
    process.kill(signerPid as number, 'SIGKILL');
    expect(await exitOf(p)).toBe(1);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(p.output()).toMatch(/vouch-signer exited unexpectedly/);
  }, 120000);

  it('fails with a non-zero exit and stops the signer when the port is taken', async () => {
    const blocker = await start(['--port', String(port), '--data', data]);
    const other = startProcess(process.execPath, [START, '--port', String(port), '--data', path.join(work, 'other')], { cwd: work });
    expect(await exitOf(other, 60000)).toBe(1);
    expect(other.output()).toMatch(/EADDRINUSE/);
    expect(other.output()).toMatch(/choose another with --port/);
    expect(processesMentioning(path.join(work, 'other', 'signer.json'))).toEqual([]);
    blocker.child.kill('SIGTERM');
    expect(await exitOf(blocker)).toBe(0);
  }, 120000);

  it('refuses a bad port with a usage error', async () => {
    const r = await run(process.execPath, [START, '--port', '99999', '--data', data]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--port: "99999" is not a port number/);
  });
});
