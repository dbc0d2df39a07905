/**
 * Staged changes of a repository (spec 5.4), in notary's own files so that notary and vouch can
 * share one trust dir: `<trustDir>/tuf/<GUN>/changelist/<%020d Unix ns>_<uuid>.change`, each
 * holding Go encoding/json of `{"action","role","type","path","data"}` with `data` the base64 of
 * a JSON document (or null). Applied in file-name order; cleared after a successful publish.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareUtf8, isJsonObject, JsonObject, JsonValue, parseJson } from '../tuf/canonical';
import { decodeBase64Strict, parsePublicKey, PublicKey } from '../tuf/keys';
import { repositoryDir } from './cache';
import { CliError } from './output';

export type ChangeAction = 'create' | 'update' | 'delete';
export type ChangeType = 'target' | 'delegation' | 'role' | 'witness';

export interface Change {
  action: ChangeAction;
  /** the role the change applies to: targets, a delegation, a wildcard `targets/*`, or root */
  scope: string;
  type: ChangeType;
  /** the target name for target changes; empty otherwise */
  path: string;
  /** the decoded `data`: a JSON document, or null */
  content: Buffer | null;
}

/** A change as read from disk, with its file name. */
export interface StoredChange extends Change {
  file: string;
}

const ACTIONS: readonly string[] = ['create', 'update', 'delete'];
const TYPES: readonly string[] = ['target', 'delegation', 'role', 'witness'];

/** bounds on what we read back from a trust dir */
const MAX_CHANGE_BYTES = 16 * 1024 * 1024;
const MAX_CHANGES = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Go encoding/json

/** A string as Go's encoding/json writes it (HTML-safe, lowercase hex, \ufffd for lone surrogates). */
export function goString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s[i] + (s[i + 1] as string);
        i++;
      } else out += '\\ufffd';
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += '\\ufffd';
      continue;
    }
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      default:
        if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
          out += '\\u' + c.toString(16).padStart(4, '0');
        } else out += s[i];
    }
  }
  return out + '"';
}

/**
 * Go's json.Marshal of a value. Object members in the order given (Go structs have a fixed
 * order; maps are sorted, so callers sort map-like objects with `sortKeys`).
 */
export function goMarshal(v: JsonValue | undefined, sortKeys = false): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new CliError('USAGE', 'JSON cannot hold a non-finite number');
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return goString(v);
  if (Array.isArray(v)) return '[' + v.map((x) => goMarshal(x, sortKeys)).join(',') + ']';
  const keys = Object.keys(v);
  if (sortKeys) keys.sort(compareUtf8);
  return '{' + keys.map((k) => goString(k) + ':' + goMarshal(v[k], sortKeys)).join(',') + '}';
}

// ---------------------------------------------------------------------------------------------
// Change contents

export interface TargetMeta {
  length: number;
  hashes: Record<string, Buffer>;
  custom?: JsonValue;
}

/** `data` of a target create: Go's FileMeta {length, hashes, custom?}. */
export function targetContent(meta: TargetMeta): Buffer {
  const hashes: JsonObject = {};
  for (const alg of Object.keys(meta.hashes).sort(compareUtf8)) hashes[alg] = (meta.hashes[alg] as Buffer).toString('base64');
  // custom is written with sorted keys, so that notary's signer (which embeds it verbatim) makes
  // a signature that verifies (spec 2.2)
  const custom = meta.custom !== undefined && meta.custom !== null ? ',"custom":' + goMarshal(meta.custom, true) : '';
  return Buffer.from(`{"length":${meta.length},"hashes":${goMarshal(hashes)}${custom}}`, 'utf8');
}

