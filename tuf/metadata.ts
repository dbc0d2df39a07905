/**
 * Metadata models for root, targets (and delegated targets), snapshot and timestamp.
 *
 * A parsed document keeps three things: the exact bytes it came from, the parsed `signed` object
 * with every unknown field, and a typed view for the rules. New documents are built in the field
 * shapes Notary's Go structs have and serialised as Go writes them (spec 2.1, 2.9), so the real
 * notary server and client accept every byte.
 */
import * as crypto from 'node:crypto';
import { canonicalBytes, canonicalString, goJsonString, htmlEscape, isJsonObject, JsonObject, JsonValue, parseDocument } from './canonical';
import { TufError } from './errors';
import { parsePublicKey, PrivateKey, PublicKey, publicKeyJson, sign, Signature } from './keys';
import { LIMITS } from './limits';
import { assertSchema } from './schema';
import { parseRfc3339 } from './time';
import { BASE_ROLES } from './roles';

export type MetadataKind = 'root' | 'targets' | 'snapshot' | 'timestamp';

export const TYPE_NAMES: Record<MetadataKind, string> = {
  root: 'Root',
  targets: 'Targets',
  snapshot: 'Snapshot',
  timestamp: 'Timestamp',
};

export interface RoleKeys {
  keyids: string[];
  threshold: number;
}

export interface FileMeta {
  length: number;
  /** algorithm -> raw digest bytes */
  hashes: Record<string, Buffer>;
  custom?: JsonValue;
}

export interface DelegatedRole extends RoleKeys {
  name: string;
  /** plain string prefixes; "" means every target */
  paths: string[];
}

interface Common {
  version: number;
  /** epoch milliseconds */
  expires: number;
}

export interface RootBody extends Common {
  kind: 'root';
  /** listed key ID -> key (the computed ID may differ; verification then fails hard) */
  keys: Map<string, PublicKey>;
  roles: Map<string, RoleKeys>;
}

export interface TargetsBody extends Common {
  kind: 'targets';
  readonly targets: Map<string, FileMeta>;
  delegationKeys: Map<string, PublicKey>;
  delegations: DelegatedRole[];
}

export interface SnapshotBody extends Common {
  kind: 'snapshot';
  meta: Map<string, FileMeta>;
}

export interface TimestampBody extends Common {
  kind: 'timestamp';
  snapshot: FileMeta;
}

export type Body = RootBody | TargetsBody | SnapshotBody | TimestampBody;
type BodyOf<K extends MetadataKind> = Extract<Body, { kind: K }>;

/** A signed metadata document that carries its original bytes. */
export interface Metadata<B extends Body = Body> {
  readonly body: B;
  /** the parsed `signed` member, unknown fields included */
  readonly signed: JsonObject;
  readonly signatures: Signature[];
  /** the exact bytes (as received, or as we serialised them) */
  readonly bytes: Buffer;
}

export type Root = Metadata<RootBody>;
export type Targets = Metadata<TargetsBody>;
export type Snapshot = Metadata<SnapshotBody>;
export type Timestamp = Metadata<TimestampBody>;

// ---------------------------------------------------------------------------------------------
// Parsing

function toFileMeta(v: JsonValue | undefined): FileMeta {
  if (!isJsonObject(v) || !isJsonObject(v.hashes) || typeof v.length !== 'number') {
    throw new TufError('JSON_TYPE', 'file meta needs hashes and length');
  }
  const hashes: Record<string, Buffer> = {};
  for (const [alg, h] of Object.entries(v.hashes)) {
    if (typeof h !== 'string') throw new TufError('JSON_TYPE', `hash ${alg} is not a string`);
    hashes[alg] = Buffer.from(h, 'base64');
  }
  const meta: FileMeta = { length: v.length, hashes };
  if (v.custom !== undefined && v.custom !== null) meta.custom = v.custom;
  return meta;
}

function toKeys(v: JsonValue | undefined): Map<string, PublicKey> {
  const out = new Map<string, PublicKey>();
  if (!isJsonObject(v)) return out;
  for (const [id, k] of Object.entries(v)) out.set(id, parsePublicKey(k));
  return out;
}

function toRoleKeys(v: JsonValue | undefined, where: string): RoleKeys {
  if (!isJsonObject(v) || !Array.isArray(v.keyids) || typeof v.threshold !== 'number') {
    throw new TufError('JSON_TYPE', `${where} needs keyids and threshold`);
  }
  const keyids = v.keyids.filter((k): k is string => typeof k === 'string');
  return { keyids, threshold: v.threshold };
}

