/**
 * Passphrases for the private keys of the trust dir (spec 5.3).
 *
 * A key is asked for by its alias: its role (`root`, `targets`, `snapshot`) or, for delegation
 * keys, the role header it carries (`targets/releases`, or a Docker signer name such as `alice`).
 * Sources, in order:
 *   1. VOUCH_<ALIAS>_PASSPHRASE, then NOTARY_<ALIAS>_PASSPHRASE, for root, targets and snapshot;
 *   2. VOUCH_DELEGATION_PASSPHRASE, then NOTARY_DELEGATION_PASSPHRASE, for any alias that is not
 *      a base role (as notary: a delegation key may be named by a signer name);
 *   3. Docker's DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE (root) and
 *      DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE (every other alias);
 *   4. a hidden prompt, only when stdin is a terminal: at least 8 characters, confirmation for a
 *      new key, three attempts.
 * With no variable and no terminal the request fails at once with a clear message: never hang.
 * A passphrase is never printed or logged.
 */
import { isBaseRole } from '../tuf/roles';
import { CliError } from './output';

export interface PassphraseRequest {
  /** the key's role or role header */
  alias: string;
  /** canonical key ID, for the prompt text */
  keyId: string;
  gun?: string;
  /** a new key: ask twice */
  createNew: boolean;
  /** 0 on the first request for this key; > 0 after a wrong passphrase */
  attempt: number;
}

export type PassphraseSource = (req: PassphraseRequest) => Promise<string>;

export const MIN_PASSPHRASE_LENGTH = 8;
export const MAX_ATTEMPTS = 3;

type Env = Record<string, string | undefined>;

/** The environment variables consulted for an alias, in order. */
export function passphraseVariables(alias: string): string[] {
  const base = ['root', 'targets', 'snapshot'];
  const out: string[] = [];
  if (base.includes(alias)) {
    const up = alias.toUpperCase();
    out.push(`VOUCH_${up}_PASSPHRASE`, `NOTARY_${up}_PASSPHRASE`);
  } else if (!isBaseRole(alias)) {
    out.push('VOUCH_DELEGATION_PASSPHRASE', 'NOTARY_DELEGATION_PASSPHRASE');
  }
  // timestamp keys are never local; it has no variable, as in notary
  if (alias === 'root') out.push('DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE');
  else if (alias !== 'timestamp') out.push('DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE');
  return out;
}

/** The passphrase the environment holds for an alias, and the variable it came from. */
export function envPassphrase(alias: string, env: Env): { value: string; variable: string } | null {
  for (const v of passphraseVariables(alias)) {
    const value = env[v];
    if (value !== undefined && value !== '') return { value, variable: v };
  }
  return null;
}

export interface TerminalInput {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  removeListener(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface TerminalOutput {
  write(s: string): unknown;
}

const MAX_INPUT = 1024;

/** Read one line without echo from a raw-mode terminal. Ctrl-C and Ctrl-D cancel. */
export function readHidden(input: TerminalInput, output: TerminalOutput, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(prompt);
    let value = '';
    const wasRaw = typeof input.setRawMode === 'function';
    if (wasRaw) input.setRawMode?.(true);
    const finish = (err: Error | null) => {
      input.removeListener('data', onData);
      if (wasRaw) input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') return finish(null);
        if (ch === '\u0003' || ch === '\u0004') return finish(new CliError('KEYS', 'passphrase entry cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
        if (value.length > MAX_INPUT) return finish(new CliError('USAGE', 'passphrase too long'));
      }
      return undefined;
    };
    input.on('data', onData);
    input.resume();
  });
}

export interface PassphraseOptions {
  env?: Env;
  input?: TerminalInput;
  output?: TerminalOutput;
}

function describeKey(req: PassphraseRequest): string {
  const id = req.keyId.slice(0, 7);
  return req.gun ? `${req.alias} key with ID ${id} (${req.gun})` : `${req.alias} key with ID ${id}`;
}

/**
 * The passphrase source of the CLI: environment first, then a terminal prompt. Prompted
 * passphrases are remembered per alias for the rest of the command, as notary does.
 */
export function makePassphraseSource(opts: PassphraseOptions = {}): PassphraseSource {
  const env = opts.env ?? process.env;
  const input = opts.input ?? (process.stdin as unknown as TerminalInput);
  const output = opts.output ?? process.stderr;
  const remembered = new Map<string, string>();

  return async (req) => {
    const fromEnv = envPassphrase(req.alias, env);
    if (fromEnv) {
      if (req.attempt > 0) {
        throw new CliError('KEYS', `the passphrase in ${fromEnv.variable} does not decrypt the ${describeKey(req)}`);
      }
      return fromEnv.value;
    }
    if (req.attempt === 0 && !req.createNew) {
      const known = remembered.get(req.alias);
      if (known !== undefined) return known;
    }
    if (req.attempt >= MAX_ATTEMPTS) {
      throw new CliError('KEYS', `wrong passphrase for the ${describeKey(req)}: too many attempts`);
    }
    if (!input.isTTY) {
      const vars = passphraseVariables(req.alias).filter((v) => !v.startsWith('DOCKER_'));
      throw new CliError(
        'KEYS',
        `a passphrase is needed for the ${describeKey(req)} and stdin is not a terminal: ` +
          (vars.length > 0 ? `set ${vars.join(' or ')}` : 'this key has no passphrase variable; use a terminal'),
      );
    }
    for (let tries = 0; tries < MAX_ATTEMPTS; tries++) {
      const verb = req.createNew ? 'Enter passphrase for new' : 'Enter passphrase for';
      const first = (await readHidden(input, output, `${verb} ${describeKey(req)}: `)).trim();
      if (req.createNew) {
        if (first.length < MIN_PASSPHRASE_LENGTH) {
          output.write(`Passphrase is too short. Please use a passphrase of at least ${MIN_PASSPHRASE_LENGTH} characters.\n`);
          continue;
        }
        const again = (await readHidden(input, output, `Repeat passphrase for new ${describeKey(req)}: `)).trim();
        if (again !== first) {
          output.write('Passphrases do not match. Please retry.\n');
          continue;
        }
      } else if (first.length === 0) {
        output.write('Passphrase is empty. Please retry.\n');
        continue;
      }
      remembered.set(req.alias, first);
      return first;
    }
    throw new CliError('KEYS', `no usable passphrase for the ${describeKey(req)} after ${MAX_ATTEMPTS} attempts`);
  };
}

/** A source for tests and pipelines: fixed passphrases per alias, never prompting. */
export function fixedPassphrases(byAlias: Record<string, string>): PassphraseSource {
  return async (req) => {
    const v = byAlias[req.alias] ?? (!isBaseRole(req.alias) ? byAlias.delegation : undefined);
    if (v === undefined) throw new CliError('KEYS', `no passphrase for the ${req.alias} key`);
    if (req.attempt > 0) throw new CliError('KEYS', `wrong passphrase for the ${req.alias} key`);
    return v;
  };
}
