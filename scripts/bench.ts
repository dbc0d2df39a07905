/**
 * `npm run bench`: vouch against the real notary-server, side by side on this machine, in one
 * run, with the ratios printed per workload and written to docs/benchmarks.md.
 *
 * Started on loopback, each on its own free ports, all with TLS and a real signer over mutual
 * TLS (dev PKI from scripts/devpki.ts):
 *   1. notary-server + notary-signer (Debian's notary 0.7) on memory storage;
 *   2. the same pair on PostgreSQL (server and signer databases in one private cluster);
 *   3. vouch-server + vouch-signer on SQLite;
 *   4. vouch-server + vouch-signer on PostgreSQL (same cluster);
 *   5. a second vouch-server process on the database of 4 (scale-out).
 * Each gets identical repositories with 100 and with 10,000 tags (scripts/bench/repo.ts), which
 * are verified as a client would before anything is measured. Then, with every run bounded:
 *   - GET timestamp.json, targets.json (100 tags), targets.json (10,000 tags): wrk, one thread,
 *     32 connections, 10 s, over TLS; workloads interleaved across servers;
 *   - publishing one tag by direct multipart POST (median), into 100 and into 10,000 tags;
 *   - publishing one tag end to end with the real `notary` CLI (`addhash -p`, median);
 *   - GET timestamp.json with one and with two vouch processes on one PostgreSQL, and a
 *     read-after-write check across the two;
 *   - each server's peak resident memory (VmHWM) after all of it.
 *
 *   npm run bench -- [--duration S] [--rounds N] [--connections N] [--large-tags N] [--post-runs N]
 *                    [--cli-runs N] [--wrk-cpus LIST] [--profile DIR] [--no-doc] [--keep]
 *
 * --profile DIR runs every vouch process with `node --cpu-prof` and leaves the .cpuprofile
 * files in DIR (open them in Chrome DevTools, or summarise with scripts/bench/profile.ts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureDevPki } from './devpki';
import { findPostgresBinDir, PostgresCluster, startPostgres } from './postgres';
import { run } from './proc-util';
import { HttpsClient } from './bench/http';
import { Stack, startNotaryStack } from './bench/notary';
import { cpuBusyPercent, memoryStatus, Service, stopAllServices } from './bench/process';
import { makeRepoSpec, PublishedRepo, RepoSpec } from './bench/repo';
import { describeMachine, Figure, markdownTable, median, ratioOf, Row, textTable, writeGeneratedSection } from './bench/report';
import { startVouchStack, VouchStack } from './bench/vouch';
import { runWrk, WrkResult } from './bench/wrk';

interface Options {
  durationS: number;
  /** wrk rounds per server and workload; the best is reported */
  rounds: number;
  connections: number;
  smallTags: number;
  largeTags: number;
  postRuns: number;
  cliRuns: number;
  /** taskset CPU list for wrk; unpinned when absent */
  wrkCpus?: string;
  doc: string | null;
  keep: boolean;
  /** write V8 CPU profiles of every vouch process here */
  profileDir?: string;
}

