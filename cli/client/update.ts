/**
 * The client's update workflow (spec 5.6; notary's client/tufclient.go and tuf/builder.go):
 * establish a trusted root, then download and verify timestamp, snapshot and the targets tree in
 * that order, each checked for hash and length against its parent, signatures and threshold,
 * rollback and expiry. If anything fails, fetch a newer root (walking `<v>.root.json` when the
 * new root is not signed by the trusted one) and try once more.
 *
 * Verified downloads are written to the trust dir cache under the plain role name; cached files
 * are reused only when their bytes are exactly the ones the trusted parent names.
 */
import {
  canonicalKeyId,
  checkFileMeta,
  checkNotExpired,
  checkVersion,
  FileMeta,
  formatGoTime,
  LIMITS,
  Metadata,
  MetadataKind,
  NEAR_EXPIRY_MS,
  parseMetadata,
  PublicKey,
  RoleKeys,
  Root,
  Snapshot,
  Targets,
  Timestamp,
  validRootCertificateKeys,
  validSignatureKeyIds,
  verifyRoot,
  verifyThreshold,
} from '../../tuf';
import { isValidGun } from '../../tuf/roles';
import { MetadataCache } from '../cache';
import { RemoteError, REMOTE_LIMITS } from '../remote';
import { EffectiveRole, topTargetsRole, validDelegations } from './delegations';
import { asUpdateError, UpdateError } from './errors';
import { NO_PINNING, PinMode, RootPin, rootPinFor, TrustPinConfig } from './pinning';

/** Bounds of one update. */
export const CLIENT_LIMITS = {
  /** root versions walked in one update (each must be signed by the one before) */
  maxRootChain: 1024,
  /** targets and delegation files downloaded in one update */
  maxTargetsRoles: 4096,
} as const;

/** What the update needs from the server: `Remote` provides it. */
export interface MetadataSource {
  ping(): Promise<unknown>;
  getMetadata(gun: string, name: string, maxBytes: number): Promise<Buffer | null>;
}

export interface FirstUseInfo {
  gun: string;
  /** TUF key IDs of the root certificates now trusted (what trust_pinning.certs lists) */
  keyIds: string[];
  /** the same keys' canonical IDs (private key file names, `key list`) */
  canonicalIds: string[];
  version: number;
  /** how the root was accepted: trust on first use, or a pin */
  mode: PinMode;
}

export interface UpdateOptions {
  gun: string;
  remote: MetadataSource;
  cache: MetadataCache;
  /** the `trust_pinning` section of config.json; default: trust on first use */
  pinning?: TrustPinConfig;
  /** the clock (epoch ms), fixed or read once per update */
  now?: number | (() => number);
  /** called once when a GUN's first root is trusted, with the root key IDs to show */
  onFirstUse?: (fingerprint: string, info: FirstUseInfo) => void;
  /** called for each warning as it happens (they are also returned) */
  onWarning?: (message: string) => void;
  /** do not contact the server at all */
  offline?: boolean;
  /**
   * GET root.json even when a root is cached, to learn whether the repository still exists
   * (writing commands; spec 5.6 step 2). A 404 then throws REPOSITORY_NOT_FOUND.
   */
  requireRemote?: boolean;
}

/** The verified state of a repository. */
export interface TrustedRepo {
  gun: string;
  root: Root;
  timestamp: Timestamp;
  snapshot: Snapshot;
  /** valid targets roles by name: `targets` and every delegation that verified */
  targets: Map<string, Targets>;
  /** the keys, threshold and effective paths of each valid role */
  roles: Map<string, EffectiveRole>;
  /** delegations that were downloaded but are expired or under threshold (witness can re-sign them) */
  invalid: Map<string, Targets>;
  warnings: string[];
  /** true when the server could not be reached and only cached data was used */
  offline: boolean;
}

const OFFLINE_SOURCE: MetadataSource = {
  ping: () => Promise.reject(new RemoteError('OFFLINE', 'working offline')),
  getMetadata: () => Promise.reject(new RemoteError('OFFLINE', 'working offline: the trust server cannot be reached')),
};