export function parseTargetContent(content: Buffer | null): TargetMeta {
  if (!content) throw new CliError('ERROR', 'target change without content');
  const v = parseJson(content, MAX_CHANGE_BYTES);
  if (!isJsonObject(v) || typeof v.length !== 'number' || !Number.isSafeInteger(v.length) || v.length < 0 || !isJsonObject(v.hashes)) {
    throw new CliError('ERROR', 'target change content is not file meta');
  }
  const hashes: Record<string, Buffer> = {};
  for (const [alg, h] of Object.entries(v.hashes)) {
    if (typeof h !== 'string') throw new CliError('ERROR', `target change hash ${alg} is not a string`);
    hashes[alg] = decodeBase64Strict(h, `hash ${alg}`);
  }
  const meta: TargetMeta = { length: v.length, hashes };
  if (v.custom !== undefined && v.custom !== null) meta.custom = v.custom;
  return meta;
}

export interface DelegationChange {
  newName?: string;
  threshold?: number;
  addKeys?: PublicKey[];
  /** canonical key IDs */
  removeKeys?: string[];
  addPaths?: string[];
  removePaths?: string[];
  clearPaths?: boolean;
}

function keyJsonGo(k: PublicKey): string {
  // Go's TUFKey: keytype, then keyval {public, private}
  return `{"keytype":${goString(k.keytype)},"keyval":{"public":${goString(k.publicB64)},"private":null}}`;
}

/** `data` of a delegation change: Go's TUFDelegation, every member omitted when empty. */
export function delegationContent(d: DelegationChange): Buffer {
  const parts: string[] = [];
  if (d.newName) parts.push(`"new_name":${goString(d.newName)}`);
  if (d.threshold) parts.push(`"threshold":${d.threshold}`);
  if (d.addKeys && d.addKeys.length > 0) parts.push(`"add_keys":[${d.addKeys.map(keyJsonGo).join(',')}]`);
  if (d.removeKeys && d.removeKeys.length > 0) parts.push(`"remove_keys":${goMarshal(d.removeKeys)}`);
  if (d.addPaths && d.addPaths.length > 0) parts.push(`"add_paths":${goMarshal(d.addPaths)}`);
  if (d.removePaths && d.removePaths.length > 0) parts.push(`"remove_paths":${goMarshal(d.removePaths)}`);
  if (d.clearPaths) parts.push('"clear_paths":true');
  return Buffer.from(`{${parts.join(',')}}`, 'utf8');
}

function stringList(v: JsonValue | undefined, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new CliError('ERROR', `delegation change ${what} is not a list of strings`);
  return v as string[];
}