const USAGE = `usage: npm run bench -- [--duration S] [--rounds N] [--connections N] [--large-tags N] [--post-runs N] [--cli-runs N] [--wrk-cpus LIST] [--profile DIR] [--no-doc] [--keep]`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    durationS: 10,
    rounds: 2,
    connections: 32,
    smallTags: 100,
    largeTags: 10_000,
    // a publish median of 11 moved by a millisecond between idle runs; 31 holds it steadier
    postRuns: 31,
    cliRuns: 11,
    doc: path.resolve(__dirname, '..', '..', 'docs', 'benchmarks.md'),
    keep: false,
  };
  const int = (name: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) fail(`${name} needs a whole number from ${min} to ${max}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--duration':
        o.durationS = int(a, argv[++i], 1, 60);
        break;
      case '--rounds':
        o.rounds = int(a, argv[++i], 1, 10);
        break;
      case '--connections':
        o.connections = int(a, argv[++i], 1, 1000);
        break;
      case '--large-tags':
        o.largeTags = int(a, argv[++i], 1, 100_000);
        break;
      case '--post-runs':
        o.postRuns = int(a, argv[++i], 1, 101);
        break;
      case '--cli-runs':
        o.cliRuns = int(a, argv[++i], 1, 101);
        break;
      case '--wrk-cpus': {
        const v = argv[++i];
        if (v === undefined || !/^[0-9,-]+$/.test(v)) fail('--wrk-cpus needs a CPU list such as 1 or 0-1');
        o.wrkCpus = v;
        break;
      }
      case '--profile': {
        const v = argv[++i];
        if (v === undefined) fail('--profile needs a directory');
        o.profileDir = path.resolve(v);
        break;
      }
      case '--no-doc':
        o.doc = null;
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        fail(`unknown option ${a}\n${USAGE}`);
    }
  }
  return o;
}

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

function say(msg: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

async function preflight(): Promise<void> {
  const missing: string[] = [];
  for (const bin of ['wrk', 'notary', 'notary-server', 'notary-signer']) {
    const r = await run('sh', ['-c', `command -v ${bin}`]);
    if (r.code !== 0) missing.push(bin);
  }
  try {
    findPostgresBinDir();
  } catch {
    missing.push('PostgreSQL (initdb, postgres)');
  }
  if (missing.length > 0) fail(`missing ${missing.join(', ')} (apt-get install -y notary wrk postgresql-15)`);
  for (const f of ['server/main.js', 'signer/main.js']) {
    if (!fs.existsSync(path.resolve(__dirname, '..', f))) fail(`dist/${f} is missing: run npm run build`);
  }
}

interface Target {
  stack: Stack;
  small: PublishedRepo;
  large: PublishedRepo;
}

const MB = 1024 * 1024;

/** The best of a server's rounds (all rounds must have run cleanly). */
function wrkFigure(rounds: WrkResult[]): Figure {
  const failed = rounds.find((r) => r.error);
  if (failed) return { value: 0, error: failed.error };
  const best = rounds.reduce((a, r) => (r.requestsPerSec > a.requestsPerSec ? r : a));
  const all = rounds.length > 1 ? `; rounds ${rounds.map((r) => Math.round(r.requestsPerSec)).join(', ')} req/s` : '';
  return { value: best.requestsPerSec, detail: `p50 ${best.latency.p50.toFixed(1)} ms, p99 ${best.latency.p99.toFixed(1)} ms${all}` };
}

function msFigure(samples: number[], failures: string[]): Figure {
  if (failures.length > 0) return { value: 0, error: failures[0] as string };
  const sorted = [...samples].sort((a, b) => a - b);
  return { value: median(samples), detail: `n=${samples.length}, min ${sorted[0]?.toFixed(1)} ms, max ${sorted[sorted.length - 1]?.toFixed(1)} ms` };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  await preflight();
  const t0 = Date.now();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-bench-'));
  const pki = ensureDevPki(path.join(workDir, 'pki'));
  const ca = fs.readFileSync(pki.caCert);
  const clients: HttpsClient[] = [];
  const stacks: Stack[] = [];
  let pg: PostgresCluster | null = null;
  let cleaning: Promise<void> | null = null;
  /** stop everything this run started (once), from the normal end or from Ctrl-C */
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const c of clients) c.close();
      for (const s of stacks.reverse()) await s.stop().catch(() => undefined);
      await stopAllServices();
      if (pg) await pg.stop().catch(() => undefined);
      if (!opts.keep) fs.rmSync(workDir, { recursive: true, force: true });
      else say(`kept ${workDir} (configs and logs)`);
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping the servers`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  say(`work dir ${workDir}`);
  try {
    pg = await startPostgres();
    say(`PostgreSQL on port ${pg.port}`);
    const keep = <S extends Stack>(s: S): S => (stacks.push(s), s);
    const notaryMem = keep(await startNotaryStack({ label: 'notary-server (memory)', dir: path.join(workDir, 'notary-memory'), pki, storage: { kind: 'memory' } }));
    const notaryPg = keep(await startNotaryStack({ label: 'notary-server (PostgreSQL)', dir: path.join(workDir, 'notary-postgres'), pki, storage: { kind: 'postgres', cluster: pg, dbPrefix: 'notary' } }));
    const nodeArgs = opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : [];
    const vouchSqlite = keep(await startVouchStack({ label: 'vouch (SQLite)', dir: path.join(workDir, 'vouch-sqlite'), pki, storage: { kind: 'sqlite' }, nodeArgs }));
    const vouchPg: VouchStack = keep(
      await startVouchStack({ label: 'vouch (PostgreSQL)', dir: path.join(workDir, 'vouch-postgres'), pki, storage: { kind: 'postgres', cluster: pg, dbPrefix: 'vouch' }, nodeArgs }),
    );
    const second = await vouchPg.addServer('vouch (PostgreSQL) process B');
    say(`started: notary memory ${notaryMem.urls[0]}, notary PostgreSQL ${notaryPg.urls[0]}, vouch SQLite ${vouchSqlite.urls[0]}, vouch PostgreSQL ${vouchPg.urls.join(' + ')}`);

    // identical repositories everywhere
    const now = Date.now();
    const smallSpec = makeRepoSpec(`example.com/bench/tags-${opts.smallTags}`, opts.smallTags, now);
    const largeSpec = makeRepoSpec(`example.com/bench/tags-${opts.largeTags}`, opts.largeTags, now);
    const targets: Target[] = [];
    const sizes: Record<string, { timestamp: number; snapshot: number; targets: number }> = {};
    // the order every workload visits the servers in: each vouch right after its baseline
    const order: Stack[] = [notaryMem, vouchSqlite, notaryPg, vouchPg];
    for (const stack of order) {
      const small = new PublishedRepo(smallSpec, stack.client);
      const large = new PublishedRepo(largeSpec, stack.client);
      await small.create();
      await large.create();
      const s = await small.verifyServed();
      const l = await large.verifyServed();
      sizes[stack.label] = s;
      sizes[`${stack.label} large`] = l;
      targets.push({ stack, small, large });
      say(`${stack.label}: loaded ${opts.smallTags} tags (targets ${s.targets} B, timestamp ${s.timestamp} B) and ${opts.largeTags} tags (targets ${l.targets} B)`);
    }
    const byStack = (s: Stack) => targets.find((t) => t.stack === s) as Target;
    // each server's peak RSS so far, after each phase: shows which workload raised it
    const phases: Array<{ phase: string; peak: Map<Stack, number> }> = [];
    const notePhase = (phase: string) => phases.push({ phase, peak: new Map(order.map((s) => [s, memoryStatus((s.servers[0] as Service).pid).peakRss / MB])) });
    notePhase('loading');
    const clientB = new HttpsClient(second.url, ca);
    clients.push(clientB);
    // process B must serve the very same repository before it is measured
    await byStack(vouchPg).small.verifyServed(clientB);

    // the figures only mean something on an otherwise idle machine: say how idle it was
    const busyBefore = await cpuBusyPercent(2000);
    say(`CPU busy before the load (other processes, idle servers): ${busyBefore.toFixed(0)}%${busyBefore > 10 ? ' -- the machine is not idle, expect noisy figures' : ''}`);

    // --- GET workloads (wrk) ---------------------------------------------------------------
    // every workload visits every server once per round; a server's figure is its best round
    // (noise on a shared machine only ever slows a run down), all rounds are in the notes
    const gets: Record<string, Map<Stack, WrkResult[]>> = {};
    const getWorkloads: Array<{ key: string; file: (t: Target) => string }> = [
      { key: 'timestamp', file: (t) => `/v2/${t.small.gun}/_trust/tuf/timestamp.json` },
      { key: 'targets-small', file: (t) => `/v2/${t.small.gun}/_trust/tuf/targets.json` },
      { key: 'targets-large', file: (t) => `/v2/${t.large.gun}/_trust/tuf/targets.json` },
    ];
    for (const w of getWorkloads) {
      const results = new Map<Stack, WrkResult[]>(order.map((stack) => [stack, []]));
      for (let round = 1; round <= opts.rounds; round++) {
        say(`GET ${w.key}, round ${round}/${opts.rounds} (wrk -t1 -c${opts.connections} -d${opts.durationS}s${opts.wrkCpus ? `, pinned to CPU ${opts.wrkCpus}` : ''})`);
        for (const stack of order) {
          const r = await runWrk({ url: `${stack.urls[0]}${w.file(byStack(stack))}`, connections: opts.connections, durationS: opts.durationS, cpus: opts.wrkCpus });
          say(`  ${stack.label}: ${r.error ? `FAILED (${r.error})` : `${Math.round(r.requestsPerSec)} req/s, p99 ${r.latency.p99.toFixed(1)} ms`}`);
          (results.get(stack) as WrkResult[]).push(r);
        }
      }
      gets[w.key] = results;
    }

    notePhase('GETs');

    // --- scale-out: one vouch process vs two on one PostgreSQL ----------------------------
    // the same load generator both times (two wrk processes with half the connections each),
    // so the only difference is the number of server processes answering
    const half = Math.max(1, Math.floor(opts.connections / 2));
    const tsPath = `/v2/${byStack(vouchPg).small.gun}/_trust/tuf/timestamp.json`;
    const pairRun = async (urls: [string, string], what: string): Promise<Figure> => {
      const rs = await Promise.all(urls.map((u) => runWrk({ url: `${u}${tsPath}`, connections: half, durationS: opts.durationS, cpus: opts.wrkCpus })));
      const error = rs.map((r) => r.error).filter((e) => e !== undefined).join('; ');
      const rate = rs.reduce((a, r) => a + r.requestsPerSec, 0);
      say(`  ${what}: ${error ? `FAILED (${error})` : `${Math.round(rate)} req/s`}`);
      return error ? { value: 0, error } : { value: rate };
    };
    const oneRounds: Figure[] = [];
    const twoRounds: Figure[] = [];
    for (let round = 1; round <= opts.rounds; round++) {
      say(`scale-out: GET timestamp.json, one vs two vouch processes on one PostgreSQL, round ${round}/${opts.rounds}`);
      oneRounds.push(await pairRun([vouchPg.urls[0] as string, vouchPg.urls[0] as string], 'one process'));
      twoRounds.push(await pairRun([vouchPg.urls[0] as string, second.url], 'two processes'));
    }
    const bestOf = (figures: Figure[]): Figure => {
      const failed = figures.find((f) => f.error);
      if (failed) return failed;
      const best = Math.max(...figures.map((f) => f.value));
      return { value: best, detail: `2 wrk x ${half} connections; rounds ${figures.map((f) => Math.round(f.value)).join(', ')} req/s` };
    };
    const oneProcess = bestOf(oneRounds);
    const twoProcesses = bestOf(twoRounds);

    // --- publishing: direct POST, interleaved across servers -------------------------------
    say(`publish one tag by direct POST, ${opts.postRuns} runs each (signing is client work, not timed)`);
    const posts: Record<'small' | 'large', Map<Stack, number[]>> = { small: new Map(), large: new Map() };
    const postFailures = new Map<Stack, string[]>();
    for (const stack of order) {
      posts.small.set(stack, []);
      posts.large.set(stack, []);
      postFailures.set(stack, []);
    }
    for (let i = 0; i < opts.postRuns; i++) {
      for (const size of ['small', 'large'] as const) {
        for (const stack of order) {
          const repo = byStack(stack)[size];
          try {
            (posts[size].get(stack) as number[]).push(await repo.post(repo.prepareNextTag()));
          } catch (e) {
            (postFailures.get(stack) as string[]).push((e as Error).message.slice(0, 200));
          }
        }
      }
    }
    for (const stack of order) {
      const t = byStack(stack);
      await t.small.verifyServed();
      await t.large.verifyServed();
    }
    notePhase('POSTs');

    // --- scale-out: a publish through A is read at once through B --------------------------
    say('scale-out: publish through process A, read through process B at once');
    const vpg = byStack(vouchPg).small;
    let stale = 0;
    const consistencyRounds = 20;
    for (let i = 0; i < consistencyRounds; i++) {
      await vpg.post(vpg.prepareNextTag());
      const seen = await vpg.fetch('targets', clientB);
      if (!seen.equals(vpg.lastTargets)) stale++;
    }
    await vpg.verifyServed(clientB);
    say(`  ${stale} of ${consistencyRounds} immediate reads through B were stale`);

    // --- publishing end to end with the real notary CLI ------------------------------------
    say(`publish one tag end to end with the notary CLI (addhash -p), 1 warm-up + ${opts.cliRuns} runs each`);
    const cli: Record<'small' | 'large', Map<Stack, { samples: number[]; failures: string[] }>> = { small: new Map(), large: new Map() };
    const env = { ...process.env, NOTARY_ROOT_PASSPHRASE: 'unused-root', NOTARY_TARGETS_PASSPHRASE: 'unused-targets', NOTARY_SNAPSHOT_PASSPHRASE: 'unused-snapshot' };
    for (const size of ['small', 'large'] as const) {
      const spec: RepoSpec = size === 'small' ? smallSpec : largeSpec;
      const trustDirs = new Map<Stack, string>();
      for (const stack of order) {
        const dir = path.join(workDir, 'trust', stack.label.replace(/[^a-zA-Z0-9]+/g, '-'), size);
        PublishedRepo.writeNotaryKeys(spec, dir);
        trustDirs.set(stack, dir);
        cli[size].set(stack, { samples: [], failures: [] });
      }
      for (let i = 0; i <= opts.cliRuns; i++) {
        for (const stack of order) {
          const args = ['-s', stack.urls[0] as string, '--tlscacert', pki.caCert, '-d', trustDirs.get(stack) as string];
          const digest = crypto.createHash('sha256').update(`cli-${size}-${i}`).digest('hex');
          const started = process.hrtime.bigint();
          const r = await run('notary', [...args, 'addhash', spec.gun, `cli-${size}-${i}`, '4321', '--sha256', digest, '-p'], { env, timeoutMs: 120_000 });
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          const entry = cli[size].get(stack) as { samples: number[]; failures: string[] };
          if (r.code !== 0 || !/Successfully published/.test(r.stdout)) entry.failures.push(`notary exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`.slice(0, 200));
          else if (i > 0) entry.samples.push(ms); // run 0 is the warm-up (first download, trust on first use)
        }
      }
    }

    // --- memory ------------------------------------------------------------------------------
    notePhase('CLI publishes');
    const rss = new Map<Stack, { server: number; signer: number }>();
    for (const stack of order) {
      rss.set(stack, { server: memoryStatus((stack.servers[0] as Service).pid).peakRss / MB, signer: memoryStatus(stack.signer.pid).peakRss / MB });
    }
    const rssB = memoryStatus(second.server.pid).peakRss / MB;
    const phaseDetail = (stack: Stack) => `peak after ${phases.map((ph) => `${ph.phase} ${(ph.peak.get(stack) as number).toFixed(0)}`).join(', ')} MB`;

    // --- the table ---------------------------------------------------------------------------
    const pairs: Array<{ ours: Stack; theirs: Stack; pair: string }> = [
      { ours: vouchSqlite, theirs: notaryMem, pair: 'vouch SQLite vs notary memory' },
      { ours: vouchPg, theirs: notaryPg, pair: 'vouch PostgreSQL vs notary PostgreSQL' },
    ];
    const rows: Row[] = [];
    const getNames: Record<string, string> = {
      timestamp: 'GET timestamp.json',
      'targets-small': `GET targets.json (${opts.smallTags} tags)`,
      'targets-large': `GET targets.json (${opts.largeTags.toLocaleString('en-US')} tags)`,
    };
    for (const w of getWorkloads) {
      for (const p of pairs) {
        const m = gets[w.key] as Map<Stack, WrkResult[]>;
        const row: Row = { workload: getNames[w.key] as string, unit: 'req/s', pair: p.pair, better: 'higher', ours: wrkFigure(m.get(p.ours) as WrkResult[]), theirs: wrkFigure(m.get(p.theirs) as WrkResult[]) };
        if (w.key === 'timestamp') {
          const need = p.ours === vouchSqlite ? 2 : 10;
          row.goal = { text: `>= ${need}x`, check: (_o, _t, r) => r !== null && r >= need };
        }
        rows.push(row);
      }
    }
    const noWorse = { text: 'no slower', check: (_o: number, _t: number | null, r: number | null) => r !== null && r >= 1 };
    for (const size of ['small', 'large'] as const) {
      const tags = size === 'small' ? `${opts.smallTags}` : opts.largeTags.toLocaleString('en-US');
      for (const p of pairs) {
        rows.push({
          workload: `publish 1 tag into ${tags} (POST, median)`,
          unit: 'ms',
          pair: p.pair,
          better: 'lower',
          ours: msFigure(posts[size].get(p.ours) as number[], postFailures.get(p.ours) as string[]),
          theirs: msFigure(posts[size].get(p.theirs) as number[], postFailures.get(p.theirs) as string[]),
          goal: noWorse,
        });
      }
    }
    for (const size of ['small', 'large'] as const) {
      const tags = size === 'small' ? `${opts.smallTags}` : opts.largeTags.toLocaleString('en-US');
      for (const p of pairs) {
        const o = cli[size].get(p.ours) as { samples: number[]; failures: string[] };
        const t = cli[size].get(p.theirs) as { samples: number[]; failures: string[] };
        rows.push({
          workload: `publish 1 tag into ${tags} (notary CLI, median)`,
          unit: 'ms',
          pair: p.pair,
          better: 'lower',
          ours: msFigure(o.samples, o.failures),
          theirs: msFigure(t.samples, t.failures),
          goal: noWorse,
        });
      }
    }
    for (const p of pairs) {
      const o = rss.get(p.ours) as { server: number; signer: number };
      const t = rss.get(p.theirs) as { server: number; signer: number };
      rows.push({
        workload: 'server peak RSS (VmHWM, whole run)',
        unit: 'MB',
        pair: p.pair,
        better: 'lower',
        ours: { value: o.server, detail: `${phaseDetail(p.ours)}; signer ${o.signer.toFixed(0)} MB` },
        theirs: { value: t.server, detail: `${phaseDetail(p.theirs)}; signer ${t.signer.toFixed(0)} MB` },
        goal: { text: '< 150 MB', check: (ours) => ours < 150 },
      });
    }
    rows.push({
      workload: 'GET timestamp.json, two vouch processes on one PostgreSQL',
      unit: 'req/s',
      pair: 'two processes vs one (same load)',
      better: 'higher',
      ours: twoProcesses,
      theirs: null,
      note: `one process: ${oneProcess.error ? `failed: ${oneProcess.error}` : `${Math.round(oneProcess.value).toLocaleString('en-US')} req/s`} (ratio ${!oneProcess.error && !twoProcesses.error && oneProcess.value > 0 ? (twoProcesses.value / oneProcess.value).toFixed(2) : '—'}x); process B peak RSS ${rssB.toFixed(0)} MB; ${stale}/${consistencyRounds} reads through B right after a publish through A were stale`,
    });

    const busyAfter = await cpuBusyPercent(2000);
    const machine = describeMachine();
    const elapsed = Math.round((Date.now() - t0) / 1000);
    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    process.stdout.write(`\n${textTable(rows)}\n\n`);
    const sizeLine = (label: string) => {
      const s = sizes[label];
      const l = sizes[`${label} large`];
      return s && l ? `${label}: timestamp ${s.timestamp} B, snapshot ${s.snapshot} B, targets ${s.targets} B / ${l.targets} B` : '';
    };
    const section = [
      '## Latest results',
      '',
      `- command: \`${command}\` (${elapsed} s)`,
      `- date: ${date}`,
      `- machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memory} memory, ${machine.kernel}, node ${machine.node}`,
      `- load: wrk -t1 -c${opts.connections} -d${opts.durationS}s over TLS to 127.0.0.1, ${opts.rounds} round(s) per server and workload (best reported), ${opts.wrkCpus ? `wrk pinned to CPU ${opts.wrkCpus} with taskset` : 'nothing pinned'}; publishes: ${opts.postRuns} direct POSTs and ${opts.cliRuns} notary CLI runs per server and size (medians)`,
      `- machine idle? CPU busy ${busyBefore.toFixed(0)}% before the load and ${busyAfter.toFixed(0)}% after it (2 s samples, all servers idle)${Math.max(busyBefore, busyAfter) > 10 ? ': other work was running, so the figures are noisy' : ''}`,
      `- sizes served at the start: ${order.map((s) => sizeLine(s.label)).join('; ')}`,
      '- ratio: vouch over notary-server for rates, notary-server over vouch for times and memory: above 1 means vouch is better',
      '',
      markdownTable(rows),
      '',
    ].join('\n');
    if (opts.doc) {
      writeGeneratedSection(opts.doc, section);
      say(`wrote ${path.relative(process.cwd(), opts.doc)}`);
    }
    const missed = rows.filter((r) => r.goal && !r.goal.check(r.ours.value, r.theirs ? r.theirs.value : null, ratioOf(r)));
    say(`done in ${elapsed} s; ${missed.length === 0 ? 'every goal met' : `goals not met: ${missed.map((r) => `${r.workload} (${r.pair})`).join('; ')}`}`);
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