/** Remote failures after which a still-valid cached timestamp may be used (spec 5.6 step 3). */
function isUnavailable(e: unknown): boolean {
  if (!(e instanceof RemoteError)) return false;
  switch (e.code) {
    case 'OFFLINE':
    case 'NETWORK':
    case 'TIMEOUT':
    case 'SERVER':
    case 'UNAUTHORIZED':
    case 'STATUS':
      return true;
    case 'NOT_FOUND':
    case 'REJECTED':
    case 'TOO_LARGE':
    case 'BAD_RESPONSE':
    case 'AUTH':
    case 'INVALID_REQUEST':
    case 'CONFIG':
      return false;
    default: {
      const never: never = e.code;
      return Boolean(never);
    }
  }
}

function sha256Hex(meta: FileMeta, role: string): string {
  const h = meta.hashes.sha256;
  if (!h || h.length !== 32) throw new UpdateError('MALFORMED', `no sha256 is named for ${role}`, { role });
  return h.toString('hex');
}

function matches(bytes: Buffer, meta: FileMeta): boolean {
  try {
    checkFileMeta(bytes, meta, 'cached');
    return true;
  } catch {
    return false;
  }
}

function rootRoleKeys(root: Root): PublicKey[] {
  const r = root.body.roles.get('root');
  if (!r) return [];
  return r.keyids.map((id) => root.body.keys.get(id)).filter((k): k is PublicKey => k !== undefined);
}

/** Whether `next` carries signatures meeting the trusted root's threshold with its certificates. */
function signedByTrustedRoot(next: Root, trusted: Root, gun: string, now: number): boolean {
  const role = trusted.body.roles.get('root');
  if (!role) return false;
  const leaves = validRootCertificateKeys(rootRoleKeys(trusted), gun, { checkExpiry: false, now: new Date(now) });
  try {
    const valid = validSignatureKeyIds(next, new Map(leaves.map((k) => [k.id, k])), { keyids: leaves.map((k) => k.id), threshold: role.threshold });
    return valid.size >= role.threshold;
  } catch {
    return false;
  }
}

/** A pin wrapper that remembers whether it refused every certificate, and what it accepted. */
class PinProbe {
  refusedAll = false;
  accepted: PublicKey[] = [];
  constructor(readonly pin: RootPin | undefined) {}
  readonly filter = (leaves: PublicKey[]): PublicKey[] => {
    const out = this.pin ? this.pin.filter(leaves) : leaves;
    this.refusedAll = out.length === 0;
    this.accepted = out;
    return out;
  };
}

class Updater {
  private readonly gun: string;
  private readonly cache: MetadataCache;
  private readonly now: number;
  private source: MetadataSource;
  private online = true;
  /** warnings that outlive a retry (working offline) */
  private readonly lasting: string[] = [];
  /** warnings of the current attempt */
  private attempt: string[] = [];
  /** the root hash the last verified snapshot named (spec 5.6 step 7) */
  private rootHint: FileMeta | undefined;

  constructor(private readonly opts: UpdateOptions) {
    this.gun = opts.gun;
    this.cache = opts.cache;
    this.now = typeof opts.now === 'function' ? opts.now() : (opts.now ?? Date.now());
    this.source = opts.remote;
  }

  private warn(message: string, lasting = false): void {
    (lasting ? this.lasting : this.attempt).push(message);
    this.opts.onWarning?.(message);
  }

  private async fetch(name: string, maxBytes: number, role: string): Promise<Buffer | null> {
    if (maxBytes > LIMITS.maxMetadataBytes) {
      throw new UpdateError('TOO_LARGE', `${role} is said to be ${maxBytes} bytes, more than the ${LIMITS.maxMetadataBytes} allowed`, { role });
    }
    try {
      return await this.source.getMetadata(this.gun, name, maxBytes);
    } catch (e) {
      throw asUpdateError(e, role);
    }
  }

  /** A cached non-root file, or null when absent or unusable (only the root cache is essential). */
  private readCached(role: string, maxBytes: number = LIMITS.maxMetadataBytes): Buffer | null {
    try {
      return this.cache.read(this.gun, role, maxBytes);
    } catch {
      return null;
    }
  }

