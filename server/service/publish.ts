/**
 * A publish (POST /v2/<gun>/_trust/tuf/): validation exactly as Notary does it (spec 1.4.2,
 * server/handlers/validation.go), failing closed, plus the points where Notary is unsafe:
 *
 * - snapshot and timestamp meta are computed over the exact bytes stored and served;
 * - a delegated role may not sign targets outside the paths its parents delegate to it;
 * - a publish never extends the life of a repository whose root has expired.
 *
 * Nothing is stored unless everything checks out; then all files go in one atomic batch.
 */
import * as crypto from 'node:crypto';
import { keyCertificates, PublicKey } from '../../tuf/keys';
import { canonicalString, JsonObject, JsonValue } from '../../tuf/canonical';
import { FileMeta, Metadata, Root, Snapshot, Targets, Timestamp } from '../../tuf/metadata';
import { isDelegationName, parentRole } from '../../tuf/roles';
import { checkVersion, verifyRoot, verifyThreshold } from '../../tuf/verify';
import { NewFile, StoredFile, StoredUpdate, VersionConflictError } from '../storage/types';
import { ServerError, ValidationError } from '../errors';
import { errorMessage, goUnixDate, parseStored, ServiceContext } from './context';
import { CannotSignError, generateSnapshot, generateTimestamp } from './signing';
import { PublishRequest } from './upload';

/** A file of a validated publish: what the store takes, and the document it was parsed as. */
export interface ValidatedFile extends NewFile {
  md: Metadata;
}

/** A publish that passed validation: the files to store, and the stored root it was checked against. */
export interface ValidatedUpdate {
  files: ValidatedFile[];
  /** the current root read from storage when the publish uploads none */
  storedRoot: StoredFile | null;
}

/** A targets file in the validation builder: uploaded now, or loaded from storage as a parent. */
interface LoadedTargets {
  md: Targets;
}