function buildBody(kind: MetadataKind, s: JsonObject): Body {
  const version = s.version as number;
  const expires = parseRfc3339(s.expires as string);
  switch (kind) {
    case 'root': {
      const keys = toKeys(s.keys);
      const roles = new Map<string, RoleKeys>();
      for (const [name, r] of Object.entries(s.roles as JsonObject)) roles.set(name, toRoleKeys(r, `role ${name}`));
      for (const base of BASE_ROLES) {
        const r = roles.get(base);
        if (!r) throw new TufError('JSON_TYPE', `root lacks role ${base}`);
        for (const id of r.keyids) {
          if (!keys.has(id)) throw new TufError('JSON_TYPE', `root role ${base} lists key ${id} that root does not hold`);
        }
      }
      return { kind, version, expires, keys, roles };
    }
    case 'targets': {
      const raw = s.targets as JsonObject;
      let targets: Map<string, FileMeta> | undefined;
      const d = isJsonObject(s.delegations) ? s.delegations : {};
      const delegationKeys = toKeys(d.keys);
      const delegations: DelegatedRole[] = [];
      for (const r of Array.isArray(d.roles) ? d.roles : []) {
        if (!isJsonObject(r) || typeof r.name !== 'string') throw new TufError('JSON_TYPE', 'delegation without a name');
        const paths = Array.isArray(r.paths) ? r.paths.filter((p): p is string => typeof p === 'string') : [];
        delegations.push({ name: r.name, paths, ...toRoleKeys(r, `delegation ${r.name}`) });
      }
      return {
        kind,
        version,
        expires,
        // decoded when first read: the schema has checked every entry, and a publish reads none
        get targets() {
          if (!targets) {
            targets = new Map();
            for (const [name, m] of Object.entries(raw)) targets.set(name, toFileMeta(m));
          }
          return targets;
        },
        delegationKeys,
        delegations,
      };
    }
    case 'snapshot': {
      const meta = new Map<string, FileMeta>();
      for (const [name, m] of Object.entries(s.meta as JsonObject)) meta.set(name, toFileMeta(m));
      return { kind, version, expires, meta };
    }
    case 'timestamp':
      return { kind, version, expires, snapshot: toFileMeta((s.meta as JsonObject).snapshot) };
    default: {
      const never: never = kind;
      throw new TufError('JSON_TYPE', `unknown metadata kind ${String(never)}`);
    }
  }
}

function kindOfType(t: JsonValue | undefined): MetadataKind | null {
  for (const k of Object.keys(TYPE_NAMES) as MetadataKind[]) if (TYPE_NAMES[k] === t) return k;
  return null;
}

/**
 * Parse and shape-check a metadata file. With `kind`, the document must be of that kind;
 * without it, `_type` decides. Throws TufError (JSON_PARSE, JSON_TYPE) on anything malformed.
 */
export function parseMetadata<K extends MetadataKind>(bytes: Buffer, kind: K, maxBytes?: number): Metadata<BodyOf<K>>;
export function parseMetadata(bytes: Buffer, kind?: MetadataKind, maxBytes?: number): Metadata;
export function parseMetadata(bytes: Buffer, kind?: MetadataKind, maxBytes: number = LIMITS.maxMetadataBytes): Metadata {
  const parsed = parseDocument(bytes, maxBytes);
  const doc = parsed.value;
  if (!isJsonObject(doc) || !isJsonObject(doc.signed)) throw new TufError('JSON_TYPE', 'metadata needs a signed object');
  const found = kindOfType(doc.signed._type);
  const k = kind ?? found;
  if (!k) throw new TufError('JSON_TYPE', 'metadata has an unknown _type');
  if (found !== k) throw new TufError('JSON_TYPE', `expected ${TYPE_NAMES[k]} metadata, got _type ${JSON.stringify(doc.signed._type)}`);
  assertSchema(k, doc);
  const signatures = (doc.signatures as JsonObject[]).map((s) => ({
    keyid: s.keyid as string,
    method: s.method as string,
    sig: s.sig as string,
  }));
  const md = { body: buildBody(k, doc.signed), signed: doc.signed, signatures, bytes };
  // a file as Go writes it holds `signed` in canonical form already (unless it has <, > or &)
  const message = parsed.canonicalMember('signed');
  if (message) signedMessages.set(md.signed, message);
  return md;
}

// ---------------------------------------------------------------------------------------------
// Serialising and signing

function q(s: string): string {
  return goJsonString(s);
}

/** The file bytes Go writes for a `signed` object, given as its canonical text, and its signatures. */
function fileBytes(canonicalSigned: string, signatures: Signature[]): Buffer {
  const sigs = signatures.map((s) => `{"keyid":${q(s.keyid)},"method":${q(s.method)},"sig":${q(s.sig)}}`).join(',');
  return Buffer.from(`{"signed":${htmlEscape(canonicalSigned)},"signatures":[${sigs}]}`, 'utf8');
}

/** The file bytes Go writes for a `signed` object and its signatures (spec 2.1). */
export function serializeMetadata(signed: JsonObject, signatures: Signature[]): Buffer {
  return fileBytes(canonicalString(signed), signatures);
}

/** The bytes signatures cover: canonical JSON of `signed` (spec 2.2). */
export function signingBytes(signed: JsonObject): Buffer {
  return canonicalBytes(signed);
}

