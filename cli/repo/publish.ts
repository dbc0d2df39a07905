/**
 * Writing a repository, as notary's client/client.go does it (spec 5.5, 5.9): initialise
 * (root key and certificate, targets and snapshot keys, local v1 metadata), apply the changelist,
 * sign exactly what changed, and send everything in one multipart POST; key rotations publish at
 * once and ignore staged changes.
 */
import { DEFAULT_EXPIRY_MS, LIMITS, NEAR_EXPIRY_MS } from '../../tuf/limits';
import { parseMetadata, Root, rootSigned, signMetadata, Snapshot, snapshotSigned, Targets, targetsSigned, Timestamp, fileMetaOf } from '../../tuf/metadata';
import { canonicalKeyId, parsePublicKey, PrivateKey, PrivateKeyType, PublicKey } from '../../tuf/keys';
import { isDelegationName, isValidRole } from '../../tuf/roles';
import { expiryFrom } from '../../tuf/time';
import { verifyRoot, verifyThreshold } from '../../tuf/verify';
import { certificateKeyFromPem, makeRootCertificateKey } from '../../tuf/x509';
import { MetadataCache } from '../cache';
import { Change, Changelist, parseDelegationContent, parseTargetContent, StoredChange } from '../changelist';
import { KeyStore } from '../keystore';
import { CliError, Output } from '../output';
import { MetadataFile, Remote } from '../remote';
import { EditableRepo, RepoSource } from './model';
import { adopt, holdsKeyFor, signRoot, signSnapshot, signTargets } from './sign';
import { isJsonObject, JsonObject, parseJson } from '../../tuf/canonical';

/** The verified state of a published repository (the client update of spec 5.6). */
export interface TrustedState {
  root: Root;
  timestamp: Timestamp | null;
  snapshot: Snapshot | null;
  targets: ReadonlyMap<string, Targets>;
  /** delegations downloaded but refused (expired, under threshold): witness may re-sign expired ones */
  invalid?: ReadonlyMap<string, Targets>;
  warnings: string[];
}

export interface RepoContext {
  gun: string;
  trustDir: string;
  keystore: KeyStore;
  remote: Remote;
  cache: MetadataCache;
  changelist: Changelist;
  out: Output;
  now: () => number;
  /** run the update workflow against the server and return the trusted state */
  fetchTrusted: () => Promise<TrustedState>;
}

/** Key algorithm for new targets, snapshot and delegation keys (root keys are always ECDSA). */
export type NewKeyAlgorithm = PrivateKeyType;

// ---------------------------------------------------------------------------------------------
// Loading

/** The files `init` wrote (or an earlier download left) in the metadata cache. */
export function loadLocal(ctx: Pick<RepoContext, 'cache' | 'gun' | 'now'>): RepoSource | null {
  const rootBytes = ctx.cache.read(ctx.gun, 'root', LIMITS.maxRootBytes);
  const targetsBytes = ctx.cache.read(ctx.gun, 'targets');
  if (!rootBytes || !targetsBytes) return null;
  const root = parseMetadata(rootBytes, 'root');
  // our own files still pass the root rules before we publish them
  verifyRoot(root, { gun: ctx.gun, now: ctx.now(), checkExpiry: true });
  const targets = parseMetadata(targetsBytes, 'targets');
  const tr = root.body.roles.get('targets');
  if (tr) verifyThreshold(targets, root.body.keys, tr, 'targets');
  const snapBytes = ctx.cache.read(ctx.gun, 'snapshot');
  const snapshot = snapBytes ? parseMetadata(snapBytes, 'snapshot') : null;
  const all = new Map<string, Targets>([['targets', targets]]);
  for (const role of ctx.cache.roles(ctx.gun)) {
    if (!isDelegationName(role)) continue;
    const b = ctx.cache.read(ctx.gun, role);
    if (b) all.set(role, parseMetadata(b, 'targets'));
  }
  return { root, targets: all, snapshot };
}

export interface WriteState {
  repo: EditableRepo;
  /** false: the server has no trust data yet, this is the first publish */
  published: boolean;
  warnings: string[];
}

/**
 * The state a write starts from: the server's (verified) when the repository exists there, else
 * the local files from `init`. Writes need the server: an unreachable one is an error.
 */
