/**
 * wrk runs: one thread, a fixed number of connections, a fixed duration, over TLS. The output is
 * parsed for the request rate, latency percentiles and anything that makes the figure invalid
 * (non-2xx answers, socket errors): a run with errors is reported as failed, never as a rate.
 */
import { spawn } from 'node:child_process';

export interface WrkOptions {
  url: string;
  connections: number;
  durationS: number;
  /** CPU list for taskset (e.g. "1"); no pinning when absent */
  cpus?: string;
}

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  /** ms */
  latency: { p50: number; p99: number; max: number };
  transferPerSec: string;
  /** why the rate must not be trusted, when it must not */
  error?: string;
  raw: string;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  switch (unit) {
    case 'us':
      return v / 1000;
    case 'ms':
      return v;
    case 's':
      return v * 1000;
    case 'm':
      return v * 60_000;
    default:
      return NaN;
  }
}

export function parseWrkOutput(raw: string): WrkResult {
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(raw);
  const total = /(\d+) requests in/.exec(raw);
  const transfer = /Transfer\/sec:\s+(\S+)/.exec(raw);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(raw);
    return m ? toMs(m[1] as string, m[2] as string) : NaN;
  };
  const max = /Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)/.exec(raw);
  const problems: string[] = [];
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(raw);
  if (non2xx) problems.push(`${non2xx[1]} non-2xx answers`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  if (sock && sock.slice(1).some((n) => Number(n) > 0)) problems.push(`socket errors (${sock[0].replace('Socket errors: ', '')})`);
  if (!rate || !total) problems.push('no rate in wrk output');
  return {
    requestsPerSec: rate ? Number(rate[1]) : 0,
    requests: total ? Number(total[1]) : 0,
    latency: { p50: pct('50'), p99: pct('99'), max: max ? toMs(max[1] as string, max[2] as string) : NaN },
    transferPerSec: transfer ? (transfer[1] as string) : '',
    error: problems.length > 0 ? problems.join('; ') : undefined,
    raw,
  };
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const wrkArgs = ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--timeout', '5s', '--latency', o.url];
  const [cmd, args] = o.cpus ? ['taskset', ['-c', o.cpus, 'wrk', ...wrkArgs]] : ['wrk', wrkArgs];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    // wrk stops itself after the duration; this only guards against a hang
    const guard = setTimeout(() => child.kill('SIGKILL'), (o.durationS + 30) * 1000);
    child.on('error', (e) => {
      clearTimeout(guard);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(guard);
      const r = parseWrkOutput(out);
      if (code !== 0) r.error = `wrk exited with ${code}${r.error ? `; ${r.error}` : ''}`;
      resolve(r);
    });
  });
}