  private store(role: string, bytes: Buffer): void {
    try {
      this.cache.write(this.gun, role, bytes);
    } catch (e) {
      // the verified data is still good for this command; a later run downloads again
      this.warn(`could not cache ${role}: ${(e as Error).message}`);
    }
  }

  /** Parse a cached file and check only its signatures: what it proves is a version floor. */
  private signedVersion(kind: MetadataKind, role: string, bytes: Buffer | null, keys: ReadonlyMap<string, PublicKey>, roleKeys: RoleKeys): Metadata | null {
    if (!bytes) return null;
    try {
      const md = parseMetadata(bytes, kind);
      verifyThreshold(md, keys, roleKeys, role);
      return md;
    } catch {
      return null;
    }
  }

  // -------------------------------------------------------------------------------------------

  async run(): Promise<TrustedRepo> {
    if (!isValidGun(this.gun)) throw new UpdateError('MALFORMED', `invalid GUN ${JSON.stringify(this.gun.slice(0, 300))}`);
    await this.ping();
    const { trusted, pin } = await this.trustedRoot();

    let first: UpdateError;
    try {
      return await this.updateRoles(trusted);
    } catch (e) {
      first = asUpdateError(e);
      if (first.code === 'CACHE') throw first;
    }
    // spec 5.6 step 7: something failed; a newer root may explain it (key rotation)
    let root: Root;
    try {
      root = await this.updateRoot(trusted, this.rootHint, pin);
    } catch (e) {
      const err = asUpdateError(e, 'root');
      if (err.code === 'OFFLINE' || err.code === 'REMOTE' || err.code === 'UNAUTHORIZED') {
        throw new UpdateError(first.code, `${first.message} (and no newer root could be fetched: ${err.message})`, { role: first.role, cause: first });
      }
      throw err;
    }
    return await this.updateRoles(root);
  }

  /** Step 1: ping; a server that does not answer 2xx/401 means working from the cache. */
  private async ping(): Promise<void> {
    if (this.opts.offline) {
      this.online = false;
      this.source = OFFLINE_SOURCE;
      return;
    }
    try {
      await this.opts.remote.ping();
    } catch (e) {
      if (e instanceof RemoteError && (e.code === 'UNAUTHORIZED' || e.code === 'AUTH')) return;
      if (e instanceof RemoteError) {
        this.online = false;
        this.source = OFFLINE_SOURCE;
        this.warn(`the trust server cannot be reached (${e.message}); using cached trust data only`, true);
        return;
      }
      throw asUpdateError(e);
    }
  }