export async function loadForWrite(ctx: RepoContext): Promise<WriteState | null> {
  await ctx.remote.ping();
  // always ask for root: a 404 means the repository does not exist on the server yet
  const rootBytes = await ctx.remote.getMetadata(ctx.gun, 'root', LIMITS.maxRootBytes);
  if (rootBytes === null) {
    const local = loadLocal(ctx);
    if (!local) return null;
    return { repo: new EditableRepo(ctx.gun, local), published: false, warnings: [] };
  }
  const trusted = await ctx.fetchTrusted();
  const repo = new EditableRepo(ctx.gun, trusted);
  for (const [role, md] of trusted.invalid ?? []) repo.adoptExpired(role, md);
  return { repo, published: true, warnings: trusted.warnings };
}

// ---------------------------------------------------------------------------------------------
// Init (spec 5.5)

export interface InitOptions {
  /** an existing root key (canonical ID) to use; default: the newest root key of the trust dir, else a new one */
  rootKeyId?: string;
  /** a root certificate PEM to use instead of making one (must certify the root key) */
  rootCertPem?: string;
  keyAlgorithm: NewKeyAlgorithm;
  /** Docker's layout: the server signs the snapshot */
  serverManagedSnapshot: boolean;
  rootThreshold?: number;
}

export interface InitResult {
  rootKeyId: string;
  rootCertId: string;
  targetsKeyId: string;
  snapshotKeyId: string;
  timestampKeyId: string;
  serverManagedSnapshot: boolean;
}

/** Create the repository locally: keys, root v1, targets v1, snapshot v1 (client-held). */
export async function initRepository(ctx: RepoContext, opts: InitOptions): Promise<InitResult> {
  await ctx.remote.ping();
  const existing = await ctx.remote.getMetadata(ctx.gun, 'root', LIMITS.maxRootBytes);
  if (existing !== null) {
    throw new CliError('ERROR', `${ctx.gun} already has trust data on the server; use publish, or delete --remote first`);
  }
  const timestampKey = await ctx.remote.getKey(ctx.gun, 'timestamp');
  const serverSnapshot = opts.serverManagedSnapshot ? await ctx.remote.getKey(ctx.gun, 'snapshot') : null;

  const now = ctx.now();
  let rootKey: PrivateKey;
  const rootId = opts.rootKeyId ?? ctx.keystore.rootKeyIds()[0];
  if (rootId) {
    rootKey = await ctx.keystore.get(rootId);
    if (rootKey.keytype !== 'ecdsa') throw new CliError('USAGE', 'root keys must be ECDSA (the notary client requires ecdsa-x509 root certificates)');
  } else {
    rootKey = await ctx.keystore.generate('ecdsa', 'root');
  }
  let rootCert: PublicKey;
  if (opts.rootCertPem) {
    rootCert = certificateKeyFromPem(opts.rootCertPem);
    if (canonicalKeyId(rootCert) !== rootKey.public.id) throw new CliError('USAGE', 'the root certificate does not certify the root key');
  } else {
    rootCert = makeRootCertificateKey(ctx.gun, rootKey, new Date(now));
  }
  const targetsKey = await ctx.keystore.generate(opts.keyAlgorithm, 'targets', ctx.gun);
  const snapshotKey = serverSnapshot ? null : await ctx.keystore.generate(opts.keyAlgorithm, 'snapshot', ctx.gun);
  const snapshotPublic = serverSnapshot ?? (snapshotKey as PrivateKey).public;

  const root = signMetadata(
    'root',
    rootSigned({
      keys: [rootCert, targetsKey.public, snapshotPublic, timestampKey],
      roles: {
        root: { keyids: [rootCert.id], threshold: 1 },
        targets: { keyids: [targetsKey.public.id], threshold: 1 },
        snapshot: { keyids: [snapshotPublic.id], threshold: 1 },
        timestamp: { keyids: [timestampKey.id], threshold: 1 },
      },
      version: 1,
      expires: expiryFrom(now, DEFAULT_EXPIRY_MS.root),
    }),
    [{ key: rootKey, keyid: rootCert.id }],
  );
  verifyRoot(root, { gun: ctx.gun, now, checkExpiry: true });
  const targets = signMetadata('targets', targetsSigned({ targets: {}, version: 1, expires: expiryFrom(now, DEFAULT_EXPIRY_MS.targets) }), [{ key: targetsKey }]);
  ctx.cache.removeAll(ctx.gun);
  ctx.cache.write(ctx.gun, 'root', root.bytes);
  ctx.cache.write(ctx.gun, 'targets', targets.bytes);
  if (snapshotKey) {
    const snapshot = signMetadata(
      'snapshot',
      snapshotSigned({ meta: { root: fileMetaOf(root.bytes), targets: fileMetaOf(targets.bytes) }, version: 1, expires: expiryFrom(now, DEFAULT_EXPIRY_MS.snapshot) }),
      [{ key: snapshotKey }],
    );
    ctx.cache.write(ctx.gun, 'snapshot', snapshot.bytes);
  }
  return {
    rootKeyId: rootKey.public.id,
    rootCertId: rootCert.id,
    targetsKeyId: targetsKey.public.id,
    snapshotKeyId: snapshotPublic.id,
    timestampKeyId: timestampKey.id,
    serverManagedSnapshot: serverSnapshot !== null,
  };
}