export function parseDelegationContent(content: Buffer | null): DelegationChange {
  if (!content) return {};
  const v = parseJson(content, MAX_CHANGE_BYTES);
  if (!isJsonObject(v)) throw new CliError('ERROR', 'delegation change content is not an object');
  const out: DelegationChange = {};
  if (typeof v.new_name === 'string' && v.new_name) out.newName = v.new_name;
  if (v.threshold !== undefined && v.threshold !== null) {
    if (typeof v.threshold !== 'number' || !Number.isSafeInteger(v.threshold) || v.threshold < 0) throw new CliError('ERROR', 'delegation change threshold is not a count');
    if (v.threshold > 0) out.threshold = v.threshold;
  }
  if (Array.isArray(v.add_keys)) out.addKeys = v.add_keys.map((k) => parsePublicKey(k));
  const rk = stringList(v.remove_keys, 'remove_keys');
  if (rk) out.removeKeys = rk;
  const ap = stringList(v.add_paths, 'add_paths');
  if (ap) out.addPaths = ap;
  const rp = stringList(v.remove_paths, 'remove_paths');
  if (rp) out.removePaths = rp;
  if (v.clear_paths === true) out.clearPaths = true;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files

/** The bytes of a change file, as Go's json.Marshal of notary's TUFChange writes them. */
export function serializeChange(c: Change): Buffer {
  const data = c.content ? goString(c.content.toString('base64')) : 'null';
  return Buffer.from(`{"action":${goString(c.action)},"role":${goString(c.scope)},"type":${goString(c.type)},"path":${goString(c.path)},"data":${data}}`, 'utf8');
}

export function parseChange(bytes: Buffer): Change {
  const v = parseJson(bytes, MAX_CHANGE_BYTES);
  if (!isJsonObject(v)) throw new CliError('ERROR', 'change file is not a JSON object');
  const { action, role, type } = v;
  const p = v.path ?? '';
  if (typeof action !== 'string' || !ACTIONS.includes(action)) throw new CliError('ERROR', `change has an unknown action ${JSON.stringify(action)}`);
  if (typeof role !== 'string') throw new CliError('ERROR', 'change has no role');
  if (typeof type !== 'string' || !TYPES.includes(type)) throw new CliError('ERROR', `change has an unknown type ${JSON.stringify(type)}`);
  if (typeof p !== 'string') throw new CliError('ERROR', 'change path is not a string');
  let content: Buffer | null = null;
  if (v.data !== undefined && v.data !== null) {
    if (typeof v.data !== 'string') throw new CliError('ERROR', 'change data is not base64');
    content = decodeBase64Strict(v.data, 'change data');
  }
  return { action: action as ChangeAction, scope: role, type: type as ChangeType, path: p, content };
}

let lastStamp = 0n;

/** Unix nanoseconds, strictly increasing within this process (file names sort in staging order). */
function nanoStamp(): bigint {
  const wall = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  lastStamp = wall > lastStamp ? wall : lastStamp + 1n;
  return lastStamp;
}

export function changeFileName(stamp: bigint = nanoStamp(), uuid: string = crypto.randomUUID()): string {
  return `${stamp.toString().padStart(20, '0')}_${uuid}.change`;
}

/** The directory of a GUN's local trust data: `<trustDir>/tuf/<GUN as path>` (checked to stay inside). */
export function repoDir(trustDir: string, gun: string): string {
  try {
    return repositoryDir(trustDir, gun);
  } catch (e) {
    throw new CliError('USAGE', (e as Error).message, { cause: e });
  }
}

export class Changelist {
  readonly dir: string;

  constructor(trustDir: string, gun: string) {
    this.dir = path.join(repoDir(trustDir, gun), 'changelist');
  }

  private files(): string[] {
    if (!fs.existsSync(this.dir)) return [];
    const names = fs
      .readdirSync(this.dir, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.change'))
      .map((e) => e.name);
    if (names.length > MAX_CHANGES) throw new CliError('ERROR', `more than ${MAX_CHANGES} staged changes in ${this.dir}`);
    // lexical order = staging order, as Go's sort.Strings of the names
    return names.sort();
  }

  /** Every staged change in order. Unreadable files are an error, never silently skipped. */
  list(): StoredChange[] {
    return this.files().map((name) => {
      const file = path.join(this.dir, name);
      const st = fs.statSync(file);
      if (st.size > MAX_CHANGE_BYTES) throw new CliError('ERROR', `change file ${name} is too large`);
      try {
        return { ...parseChange(fs.readFileSync(file)), file };
      } catch (e) {
        throw new CliError('ERROR', `unreadable change file ${name}: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  /** Stage one change. */
  add(c: Change): string {
    return this.addMany([c])[0] as string;
  }

  /** Stage several changes, in order. */
  addMany(changes: Change[]): string[] {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return changes.map((c) => {
      const file = path.join(this.dir, changeFileName());
      fs.writeFileSync(file, serializeChange(c), { mode: 0o600, flag: 'wx' });
      return file;
    });
  }

  /** Remove the changes at these positions of `list()` (notary's `reset -n`). */
  remove(indices: number[]): number {
    const files = this.files();
    let n = 0;
    for (const i of new Set(indices)) {
      const name = files[i];
      if (name === undefined) throw new CliError('USAGE', `no staged change number ${i}`);
    }
    for (const i of new Set(indices)) {
      fs.rmSync(path.join(this.dir, files[i] as string), { force: true });
      n++;
    }
    return n;
  }

  /** Remove exactly these change files (after a publish applied them). */
  removeFiles(files: string[]): void {
    for (const f of files) fs.rmSync(f, { force: true });
  }

  clear(): void {
    for (const name of this.files()) fs.rmSync(path.join(this.dir, name), { force: true });
  }
}