  /** Step 2: the cached root (its own signatures; it is the pin), or a first root by TOFU/pinning. */
  private async trustedRoot(): Promise<{ trusted: Root; pin: RootPin | undefined }> {
    const pinning = this.opts.pinning ?? NO_PINNING;
    let cached: Buffer | null;
    try {
      cached = this.cache.read(this.gun, 'root', REMOTE_LIMITS.maxRootBytes);
    } catch (e) {
      throw new UpdateError('CACHE', `the cached root of ${this.gun} cannot be read: ${(e as Error).message}`, { role: 'root', cause: e });
    }
    if (cached) {
      let trusted: Root;
      try {
        trusted = parseMetadata(cached, 'root', REMOTE_LIMITS.maxRootBytes);
        verifyRoot(trusted, { gun: this.gun, now: this.now, checkExpiry: false });
      } catch (e) {
        // the cached root is the trust anchor: never fall back to trusting the server
        throw new UpdateError('CACHE', `the cached root of ${this.gun} is invalid (${(e as Error).message}); remove the cached metadata to trust the server's root again`, {
          role: 'root',
          cause: e,
        });
      }
      if (this.opts.requireRemote) {
        const b = await this.fetch('root', REMOTE_LIMITS.maxRootBytes, 'root');
        if (b === null) throw new UpdateError('REPOSITORY_NOT_FOUND', `the trust server has no trust data for ${this.gun}`, { role: 'root' });
      }
      // an expired cached root is replaced by a fresh one, which pins must then also allow
      let pin: RootPin | undefined;
      if (trusted.body.expires < this.now) {
        try {
          pin = rootPinFor(pinning, this.gun, { firstContact: false, now: this.now });
        } catch (e) {
          throw asUpdateError(e, 'root');
        }
      }
      return { trusted, pin };
    }

    let pin: RootPin;
    try {
      pin = rootPinFor(pinning, this.gun, { firstContact: true, now: this.now });
    } catch (e) {
      throw asUpdateError(e, 'root');
    }
    let bytes: Buffer | null;
    try {
      bytes = await this.fetch('root', REMOTE_LIMITS.maxRootBytes, 'root');
    } catch (e) {
      const err = asUpdateError(e, 'root');
      if (err.code === 'OFFLINE') throw new UpdateError('OFFLINE', `no trust data for ${this.gun} is cached and the trust server cannot be reached`, { role: 'root', cause: e });
      throw err;
    }
    if (bytes === null) throw new UpdateError('REPOSITORY_NOT_FOUND', `the trust server has no trust data for ${this.gun}`, { role: 'root' });
    const probe = new PinProbe(pin);
    let root: Root;
    try {
      root = parseMetadata(bytes, 'root', REMOTE_LIMITS.maxRootBytes);
      verifyRoot(root, { gun: this.gun, now: this.now, checkExpiry: true, pin: probe.filter });
    } catch (e) {
      if (probe.refusedAll && pin.mode !== 'tofu') {
        throw new UpdateError('PINNING', `the root of ${this.gun} does not match the trust pinning (${pin.mode} ${JSON.stringify(pin.entry)})`, { role: 'root', cause: e });
      }
      throw asUpdateError(e, 'root');
    }
    this.store('root', bytes);
    const keyIds = probe.accepted.map((k) => k.id);
    const canonicalIds = probe.accepted.map((k) => canonicalKeyId(k));
    const fingerprint = keyIds.join(', ');
    this.opts.onFirstUse?.(fingerprint, { gun: this.gun, keyIds, canonicalIds, version: root.body.version, mode: pin.mode });
    return { trusted: root, pin };
  }

  /** Steps 3 to 6 with a given root. */
  private async updateRoles(root: Root): Promise<TrustedRepo> {
    this.attempt = [];
    this.rootHint = undefined;
    // freeze: an expired root must be replaced before anything it vouches for is trusted
    checkRootFresh(root, this.now);
    const timestamp = await this.updateTimestamp(root);
    const snapshot = await this.updateSnapshot(root, timestamp);
    // the snapshot names the root it was made with; ours must be that root (spec 5.6 step 7)
    const rootMeta = snapshot.body.meta.get('root') as FileMeta;
    this.rootHint = rootMeta;
    if (!matches(root.bytes, rootMeta)) {
      throw new UpdateError('HASH', 'root: the snapshot names a different root than the trusted one', { role: 'root' });
    }
    const { targets, roles, invalid } = await this.updateTargets(root, snapshot);
    this.warnNearExpiry(root, snapshot, targets);
    return {
      gun: this.gun,
      root,
      timestamp,
      snapshot,
      targets,
      roles,
      invalid,
      warnings: [...this.lasting, ...this.attempt],
      offline: !this.online,
    };
  }

  /** Step 3: always ask for the newest timestamp; fall back to a valid cached one if unavailable. */
  private async updateTimestamp(root: Root): Promise<Timestamp> {
    const role = root.body.roles.get('timestamp') as RoleKeys;
    const keys = root.body.keys;
    const cachedBytes = this.readCached('timestamp', REMOTE_LIMITS.maxTimestampBytes);
    // rollback floor: the cached version, while the current timestamp keys still vouch for it
    // (after a key rotation the floor resets: fast-forward recovery)
    const cached = this.signedVersion('timestamp', 'timestamp', cachedBytes, keys, role) as Timestamp | null;

    let bytes: Buffer | null = null;
    let unavailable: UpdateError | undefined;
    try {
      bytes = await this.source.getMetadata(this.gun, 'timestamp', REMOTE_LIMITS.maxTimestampBytes);
      if (bytes === null) unavailable = new UpdateError('MISSING', 'timestamp: the trust server has no timestamp', { role: 'timestamp' });
    } catch (e) {
      if (!isUnavailable(e)) throw asUpdateError(e, 'timestamp');
      unavailable = asUpdateError(e, 'timestamp');
    }
    if (unavailable) {
      if (!cached) throw unavailable;
      try {
        checkNotExpired(cached, 'timestamp', this.now);
      } catch (e) {
        throw new UpdateError('EXPIRED', `timestamp: the cached timestamp has expired and a new one cannot be fetched (${unavailable.message})`, { role: 'timestamp', cause: e });
      }
      this.warn(`using the cached timestamp (${unavailable.message}); it might not be the latest version available remotely`);
      return cached;
    }
    const ts = verifyDownloaded('timestamp', 'timestamp', bytes as Buffer, { keys, role, floor: cached?.body.version ?? 1, now: this.now });
    this.store('timestamp', bytes as Buffer);
    return ts;
  }

