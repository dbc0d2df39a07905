/**
 * The trust dir's metadata cache (spec 5.1): `<trustDir>/tuf/<GUN>/metadata/<role>.json`, the
 * exact bytes downloaded, delegations as nested paths (`targets/releases.json`), directories
 * 0700 and files 0600, the same layout the notary client reads and writes.
 *
 * The GUN becomes a relative path, so it is checked first: no empty, `.` or `..` segments, no
 * absolute paths, no backslashes or control characters; and every path is confirmed to stay
 * inside `<trustDir>/tuf/`.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LIMITS } from '../tuf';
import { isValidGun, isValidRole } from '../tuf/roles';

export type CacheErrorCode =
  | 'CACHE_GUN' // a GUN that cannot be a path under the trust dir
  | 'CACHE_ROLE' // not a role name
  | 'CACHE_TOO_LARGE' // a cached file larger than the caller's bound
  | 'CACHE_IO'; // the file system refused

export class CacheError extends Error {
  readonly code: CacheErrorCode;
  constructor(code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CacheError';
    this.code = code;
  }
}

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

function checkGun(gun: string): void {
  if (!isValidGun(gun) || gun.startsWith('/') || path.isAbsolute(gun)) {
    throw new CacheError('CACHE_GUN', `GUN ${JSON.stringify(gun.slice(0, 300))} cannot be used as a trust dir path`);
  }
}

function checkRole(role: string): void {
  if (!isValidRole(role)) throw new CacheError('CACHE_ROLE', `invalid role ${JSON.stringify(role.slice(0, 300))}`);
}

/** Resolve `rel` under `base` and prove it stays there. */
function inside(base: string, ...rel: string[]): string {
  const p = path.resolve(base, ...rel);
  const b = path.resolve(base);
  if (p !== b && !p.startsWith(b + path.sep)) throw new CacheError('CACHE_GUN', `path ${p} escapes ${b}`);
  return p;
}

/**
 * `<trustDir>/tuf/<GUN>`: the repository's folder (metadata and changelist). Exported for the
 * changelist, which lives next to the metadata.
 */
export function repositoryDir(trustDir: string, gun: string): string {
  checkGun(gun);
  return inside(path.join(trustDir, 'tuf'), ...gun.split('/'));
}

/** Create a directory chain with mode 0700 (existing directories are left as they are). */
export function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  } catch (e) {
    throw new CacheError('CACHE_IO', `cannot create ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/** Write a file atomically with mode 0600: a temp file in the same folder, then rename. */
export function writePrivateFile(file: string, bytes: Uint8Array): void {
  ensurePrivateDir(path.dirname(file));
  const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, FILE_MODE);
    try {
      fs.writeSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new CacheError('CACHE_IO', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** The metadata cache of one trust dir. */
export class MetadataCache {
  readonly trustDir: string;

  constructor(trustDir: string) {
    this.trustDir = path.resolve(trustDir);
  }

  /** `<trustDir>/tuf/<GUN>/metadata` */
  metadataDir(gun: string): string {
    return path.join(repositoryDir(this.trustDir, gun), 'metadata');
  }

  /** The file of a role: `root.json`, `targets/releases.json`. */
  file(gun: string, role: string): string {
    checkRole(role);
    return inside(this.metadataDir(gun), ...`${role}.json`.split('/'));
  }

  /**
   * The cached bytes of a role, or null when there are none. A file larger than `maxBytes`, or
   * one that is not a regular file, is an error: the caller decides whether that is fatal (a
   * cached root is the trust anchor, so it must never silently disappear).
   */
  read(gun: string, role: string, maxBytes: number = LIMITS.maxMetadataBytes): Buffer | null {
    const file = this.file(gun, role);
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw new CacheError('CACHE_IO', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new CacheError('CACHE_IO', `${file} is not a regular file`);
      if (st.size > maxBytes) throw new CacheError('CACHE_TOO_LARGE', `${file} is ${st.size} bytes, more than the ${maxBytes} allowed`);
      const buf = Buffer.alloc(st.size);
      let off = 0;
      while (off < buf.length) {
        const n = fs.readSync(fd, buf, off, buf.length - off, off);
        if (n === 0) break;
        off += n;
      }
      return buf.subarray(0, off);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Store exact bytes for a role (0600, atomically). */
  write(gun: string, role: string, bytes: Uint8Array): void {
    writePrivateFile(this.file(gun, role), bytes);
  }

  /** Forget one role's cached file. */
  remove(gun: string, role: string): void {
    try {
      fs.rmSync(this.file(gun, role), { force: true });
    } catch (e) {
      throw new CacheError('CACHE_IO', `cannot remove cached ${role}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Forget every cached file of the GUN (its `metadata/` folder). Keys and the changelist are
   * untouched. (The notary layout nests GUNs as folders, so a GUN whose path segment is itself
   * `metadata` would share this folder; such GUNs cannot be told apart by any notary client.)
   */
  removeAll(gun: string): void {
    try {
      fs.rmSync(this.metadataDir(gun), { recursive: true, force: true });
    } catch (e) {
      throw new CacheError('CACHE_IO', `cannot remove cached metadata of ${gun}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The roles that have a cached file, base roles and delegations, sorted. */
  roles(gun: string): string[] {
    const base = this.metadataDir(gun);
    const out: string[] = [];
    const walk = (dir: string, prefix: string, depth: number) => {
      if (depth > LIMITS.maxDelegationDepth + 1) return;
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.isDirectory()) walk(path.join(dir, e.name), `${prefix}${e.name}/`, depth + 1);
        else if (e.isFile() && e.name.endsWith('.json')) {
          const role = prefix + e.name.slice(0, -'.json'.length);
          if (isValidRole(role)) out.push(role);
        }
      }
    };
    walk(base, '', 0);
    return out.sort();
  }
}