// ---------------------------------------------------------------------------------------------
// Applying the changelist (client/helpers.go applyChangelist)

function isWildcard(scope: string): boolean {
  return scope.endsWith('/*') && (scope === 'targets/*' || isDelegationName(scope.slice(0, -2)));
}

export function applyChange(repo: EditableRepo, c: Change): void {
  const scope = c.scope;
  if (scope === 'targets' || isDelegationName(scope) || isWildcard(scope)) {
    switch (c.type) {
      case 'target': {
        if (isWildcard(scope)) throw new CliError('USAGE', `cannot add targets to the wildcard role ${scope}`);
        if (c.action === 'create' || c.action === 'update') {
          const meta = parseTargetContent(c.content);
          const hashes: JsonObject = {};
          for (const [alg, digest] of Object.entries(meta.hashes)) hashes[alg] = digest.toString('base64');
          const fm: JsonObject = { hashes, length: meta.length };
          if (meta.custom !== undefined) fm.custom = meta.custom;
          repo.addTarget(scope, c.path, fm);
        } else repo.removeTarget(scope, c.path);
        return;
      }
      case 'delegation': {
        const d = parseDelegationContent(c.content);
        if (c.action === 'create') {
          repo.updateDelegationKeys(scope, d.addKeys ?? [], [], d.threshold);
          repo.updateDelegationPaths(scope, d.addPaths ?? [], [], false);
        } else if (c.action === 'update') {
          if (isWildcard(scope)) {
            repo.purgeDelegationKeys(scope, d.removeKeys ?? []);
          } else {
            repo.updateDelegationKeys(scope, d.addKeys ?? [], d.removeKeys ?? [], d.threshold);
            repo.updateDelegationPaths(scope, d.addPaths ?? [], d.removePaths ?? [], d.clearPaths ?? false);
          }
        } else repo.deleteDelegation(scope);
        return;
      }
      case 'witness':
        repo.witness(scope);
        return;
      case 'role':
        throw new CliError('ERROR', `a role change cannot apply to ${scope}`);
      default: {
        const never: never = c.type;
        throw new CliError('ERROR', `unknown change type ${String(never)}`);
      }
    }
  }
  if (scope === 'root' && c.type === 'role' && c.action === 'create') {
    const raw = c.content ? parseJson(c.content) : null;
    if (!isJsonObject(raw) || typeof raw.role !== 'string' || !Array.isArray(raw.keys)) throw new CliError('ERROR', 'malformed root role change');
    const role = raw.role;
    if (role !== 'root' && role !== 'targets' && role !== 'snapshot' && role !== 'timestamp') throw new CliError('ERROR', `not a base role: ${role}`);
    repo.replaceBaseKeys(role, raw.keys.map((k) => parsePublicKey(k)));
    return;
  }
  throw new CliError('ERROR', `scope not supported: ${scope}`);
}

export function applyChangelist(repo: EditableRepo, changes: StoredChange[], out: Output): void {
  changes.forEach((c, i) => {
    try {
      applyChange(repo, c);
    } catch (e) {
      const what = `${c.action} ${c.type}${c.path ? ` ${JSON.stringify(c.path)}` : ''} on ${c.scope}`;
      throw new CliError(e instanceof CliError ? e.code : 'ERROR', `cannot apply staged change #${i} (${what}): ${(e as Error).message}`, { cause: e });
    }
    if (changes.length >= 1000) out.progress('applying staged changes', i + 1, changes.length);
  });
}