  /** Step 4: the snapshot the timestamp names, by hash, at most its length. */
  private async updateSnapshot(root: Root, ts: Timestamp): Promise<Snapshot> {
    const meta = ts.body.snapshot;
    const hex = sha256Hex(meta, 'snapshot');
    const role = root.body.roles.get('snapshot') as RoleKeys;
    const keys = root.body.keys;
    const cachedBytes = this.readCached('snapshot');
    const cached = this.signedVersion('snapshot', 'snapshot', cachedBytes, keys, role);
    if (cachedBytes && cached && matches(cachedBytes, meta)) {
      try {
        return verifyDownloaded('snapshot', 'snapshot', cachedBytes, { meta, keys, role, floor: 1, now: this.now });
      } catch {
        // fall through to a download
      }
    }
    const bytes = await this.fetch(`snapshot.${hex}`, meta.length, 'snapshot');
    if (bytes === null) throw new UpdateError('MISSING', `snapshot: the trust server has no snapshot.${hex}.json`, { role: 'snapshot' });
    const sn = verifyDownloaded('snapshot', 'snapshot', bytes, { meta, keys, role, floor: cached?.body.version ?? 1, now: this.now });
    this.store('snapshot', bytes);
    return sn;
  }

  /**
   * Step 5: the targets tree, pre-order depth-first from `targets`, each role named in the
   * snapshot fetched by hash. Delegations that are expired or under threshold are skipped with
   * their subtrees (fatal for `targets`); any other failure is fatal.
   */
  private async updateTargets(root: Root, snapshot: Snapshot): Promise<{ targets: Map<string, Targets>; roles: Map<string, EffectiveRole>; invalid: Map<string, Targets> }> {
    const targets = new Map<string, Targets>();
    const roles = new Map<string, EffectiveRole>();
    const invalid = new Map<string, Targets>();
    const visited = new Set<string>();
    let queue: EffectiveRole[] = [topTargetsRole(root)];
    while (queue.length > 0) {
      const role = queue.shift() as EffectiveRole;
      if (visited.has(role.name)) continue;
      visited.add(role.name);
      const meta = snapshot.body.meta.get(role.name);
      // a delegation without snapshot meta has no file yet
      if (!meta) continue;
      if (visited.size > CLIENT_LIMITS.maxTargetsRoles) {
        throw new UpdateError('TOO_LARGE', `more than ${CLIENT_LIMITS.maxTargetsRoles} targets roles`, { role: role.name });
      }
      const { md, problem } = await this.loadTargetsRole(role, meta);
      if (problem) {
        if (role.name === 'targets') throw problem;
        invalid.set(role.name, md);
        this.warn(`skipping ${role.name} and its delegations: ${problem.message}`);
        continue;
      }
      targets.set(role.name, md);
      roles.set(role.name, role);
      queue = [...validDelegations(md, role), ...queue];
    }
    return { targets, roles, invalid };
  }