/** Notary's order: fewer `/`-separated segments first, then by name (utils.RoleList). */
function byDepthThenName(a: string, b: string): number {
  const d = a.split('/').length - b.split('/').length;
  if (d !== 0) return d;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** targets/a/b -> [targets, targets/a] */
function ancestorsOf(role: string): string[] {
  const out: string[] = [];
  for (let p = parentRole(role); p !== null; p = parentRole(p)) out.unshift(p);
  return out;
}

function isSha1Signed(key: PublicKey): boolean {
  const leaf = keyCertificates(key)?.[0];
  if (!leaf) return false;
  const hex = leaf.raw.toString('hex');
  return hex.includes('06072a8648ce3d0401') || hex.includes('06092a864886f70d010105');
}

/**
 * The structure Notary requires of the delegations a targets file declares
 * (isValidTargetsStructure): direct children only, keys present and listed under their own
 * IDs, thresholds reachable in principle; certificates must not be SHA-1 signed.
 */
function checkDelegationStructure(role: string, md: Targets): void {
  const { delegations, delegationKeys } = md.body;
  const seen = new Set<string>();
  for (const [id, key] of delegationKeys) {
    if (key.id !== id) throw new ValidationError('ErrBadTargets', `tuf: delegation key ${id} is not listed under its own key ID`);
    if ((key.keytype === 'ecdsa-x509' || key.keytype === 'rsa-x509') && isSha1Signed(key)) {
      throw new ValidationError('ErrBadTargets', `tuf: delegation key ${id} is a certificate signed with SHA-1`);
    }
  }
  for (const d of delegations) {
    if (!isDelegationName(d.name) || parentRole(d.name) !== role) {
      throw new ValidationError('ErrBadTargets', `tuf: invalid role ${d.name}. delegations of ${role} must be its direct children`);
    }
    if (seen.has(d.name)) throw new ValidationError('ErrBadTargets', `tuf: invalid role ${d.name}. delegated twice in ${role}`);
    seen.add(d.name);
    if (d.threshold < 1) throw new ValidationError('ErrBadTargets', `tuf: invalid role ${d.name}. threshold must be at least 1`);
    for (const id of d.keyids) {
      if (!delegationKeys.has(id)) throw new ValidationError('ErrBadTargets', `tuf: invalid role ${d.name}. key ${id} is not in ${role}'s delegation keys`);
    }
  }
}

/**
 * Effective paths of a delegation (spec 2.5): its own `paths` that lie under one of its parent's
 * effective paths; `targets` has [""] (everything).
 */
function effectivePaths(role: string, loaded: Map<string, LoadedTargets>): string[] {
  let paths = [''];
  let parent = 'targets';
  for (const name of [...ancestorsOf(role).slice(1), role]) {
    const entry = loaded.get(parent)?.md.body.delegations.find((d) => d.name === name);
    if (!entry) return [];
    paths = entry.paths.filter((p) => paths.some((e) => p.startsWith(e)));
    parent = name;
  }
  return paths;
}

function delegationMissing(role: string): ValidationError {
  return new ValidationError('ErrBadTargets', `tuf: invalid role ${role}. delegation does not exist`);
}

/**
 * Verify one targets file against its signer set: root's `targets` role, or the entry its
 * parent declares for it (spec 1.4.2 step 7). `allowExpired` for parents loaded from storage.
 */
function verifyTargetsFile(role: string, md: Targets, root: Root, loaded: Map<string, LoadedTargets>, now: number, allowExpired: boolean): void {
  let keys: ReadonlyMap<string, PublicKey>;
  let roleKeys;
  if (role === 'targets') {
    keys = root.body.keys;
    roleKeys = root.body.roles.get('targets');
    if (!roleKeys) throw new ValidationError('ErrBadTargets', 'root has no targets role');
  } else {
    if (!loaded.has('targets')) throw new ValidationError('ErrBadTargets', 'targets must be loaded first');
    const parent = loaded.get(parentRole(role) as string);
    const entry = parent?.md.body.delegations.find((d) => d.name === role);
    if (!parent || !entry) throw delegationMissing(role);
    keys = parent.md.body.delegationKeys;
    roleKeys = entry;
  }
  try {
    verifyThreshold(md, keys, roleKeys, role);
  } catch (e) {
    throw new ValidationError('ErrBadTargets', errorMessage(e));
  }
  if (!allowExpired && md.body.expires < now) {
    throw new ValidationError('ErrBadTargets', `${role} expired at ${goUnixDate(md.body.expires)}`);
  }
  checkDelegationStructure(role, md);
}

const SUPPORTED_HASHES = ['sha256', 'sha512'] as const;

/**
 * The snapshot's meta for `role` must name the exact bytes (spec 1.4.2 step 8). Notary checks
 * hashes only; the length is checked too, because clients refuse a file whose length differs.
 */
function checkSnapshotEntry(snapshot: Snapshot, role: string, bytes: Buffer): void {
  const meta: FileMeta | undefined = snapshot.body.meta.get(role);
  let checked = 0;
  for (const alg of SUPPORTED_HASHES) {
    const want = meta?.hashes[alg];
    if (!want) continue;
    const got = crypto.createHash(alg).update(bytes).digest();
    if (!got.equals(want)) {
      throw new ValidationError('ErrBadSnapshot', `${alg} checksum for ${role} did not match: expected ${want.toString('hex')}`);
    }
    checked++;
  }
  if (!meta || checked === 0) throw new ValidationError('ErrBadSnapshot', `tuf: sha256 checksum required for ${role}`);
  if (meta.length !== bytes.length) {
    throw new ValidationError('ErrBadSnapshot', `length for ${role} did not match: expected ${meta.length}, the file is ${bytes.length} bytes`);
  }
}

/** Root and targets entries with a 32-byte sha256 are mandatory in every snapshot (IsValidSnapshotStructure). */
function checkSnapshotStructure(snapshot: Snapshot): void {
  for (const role of ['root', 'targets']) {
    const sha = snapshot.body.meta.get(role)?.hashes.sha256;
    if (!sha || sha.length !== 32) throw new ValidationError('ErrBadSnapshot', `tuf: snapshot is missing a sha256 checksum for ${role}`);
  }
}

/**
 * Validate a publish against the stored state and return the batch to store: the uploaded
 * root/targets/delegations/snapshot plus the generated snapshot (if the server holds its key)
 * and timestamp (always). Throws ServerError/ValidationError; stores nothing.
 */
export async function validateUpdate(ctx: ServiceContext, gun: string, request: PublishRequest): Promise<ValidatedUpdate> {
  const now = ctx.now();
  const batch: ValidatedFile[] = [];

  // step 4: the stored current root is the trust anchor (expiry not checked for stored data)
  const storedRootFile = await ctx.store.getCurrent(gun, 'root');
  const storedRoot = storedRootFile ? parseStored(ctx, storedRootFile, 'root') : null;

  // The timestamp covers the snapshot's bytes and is signed with the current root's keys. When
  // the publish uploads a snapshot and no root, both are known now: ask the signer at once and
  // validate while it signs. Its signature is used only if everything below checks out.
  const prevTimestamp = await ctx.store.getCurrent(gun, 'timestamp');
  const timestampVersion = (prevTimestamp?.version ?? 0) + 1;
  const early =
    storedRoot && storedRoot.body.expires >= now && !request.root && request.snapshot
      ? signTimestamp(ctx, storedRoot, request.snapshot.bytes, timestampVersion)
      : null;
  // a publish that fails validation drops it; an error of its own is reported at step 10
  early?.catch(() => undefined);

  // steps 5 and 6
  let root: Root;
  let rootBytes: Buffer;
  const rootUpload = request.root;
  if (rootUpload) {
    const current = storedRoot?.body.version ?? 1;
    const next = rootUpload.body.version;
    if (next !== current && next !== current + 1) {
      throw new ValidationError('ErrBadRoot', `Root modifications must increment the version. Current ${current}, new ${next}`);
    }
    try {
      // signed by the old root's threshold and its own; certificates valid, CN = GUN, not expired
      verifyRoot(rootUpload, { gun, trusted: storedRoot ?? undefined, now, checkExpiry: true });
      checkVersion('root', next, current, true);
    } catch (e) {
      throw new ValidationError('ErrBadRoot', errorMessage(e));
    }
    root = rootUpload;
    rootBytes = rootUpload.bytes;
    batch.push({ role: 'root', version: next, bytes: rootUpload.bytes, md: rootUpload });
  } else if (!storedRoot || !storedRootFile) {
    throw new ValidationError('ErrValidation', 'no pre-existing root and no root provided in update.');
  } else {
    // never sign a new snapshot or timestamp under a root that clients must already refuse
    if (storedRoot.body.expires < now) {
      throw new ValidationError('ErrBadRoot', `root expired at ${goUnixDate(storedRoot.body.expires)}; publish a new root`);
    }
    root = storedRoot;
    rootBytes = storedRootFile.bytes;
  }

  // step 7: targets and delegations, parents before children
  const loaded = new Map<string, LoadedTargets>();
  const targetsRoles = [...request.targets.keys()].sort(byDepthThenName);
  for (const role of targetsRoles) {
    for (const ancestor of ancestorsOf(role)) {
      if (loaded.has(ancestor)) continue;
      const file = await ctx.store.getCurrent(gun, ancestor);
      // a missing parent makes the child fail below ("delegation does not exist")
      if (!file) continue;
      const md = parseStored(ctx, file, 'targets');
      verifyTargetsFile(ancestor, md, root, loaded, now, true);
      loaded.set(ancestor, { md });
    }
    const md = request.targets.get(role) as Targets;
    verifyTargetsFile(role, md, root, loaded, now, false);
    loaded.set(role, { md });
    if (role !== 'targets') await checkDelegatedPaths(ctx, gun, role, md, loaded);
    batch.push({ role, version: md.body.version, bytes: md.bytes, md });
  }

  // steps 8 and 9: the snapshot, uploaded or generated
  let snapshotBytes: Buffer;
  const snapshotUpload = request.snapshot;
  if (snapshotUpload) {
    const role = root.body.roles.get('snapshot');
    try {
      if (!role) throw new Error('root has no snapshot role');
      verifyThreshold(snapshotUpload, root.body.keys, role, 'snapshot');
    } catch (e) {
      throw new ValidationError('ErrBadSnapshot', errorMessage(e));
    }
    if (snapshotUpload.body.expires < now) {
      throw new ValidationError('ErrBadSnapshot', `snapshot expired at ${goUnixDate(snapshotUpload.body.expires)}`);
    }
    checkSnapshotStructure(snapshotUpload);
    // mix-and-match: the snapshot must name exactly the root and targets files being served
    checkSnapshotEntry(snapshotUpload, 'root', rootBytes);
    for (const [role, t] of loaded) checkSnapshotEntry(snapshotUpload, role, t.md.bytes);
    snapshotBytes = snapshotUpload.bytes;
    batch.push({ role: 'snapshot', version: snapshotUpload.body.version, bytes: snapshotBytes, md: snapshotUpload });
  } else {
    const prevFile = await ctx.store.getCurrent(gun, 'snapshot');
    const previous = prevFile ? parseStored(ctx, prevFile, 'snapshot') : null;
    if (!previous && !loaded.has('targets')) throw new ValidationError('ErrValidation', 'targets must be loaded first');
    const files = new Map<string, Buffer>([['root', rootBytes]]);
    for (const [role, t] of loaded) files.set(role, t.md.bytes);
    try {
      const snapshot = await generateSnapshot(ctx, root, { previous, version: (prevFile?.version ?? 0) + 1, files });
      snapshotBytes = snapshot.bytes;
      batch.push({ role: 'snapshot', version: snapshot.body.version, bytes: snapshotBytes, md: snapshot });
    } catch (e) {
      if (!(e instanceof CannotSignError)) throw e;
      throw new ValidationError(
        'ErrBadHierarchy',
        'no snapshot was included in update and server does not hold current snapshot key for repository',
        'snapshot',
      );
    }
  }

  // step 10: the timestamp is always the server's (an uploaded one was ignored); `early` was
  // signed with this root over these snapshot bytes
  const timestamp = await (early ?? signTimestamp(ctx, root, snapshotBytes, timestampVersion));
  batch.push({ role: 'timestamp', version: timestamp.body.version, bytes: timestamp.bytes, md: timestamp });
  return { files: batch, storedRoot: rootUpload ? null : storedRootFile };
}

async function signTimestamp(ctx: ServiceContext, root: Root, snapshotBytes: Buffer, version: number): Promise<Timestamp> {
  try {
    return await generateTimestamp(ctx, root, snapshotBytes, version);
  } catch (e) {
    if (!(e instanceof CannotSignError)) throw e;
    throw new ValidationError('ErrBadRoot', 'no  timestamp keys exist on the server');
  }
}

/**
 * A delegated role may sign only targets under its effective paths. Notary accepts anything
 * and leaves it to clients to ignore; we refuse it. Targets already in the role's stored file,
 * unchanged, stay allowed: narrowing a delegation's paths must not make its next publish fail.
 */
async function checkDelegatedPaths(ctx: ServiceContext, gun: string, role: string, md: Targets, loaded: Map<string, LoadedTargets>): Promise<void> {
  const allowed = effectivePaths(role, loaded);
  const outside = [...md.body.targets.keys()].filter((name) => !allowed.some((p) => name.startsWith(p)));
  if (outside.length === 0) return;
  const storedFile = await ctx.store.getCurrent(gun, role);
  const stored = storedFile ? parseStored(ctx, storedFile, 'targets') : null;
  const raw = md.signed.targets as JsonObject;
  const storedRaw = stored?.signed.targets as JsonObject | undefined;
  for (const name of outside) {
    const before = storedRaw?.[name];
    if (before !== undefined && canonicalString(before) === canonicalString(raw[name] as JsonValue)) continue;
    throw new ValidationError('ErrBadTargets', `tuf: target ${JSON.stringify(name)} is outside the paths delegated to ${role}`);
  }
}

/** Store a validated batch; a lost race or a replayed version is Notary's VERSION error. */
export async function storeUpdate(ctx: ServiceContext, gun: string, batch: NewFile[]): Promise<StoredUpdate> {
  try {
    return await ctx.store.update(gun, batch);
  } catch (e) {
    if (e instanceof VersionConflictError) throw new ServerError('VERSION', {}, e.message, { cause: e });
    throw new ServerError('UPDATING', undefined, `storing the update failed: ${errorMessage(e)}`, { cause: e });
  }
}