/** parsed `signed` object -> the bytes its signatures cover */
const signedMessages = new WeakMap<JsonObject, Buffer>();

/**
 * The bytes a parsed document's signatures cover (signingBytes of its `signed`), worked out
 * once per document: taken from the file itself when it holds `signed` in canonical form.
 */
export function signedMessage(md: Metadata): Buffer {
  let m = signedMessages.get(md.signed);
  if (!m) {
    m = signingBytes(md.signed);
    signedMessages.set(md.signed, m);
  }
  return m;
}

export interface SigningKey {
  key: PrivateKey;
  /** the ID the role lists (a certificate ID for root keys); default: the key's own ID */
  keyid?: string;
}

/**
 * Sign a `signed` object with each key, keeping `keep` signatures by other key IDs, and return
 * the finished document.
 */
export function signMetadata<K extends MetadataKind>(kind: K, signed: JsonObject, keys: SigningKey[], keep: Signature[] = []): Metadata<BodyOf<K>> {
  const message = signingBytes(signed);
  const fresh = keys.map(({ key, keyid }) => sign(key, message, keyid ?? key.public.id));
  const ids = new Set(fresh.map((s) => s.keyid));
  return assembleMetadata(kind, message, [...keep.filter((s) => !ids.has(s.keyid)), ...fresh]);
}

/**
 * Assemble a document from the bytes its signatures were made over (signingBytes of its
 * `signed`, so it is not serialised twice) and those signatures, made here or elsewhere (the
 * signer).
 */
export function assembleMetadata<K extends MetadataKind>(kind: K, message: Buffer, signatures: Signature[]): Metadata<BodyOf<K>> {
  return parseMetadata(fileBytes(message.toString('utf8'), signatures), kind);
}

// ---------------------------------------------------------------------------------------------
// Builders: the field shapes of Notary's Go structs (spec 2.9)

export type Hashes = { sha256?: Buffer; sha512?: Buffer };

/** File meta of bytes: length plus sha256 and sha512, as Notary computes for files. */
export function fileMetaOf(bytes: Uint8Array): JsonObject {
  return {
    hashes: {
      sha256: crypto.createHash('sha256').update(bytes).digest('base64'),
      sha512: crypto.createHash('sha512').update(bytes).digest('base64'),
    },
    length: bytes.length,
  };
}

/** File meta from given digests (addhash, docker: sha256 only). */
export function fileMetaJson(length: number, hashes: Hashes, custom?: JsonValue): JsonObject {
  const h: JsonObject = {};
  if (hashes.sha256) h.sha256 = hashes.sha256.toString('base64');
  if (hashes.sha512) h.sha512 = hashes.sha512.toString('base64');
  const out: JsonObject = { hashes: h, length };
  if (custom !== undefined && custom !== null) out.custom = custom;
  return out;
}

export function keysJson(keys: Iterable<PublicKey>): JsonObject {
  const out: JsonObject = {};
  for (const k of keys) out[k.id] = publicKeyJson(k.keytype, k.publicB64);
  return out;
}

export function rootSigned(opts: { keys: Iterable<PublicKey>; roles: Record<string, RoleKeys>; version: number; expires: string }): JsonObject {
  const roles: JsonObject = {};
  for (const [name, r] of Object.entries(opts.roles)) roles[name] = { keyids: [...r.keyids], threshold: r.threshold };
  return {
    _type: 'Root',
    consistent_snapshot: false,
    expires: opts.expires,
    keys: keysJson(opts.keys),
    roles,
    version: opts.version,
  };
}

export function delegationRoleJson(r: DelegatedRole): JsonObject {
  const out: JsonObject = { keyids: [...r.keyids], name: r.name, threshold: r.threshold };
  // Go omits empty paths
  if (r.paths.length > 0) out.paths = [...r.paths];
  return out;
}

export function targetsSigned(opts: {
  targets: JsonObject;
  delegationKeys?: Iterable<PublicKey>;
  delegations?: DelegatedRole[];
  version: number;
  expires: string;
}): JsonObject {
  return {
    _type: 'Targets',
    delegations: { keys: keysJson(opts.delegationKeys ?? []), roles: (opts.delegations ?? []).map(delegationRoleJson) },
    expires: opts.expires,
    targets: opts.targets,
    version: opts.version,
  };
}

export function snapshotSigned(opts: { meta: JsonObject; version: number; expires: string }): JsonObject {
  return { _type: 'Snapshot', expires: opts.expires, meta: opts.meta, version: opts.version };
}

export function timestampSigned(opts: { snapshotBytes: Uint8Array; version: number; expires: string }): JsonObject {
  return { _type: 'Timestamp', expires: opts.expires, meta: { snapshot: fileMetaOf(opts.snapshotBytes) }, version: opts.version };
}

/** A copy of a parsed `signed` object with some members replaced (unknown fields kept). */
export function withFields(signed: JsonObject, fields: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(signed)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const [k, v] of Object.entries(fields)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}