  /**
   * One targets file: the cached copy when its bytes are the ones the snapshot names and it is
   * valid, else a download. Returns the document with `problem` set when it parsed and matched
   * its hash but is expired or under threshold; throws for anything else.
   */
  private async loadTargetsRole(role: EffectiveRole, meta: FileMeta): Promise<{ md: Targets; problem?: UpdateError }> {
    const hex = sha256Hex(meta, role.name);
    const roleKeys: RoleKeys = { keyids: role.keyids, threshold: role.threshold };
    const cachedBytes = this.readCached(role.name);
    const cached = this.signedVersion('targets', role.name, cachedBytes, role.keys, roleKeys);
    if (cachedBytes && cached && matches(cachedBytes, meta)) {
      try {
        return { md: verifyDownloaded('targets', role.name, cachedBytes, { meta, keys: role.keys, role: roleKeys, floor: 1, now: this.now }) };
      } catch {
        // fall through to a download
      }
    }
    const bytes = await this.fetch(`${role.name}.${hex}`, meta.length, role.name);
    if (bytes === null) throw new UpdateError('MISSING', `${role.name}: the trust server has no ${role.name}.${hex}.json`, { role: role.name });
    let md: Targets;
    try {
      checkFileMeta(bytes, meta, role.name);
      md = parseMetadata(bytes, 'targets');
    } catch (e) {
      throw asUpdateError(e, role.name);
    }
    try {
      verifyThreshold(md, role.keys, roleKeys, role.name);
    } catch (e) {
      return { md, problem: asUpdateError(e, role.name) };
    }
    try {
      // rollback: never lower than the version the same keys signed before
      checkVersion(role.name, md.body.version, cached?.body.version ?? 1, true);
    } catch (e) {
      throw asUpdateError(e, role.name);
    }
    try {
      checkNotExpired(md, role.name, this.now);
    } catch (e) {
      return { md, problem: asUpdateError(e, role.name) };
    }
    this.store(role.name, bytes);
    return { md };
  }

  /**
   * Step 7: a newer root. By hash when the snapshot named one, else root.json; it must be signed
   * by the trusted root, or be reached through `<v>.root.json` versions each signed by the one
   * before (both thresholds, spec 3.5). Never a lower version than the trusted root.
   */
  private async updateRoot(trusted: Root, hint: FileMeta | undefined, pin: RootPin | undefined): Promise<Root> {
    let bytes: Buffer;
    if (hint) {
      // the snapshot names our own root: nothing newer to learn
      if (matches(trusted.bytes, hint)) return trusted;
      const hex = sha256Hex(hint, 'root');
      if (hint.length > REMOTE_LIMITS.maxRootBytes) {
        throw new UpdateError('TOO_LARGE', `root is said to be ${hint.length} bytes, more than the ${REMOTE_LIMITS.maxRootBytes} allowed`, { role: 'root' });
      }
      const b = await this.fetch(`root.${hex}`, hint.length, 'root');
      if (b === null) throw new UpdateError('MISSING', `root: the trust server has no root.${hex}.json`, { role: 'root' });
      try {
        checkFileMeta(b, hint, 'root');
      } catch (e) {
        throw asUpdateError(e, 'root');
      }
      bytes = b;
    } else {
      const b = await this.fetch('root', REMOTE_LIMITS.maxRootBytes, 'root');
      if (b === null) throw new UpdateError('REPOSITORY_NOT_FOUND', `the trust server no longer has trust data for ${this.gun}`, { role: 'root' });
      bytes = b;
    }
    if (bytes.equals(trusted.bytes)) return trusted;

    let newest: Root;
    try {
      newest = parseMetadata(bytes, 'root', REMOTE_LIMITS.maxRootBytes);
      // rollback: a root older than the trusted one is refused
      checkVersion('root', newest.body.version, trusted.body.version, true);
    } catch (e) {
      throw asUpdateError(e, 'root');
    }
    const verify = (next: Root, prev: Root, checkExpiry: boolean) => {
      const probe = new PinProbe(pin);
      try {
        verifyRoot(next, { gun: this.gun, trusted: prev, now: this.now, checkExpiry, pin: probe.filter });
      } catch (e) {
        if (probe.refusedAll && pin && pin.mode !== 'tofu') {
          throw new UpdateError('PINNING', `root version ${next.body.version} does not match the trust pinning (${pin.mode} ${JSON.stringify(pin.entry)})`, { role: 'root', cause: e });
        }
        const err = asUpdateError(e, 'root');
        if (err.code === 'SIGNATURE' || err.code === 'MALFORMED') {
          throw new UpdateError('ROOT_ROTATION', `root version ${next.body.version}: ${(e as Error).message}`, { role: 'root', cause: e });
        }
        throw err;
      }
    };

    if (signedByTrustedRoot(newest, trusted, this.gun, this.now)) {
      verify(newest, trusted, true);
    } else {
      const from = trusted.body.version;
      const to = newest.body.version;
      if (to <= from) {
        throw new UpdateError('ROOT_ROTATION', `root version ${to} is not signed by the trusted root version ${from}`, { role: 'root' });
      }
      if (to - from > CLIENT_LIMITS.maxRootChain) {
        throw new UpdateError('TOO_LARGE', `root rotation from version ${from} to ${to} is longer than ${CLIENT_LIMITS.maxRootChain} versions`, { role: 'root' });
      }
      // each intermediate root must be signed by the previous one; their expiry does not matter
      let prev = trusted;
      for (let v = from + 1; v < to; v++) {
        const b = await this.fetch(`${v}.root`, REMOTE_LIMITS.maxRootBytes, 'root');
        if (b === null) throw new UpdateError('MISSING', `root: the trust server has no ${v}.root.json to rotate from version ${from} to ${to}`, { role: 'root' });
        let r: Root;
        try {
          r = parseMetadata(b, 'root', REMOTE_LIMITS.maxRootBytes);
        } catch (e) {
          throw asUpdateError(e, 'root');
        }
        if (r.body.version !== v) {
          throw new UpdateError('VERSION', `root: ${v}.root.json holds version ${r.body.version}`, { role: 'root' });
        }
        verify(r, prev, false);
        prev = r;
      }
      verify(newest, prev, true);
    }
    this.store('root', bytes);
    return newest;
  }