// ---------------------------------------------------------------------------------------------
// Sign and send

export interface PublishResult {
  uploaded: { role: string; version: number }[];
  applied: number;
  firstPublish: boolean;
  serverManagedSnapshot: boolean;
}

function nearExpiry(expires: string, now: number): boolean {
  const t = Date.parse(expires);
  return !Number.isFinite(t) || t < now + NEAR_EXPIRY_MS;
}

/**
 * Sign what the session changed and send it in one POST (spec 5.5 steps 3-4): root when dirty,
 * near expiry, or on first publish (unchanged v1 bytes); every dirty targets file (always
 * `targets` on first publish); the snapshot whenever we hold its key.
 */
export async function signAndSend(
  ctx: RepoContext,
  state: WriteState,
  opts: { rootExtraSigners?: { keys: PublicKey[]; threshold: number }[]; forceRootSign?: boolean } = {},
): Promise<{ role: string; version: number }[]> {
  const { repo } = state;
  const now = ctx.now();
  const files: MetadataFile[] = [];
  const uploaded: { role: string; version: number }[] = [];
  const push = (role: string, bytes: Buffer, version: number) => {
    files.push({ role, bytes });
    uploaded.push({ role, version });
  };

  if (repo.root.dirty || opts.forceRootSign || (state.published && nearExpiry(repo.root.expires, now))) {
    const md = await signRoot(repo, ctx.keystore, { now, extraSigners: opts.rootExtraSigners });
    adopt(repo, 'root', md);
    push('root', md.bytes, md.body.version);
  } else if (!state.published) {
    if (!repo.root.bytes) throw new CliError('ERROR', 'no root to publish');
    push('root', repo.root.bytes, repo.root.version);
  }

  if (!state.published) {
    const t = repo.targets.get('targets');
    if (!t) throw new CliError('ERROR', 'no targets to publish');
    t.dirty = true;
  }
  const dirty = repo.dirtyTargets();
  for (const [i, t] of dirty.entries()) {
    const md = await signTargets(repo, t, ctx.keystore, { now });
    adopt(repo, t.role, md);
    push(t.role, md.bytes, md.body.version);
    if (dirty.length >= 100) ctx.out.progress('signing roles', i + 1, dirty.length);
  }

  const snapshotRole = repo.baseRole('snapshot');
  const clientSnapshot = holdsKeyFor(ctx.keystore, snapshotRole.keys);
  if (clientSnapshot) {
    const current = new Map<string, Buffer>();
    if (repo.root.bytes) current.set('root', repo.root.bytes);
    for (const [role, t] of repo.targets) if (t.bytes) current.set(role, t.bytes);
    const md = await signSnapshot(repo, current, ctx.keystore, { now });
    adopt(repo, 'snapshot', md);
    push('snapshot', md.bytes, md.body.version);
  }

  for (const f of files) if (!isValidRole(f.role)) throw new CliError('ERROR', `refusing to publish invalid role ${f.role}`);
  await ctx.remote.publish(ctx.gun, files);
  return uploaded;
}

/**
 * `publish`: load, apply the changelist, sign, send, then clear the applied changes. With no
 * state at all (never initialised), `autoInit` creates the repository first, Docker style.
 */
export async function publish(ctx: RepoContext, opts: { autoInit?: InitOptions } = {}): Promise<PublishResult> {
  let state = await loadForWrite(ctx);
  if (!state) {
    if (!opts.autoInit) throw new CliError('NOT_FOUND', `${ctx.gun} is not initialized: run \`init ${ctx.gun}\` first`);
    await initRepository(ctx, opts.autoInit);
    state = await loadForWrite(ctx);
    if (!state) throw new CliError('ERROR', `initialising ${ctx.gun} left no local metadata`);
  }
  for (const w of state.warnings) ctx.out.warn(w);
  const changes = ctx.changelist.list();
  applyChangelist(state.repo, changes, ctx.out);
  const uploaded = await signAndSend(ctx, state);
  ctx.changelist.removeFiles(changes.map((c) => c.file));
  return {
    uploaded,
    applied: changes.length,
    firstPublish: !state.published,
    serverManagedSnapshot: !holdsKeyFor(ctx.keystore, state.repo.baseRole('snapshot').keys),
  };
}

// ---------------------------------------------------------------------------------------------
// Key rotation (spec 5.9)

