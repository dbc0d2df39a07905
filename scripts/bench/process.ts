/**
 * The benchmark's child processes: started with their output in a log file (never held in
 * memory, never mixed into the bench's own output), stopped by pid at the end, and measured
 * through /proc (peak and current resident memory).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';

export interface Service {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** whether the process is still running */
  alive(): boolean;
  /** the last part of its log, for error messages */
  logTail(chars?: number): string;
  /** SIGTERM, then SIGKILL after a grace period */
  stop(): Promise<void>;
}

const started = new Set<Service>();

export function startService(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string }): Service {
  const fd = fs.openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  let exited = false;
  const done = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.once('error', () => undefined);
  const pid = child.pid;
  const service: Service = {
    name,
    pid,
    logFile: opts.logFile,
    alive: () => !exited,
    logTail(chars = 3000) {
      try {
        const text = fs.readFileSync(opts.logFile, 'utf8');
        return text.length > chars ? text.slice(-chars) : text;
      } catch {
        return '';
      }
    },
    async stop() {
      started.delete(service);
      if (exited) return;
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.kill('SIGTERM');
      await done;
      clearTimeout(killer);
    },
  };
  started.add(service);
  return service;
}

/** Stop every service this process started (in reverse order of starting). */
export async function stopAllServices(): Promise<void> {
  for (const s of [...started].reverse()) await s.stop();
}

/** If the bench dies, take its children with it. */
process.once('exit', () => {
  for (const s of started) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export interface MemoryStatus {
  /** peak resident set size since start (VmHWM), bytes */
  peakRss: number;
  /** current resident set size (VmRSS), bytes */
  rss: number;
}

/** VmHWM and VmRSS of a running process, from /proc/<pid>/status. */
export function memoryStatus(pid: number): MemoryStatus {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]) * 1024;
  };
  return { peakRss: kb('VmHWM'), rss: kb('VmRSS') };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function cpuTimes(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** How busy all CPUs were over the next `ms` (0-100), from /proc/stat. */
export async function cpuBusyPercent(ms: number): Promise<number> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  const total = b.total - a.total;
  return total > 0 ? (100 * (b.busy - a.busy)) / total : 0;
}