  /** Roles within six months of expiry get a warning (the timestamp is the server's business). */
  private warnNearExpiry(root: Root, snapshot: Snapshot, targets: Map<string, Targets>): void {
    const soon = this.now + NEAR_EXPIRY_MS;
    if (root.body.expires < soon) this.warn('root is nearing expiry, you should re-sign the role metadata');
    for (const [name, md] of targets) {
      if (md.body.expires < soon) this.warn(`${name} metadata is nearing expiry, you should re-sign the role metadata`);
    }
    if (snapshot.body.expires < soon) this.warn('snapshot is nearing expiry, you should re-sign the role metadata');
  }
}

function checkRootFresh(root: Root, now: number): void {
  if (root.body.expires < now) {
    throw new UpdateError('EXPIRED', `root expired at ${formatGoTime(root.body.expires)}`, { role: 'root' });
  }
}

/**
 * Verify a downloaded (or cached) file in notary's order: hash and length against the parent's
 * meta, shape, signatures and threshold, rollback, expiry.
 */
function verifyDownloaded<K extends 'timestamp' | 'snapshot' | 'targets'>(
  kind: K,
  roleName: string,
  bytes: Buffer,
  opts: { meta?: FileMeta; keys: ReadonlyMap<string, PublicKey>; role: RoleKeys; floor: number; now: number },
): Metadata<Extract<Timestamp['body'] | Snapshot['body'] | Targets['body'], { kind: K }>> {
  try {
    if (opts.meta) checkFileMeta(bytes, opts.meta, roleName);
    const md: Metadata = parseMetadata(bytes, kind as MetadataKind);
    verifyThreshold(md, opts.keys, opts.role, roleName);
    // rollback: never lower than the trusted version (equal allowed)
    checkVersion(roleName, md.body.version, opts.floor, true);
    // freeze
    checkNotExpired(md, roleName, opts.now);
    return md as Metadata<Extract<Timestamp['body'] | Snapshot['body'] | Targets['body'], { kind: K }>>;
  } catch (e) {
    throw asUpdateError(e, roleName);
  }
}

/**
 * Bring a repository's trusted state up to date (spec 5.6) and return it. Throws UpdateError
 * naming the refused role and why.
 */
export async function updateRepository(opts: UpdateOptions): Promise<TrustedRepo> {
  return new Updater(opts).run();
}

