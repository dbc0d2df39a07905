/**
 * Small helpers shared by the commands: argument parsing, bounded file and stdin reads, hashing
 * and confirmation questions.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { JsonValue, parseJson } from '../../tuf/canonical';
import { isDelegationName } from '../../tuf/roles';
import { CliError } from '../output';

/** bounds on what commands read */
export const INPUT_LIMITS = {
  /** a --custom JSON file */
  maxCustomBytes: 1024 * 1024,
  /** a PEM key or certificate file */
  maxPemBytes: 256 * 1024,
  /** a payload read from stdin for `verify` */
  maxStdinBytes: 256 * 1024 * 1024,
  /** a payload `verify` echoes after verifying it (held in memory, so the echo is what was verified) */
  maxEchoBytes: 1024 * 1024 * 1024,
  /** lines of a `sign --batch` file */
  maxBatchLines: 1_000_000,
  /** a target name, in bytes */
  maxTargetNameBytes: 4096,
} as const;

/** Cobra-style list flags: repeated and/or comma-separated. */
export function collect(value: string, previous: string[] = []): string[] {
  return previous.concat(value.split(',').map((s) => s.trim()).filter((s) => s !== ''));
}

/** Roles given with -r: `targets` or delegation names. */
export function parseRoles(roles: string[] | undefined): string[] {
  const out = roles && roles.length > 0 ? roles : ['targets'];
  for (const r of out) {
    if (r !== 'targets' && !isDelegationName(r)) {
      throw new CliError('USAGE', `invalid role ${JSON.stringify(r)}: use targets or a delegation targets/... (lower-case [-a-z0-9_/])`);
    }
  }
  return [...new Set(out)];
}

export function parseTargetName(name: string): string {
  if (name.length === 0) throw new CliError('USAGE', 'a target name cannot be empty');
  if (Buffer.byteLength(name) > INPUT_LIMITS.maxTargetNameBytes) throw new CliError('USAGE', 'target name too long');
  if (/[\ud800-\udfff]/.test(name.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) throw new CliError('USAGE', 'target name is not valid UTF-8');
  return name;
}

export function parseNonNegativeInt(v: string, what: string): number {
  if (!/^\d{1,15}$/.test(v)) throw new CliError('USAGE', `${what} must be a non-negative integer, not ${JSON.stringify(v)}`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new CliError('USAGE', `${what} is too large`);
  return n;
}

export function parsePositiveInt(v: string, what: string): number {
  const n = parseNonNegativeInt(v, what);
  if (n < 1) throw new CliError('USAGE', `${what} must be at least 1`);
  return n;
}

export function parseHexDigest(hex: string, bytes: number, what: string): Buffer {
  const h = hex.trim().toLowerCase();
  if (!new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(h)) throw new CliError('USAGE', `${what} must be ${bytes * 2} hex characters`);
  return Buffer.from(h, 'hex');
}

/** `sha256:<64 hex>` (the form Docker prints digests in). */
export function parseSha256Digest(d: string): Buffer {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(d.trim());
  if (!m) throw new CliError('USAGE', `digest must be sha256:<64 hex characters>, not ${JSON.stringify(d.slice(0, 100))}`);
  return Buffer.from((m[1] as string).toLowerCase(), 'hex');
}

/** A Docker tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** `<gun>:<tag>` -> parts; the tag is after the last colon that has no slash after it. */
export function parseImageRef(ref: string): { gun: string; tag: string } | null {
  const i = ref.lastIndexOf(':');
  if (i <= 0 || ref.indexOf('/', i) >= 0) return null;
  const gun = ref.slice(0, i);
  const tag = ref.slice(i + 1);
  if (!TAG_RE.test(tag)) return null;
  return { gun, tag };
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Read a small file with a bound (keys, certificates, custom data). */
export function readBoundedFile(file: string, maxBytes: number, what: string): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new CliError('USAGE', `cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isFile()) throw new CliError('USAGE', `${what} ${file} is not a file`);
  if (st.size > maxBytes) throw new CliError('USAGE', `${what} ${file} is larger than ${maxBytes} bytes`);
  return fs.readFileSync(file);
}

/** The JSON of a --custom file (any JSON value; integers only, as canonical JSON allows). */
export function readCustom(file: string): JsonValue {
  const bytes = readBoundedFile(file, INPUT_LIMITS.maxCustomBytes, 'custom data file');
  try {
    return parseJson(bytes, INPUT_LIMITS.maxCustomBytes);
  } catch (e) {
    throw new CliError('USAGE', `custom data in ${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

export interface FileDigest {
  length: number;
  sha256: Buffer;
  sha512: Buffer;
}

/** Length, sha256 and sha512 of a file, streamed (targets may be large). */
export function hashFile(file: string): Promise<FileDigest> {
  return new Promise((resolve, reject) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      reject(new CliError('USAGE', `cannot read ${file}: ${(e as Error).message}`, { cause: e }));
      return;
    }
    if (!st.isFile()) {
      reject(new CliError('USAGE', `${file} is not a file`));
      return;
    }
    const h256 = crypto.createHash('sha256');
    const h512 = crypto.createHash('sha512');
    let length = 0;
    fs.createReadStream(file)
      .on('data', (chunk: Buffer | string) => {
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        length += b.length;
        h256.update(b);
        h512.update(b);
      })
      .on('error', (e) => reject(new CliError('USAGE', `cannot read ${file}: ${e.message}`, { cause: e })))
      .on('end', () => resolve({ length, sha256: h256.digest(), sha512: h512.digest() }));
  });
}

/** All of stdin, up to a bound. */
export function readStdin(maxBytes: number = INPUT_LIMITS.maxStdinBytes): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (c: Buffer) => {
      total += c.length;
      if (total > maxBytes) {
        process.stdin.removeListener('data', onData);
        process.stdin.pause();
        reject(new CliError('USAGE', `stdin is larger than ${maxBytes} bytes: use -i <file>`));
        return;
      }
      chunks.push(c);
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.once('error', reject);
    process.stdin.resume();
  });
}

/**
 * Ask a yes/no question on stdin, as notary does (it reads a line even from a pipe, so
 * `echo yes | vouch ...` works). End of input or anything but yes/y is "no".
 */
export function confirm(question: string, out: { write(s: string): unknown } = process.stderr): Promise<boolean> {
  out.write(`${question} (yes/no) `);
  return new Promise((resolve) => {
    let buf = '';
    const done = (answer: boolean) => {
      process.stdin.removeListener('data', onData);
      process.stdin.removeListener('end', onEnd);
      process.stdin.pause();
      out.write('\n');
      resolve(answer);
    };
    const onData = (c: Buffer) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0 || buf.length > 256) done(/^\s*y(es)?\s*$/i.test(nl >= 0 ? buf.slice(0, nl) : buf));
    };
    const onEnd = () => done(/^\s*y(es)?\s*$/i.test(buf));
    process.stdin.on('data', onData);
    process.stdin.once('end', onEnd);
    process.stdin.resume();
  });
}
