/**
 * Child processes for end-to-end tests: started with captured output, always stopped at the end,
 * and their logs shown when a test needs them.
 */
import { ChildProcess, spawn, SpawnOptions } from 'node:child_process';

export interface Proc {
  child: ChildProcess;
  /** everything written to stdout and stderr so far */
  output(): string;
  /** resolve when the output matches, reject on exit or timeout */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<Proc>();

export function startProcess(cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString();
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    listeners.forEach((l) => l());
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = false;
  child.on('exit', () => {
    exited = true;
    listeners.forEach((l) => l());
  });
  const proc: Proc = {
    child,
    output: () => out,
    waitFor(re, timeoutMs = 30000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timeout waiting for ${re} from ${cmd}; output:\n${out.slice(-4000)}`));
        }, timeoutMs);
        const check = () => {
          if (re.test(out)) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve();
          } else if (exited) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(new Error(`${cmd} exited (${child.exitCode}) before ${re}; output:\n${out.slice(-4000)}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
    stop() {
      running.delete(proc);
      if (exited) return Promise.resolve();
      return new Promise((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      });
    },
  };
  running.add(proc);
  return proc;
}

/** Stop every process a test file started (call from afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** Run a command to completion; resolves with exit code and output, never rejects on failure. */
export { run } from '../../scripts/proc-util';