export interface RotateOptions {
  /** the server holds the new key (snapshot -r; timestamp always) */
  serverManaged: boolean;
  /** new keys to use instead of generating one (root: must be ECDSA; given as private keys) */
  keys?: { key: PrivateKey; alreadyStored: boolean }[];
  keyAlgorithm: NewKeyAlgorithm;
  /** root: also sign with the root keys of this many earlier root versions */
  legacy?: number;
  threshold?: number;
}

export interface RotateResult {
  role: string;
  newKeyIds: string[];
  uploaded: { role: string; version: number }[];
}

/** Rotate the keys of a base role and publish immediately (staged changes are left alone). */
export async function rotateKey(ctx: RepoContext, role: 'root' | 'targets' | 'snapshot' | 'timestamp', opts: RotateOptions): Promise<RotateResult> {
  if (role === 'timestamp' && !opts.serverManaged) throw new CliError('USAGE', 'the timestamp key is always held by the server: rotate it with -r');
  if (role === 'root' && opts.serverManaged) throw new CliError('USAGE', 'the server cannot hold root keys');
  if (role === 'targets' && opts.serverManaged) throw new CliError('USAGE', 'the server cannot hold targets keys');
  const state = await loadForWrite(ctx);
  if (!state || !state.published) throw new CliError('NOT_FOUND', `${ctx.gun} has no published trust data to rotate keys of`);
  for (const w of state.warnings) ctx.out.warn(w);
  const { repo } = state;
  const oldRoot = repo.baseRole('root');

  let newKeys: PublicKey[];
  if (opts.serverManaged) {
    newKeys = [await ctx.remote.rotateKey(ctx.gun, role as 'snapshot' | 'timestamp')];
  } else if (role === 'root') {
    const privs: PrivateKey[] = [];
    for (const k of opts.keys ?? []) {
      if (k.key.keytype !== 'ecdsa') throw new CliError('USAGE', 'root keys must be ECDSA');
      if (!k.alreadyStored) await ctx.keystore.add(k.key, 'root');
      privs.push(k.key);
    }
    if (privs.length === 0) privs.push(await ctx.keystore.generate('ecdsa', 'root'));
    newKeys = privs.map((k) => makeRootCertificateKey(ctx.gun, k, new Date(ctx.now())));
  } else {
    const privs: PrivateKey[] = [];
    for (const k of opts.keys ?? []) {
      if (!k.alreadyStored) await ctx.keystore.add(k.key, role, ctx.gun);
      privs.push(k.key);
    }
    if (privs.length === 0) privs.push(await ctx.keystore.generate(opts.keyAlgorithm, role, ctx.gun));
    newKeys = privs.map((k) => k.public);
  }
  const threshold = opts.threshold ?? Math.min(repo.root.roles.get(role)?.threshold ?? 1, newKeys.length);
  if (threshold < 1 || threshold > newKeys.length) throw new CliError('USAGE', `threshold ${threshold} does not fit ${newKeys.length} key(s)`);
  repo.replaceBaseKeys(role, newKeys, threshold);

  // root rotation: the trusted root's keys must sign too (spec 3.5); --legacy adds older roots
  const extra: { keys: PublicKey[]; threshold: number }[] = [];
  if (role === 'root') {
    extra.push(oldRoot);
    for (let v = state.repo.root.version - 1, n = 0; v >= 1 && n < (opts.legacy ?? 0); v--, n++) {
      const bytes = await ctx.remote.getMetadata(ctx.gun, `${v}.root`, LIMITS.maxRootBytes);
      if (!bytes) break;
      const old = parseMetadata(bytes, 'root');
      const r = old.body.roles.get('root');
      if (!r) continue;
      const keys = r.keyids.map((id) => old.body.keys.get(id)).filter((k): k is PublicKey => k !== undefined);
      // sign with what we hold of an old root; its threshold is for its own clients to check
      if (holdsKeyFor(ctx.keystore, keys)) extra.push({ keys: keys.filter((k) => holdsKeyFor(ctx.keystore, [k])), threshold: 1 });
    }
  }
  // the role's own file must be re-signed by its new key when we hold it
  if (role === 'targets') {
    const t = repo.targets.get('targets');
    if (t) t.dirty = true;
  }
  const uploaded = await signAndSend(ctx, state, { rootExtraSigners: extra, forceRootSign: true });
  return { role, newKeyIds: newKeys.map((k) => k.id), uploaded };
}
