/**
 * An editable copy of a repository's metadata: what publishing changes before it signs.
 *
 * Built from trusted (verified) metadata or from the local files `init` wrote; edited by the
 * changelist (targets, delegations, witness) and by key rotations; serialised only through the
 * builders of tuf/metadata.ts, so every byte we upload is Go-normal (spec 2.9): fields Go knows,
 * nothing else.
 */
import { compareUtf8, isJsonObject, JsonObject, JsonValue } from '../../tuf/canonical';
import { canonicalKeyId, PublicKey, Signature } from '../../tuf/keys';
import { LIMITS } from '../../tuf/limits';
import { DelegatedRole, Root, RoleKeys, Snapshot, Targets } from '../../tuf/metadata';
import { isDelegationName, parentRole, roleDepth } from '../../tuf/roles';
import { formatGoTime } from '../../tuf/time';
import { validSignatureKeyIds } from '../../tuf/verify';
import { CliError } from '../output';

export interface EditableRoot {
  keys: Map<string, PublicKey>;
  roles: Map<string, RoleKeys>;
  version: number;
  expires: string;
  /** the bytes of the current version (as published or as init wrote them) */
  bytes: Buffer | null;
  signatures: Signature[];
  dirty: boolean;
}

export interface EditableTargets {
  role: string;
  /** target name -> Go-shaped file meta {custom?, hashes, length} */
  targets: Map<string, JsonObject>;
  delegationKeys: Map<string, PublicKey>;
  delegations: DelegatedRole[];
  /** the current version; 0 for a role with no file yet */
  version: number;
  expires: string;
  bytes: Buffer | null;
  signatures: Signature[];
  dirty: boolean;
}

export interface EditableSnapshot {
  meta: Map<string, JsonObject>;
  version: number;
  expires: string;
  bytes: Buffer | null;
}

export interface RepoSource {
  root: Root;
  targets: ReadonlyMap<string, Targets>;
  snapshot?: Snapshot | null;
}

/** A file meta of metadata with only the members Go knows, in Go's shape (spec 2.9). */
export function goFileMeta(v: JsonValue | undefined): JsonObject {
  if (!isJsonObject(v) || !isJsonObject(v.hashes) || typeof v.length !== 'number') throw new CliError('ERROR', 'file meta needs hashes and length');
  const out: JsonObject = { hashes: { ...v.hashes }, length: v.length };
  if (v.custom !== undefined && v.custom !== null) out.custom = v.custom;
  return out;
}

function targetsFrom(md: Targets, role: string): EditableTargets {
  const targets = new Map<string, JsonObject>();
  const raw = md.signed.targets;
  if (isJsonObject(raw)) for (const [name, meta] of Object.entries(raw)) targets.set(name, goFileMeta(meta));
  return {
    role,
    targets,
    delegationKeys: new Map(md.body.delegationKeys),
    delegations: md.body.delegations.map((d) => ({ ...d, keyids: [...d.keyids], paths: [...d.paths] })),
    version: md.body.version,
    expires: typeof md.signed.expires === 'string' ? md.signed.expires : formatGoTime(md.body.expires),
    bytes: md.bytes,
    signatures: [...md.signatures],
    dirty: false,
  };
}

export class EditableRepo {
  readonly gun: string;
  root: EditableRoot;
  readonly targets = new Map<string, EditableTargets>();
  snapshot: EditableSnapshot | null;
  /** delegations deleted in this session (their snapshot entries go) */
  readonly deleted = new Set<string>();

  constructor(gun: string, src: RepoSource) {
    this.gun = gun;
    const r = src.root;
    this.root = {
      keys: new Map(r.body.keys),
      roles: new Map([...r.body.roles].map(([k, v]) => [k, { keyids: [...v.keyids], threshold: v.threshold }])),
      version: r.body.version,
      expires: typeof r.signed.expires === 'string' ? r.signed.expires : formatGoTime(r.body.expires),
      bytes: r.bytes,
      signatures: [...r.signatures],
      dirty: false,
    };
    for (const [role, md] of src.targets) this.targets.set(role, targetsFrom(md, role));
    const s = src.snapshot;
    if (s) {
      const meta = new Map<string, JsonObject>();
      const raw = s.signed.meta;
      if (isJsonObject(raw)) for (const [name, m] of Object.entries(raw)) meta.set(name, goFileMeta(m));
      this.snapshot = { meta, version: s.body.version, expires: typeof s.signed.expires === 'string' ? s.signed.expires : formatGoTime(s.body.expires), bytes: s.bytes };
    } else this.snapshot = null;
  }

  /**
   * Take in a delegation the update judged invalid only because it expired: its signatures must
   * still meet the threshold its parent declares, so witnessing can re-sign it (spec 5.9) without
   * ever endorsing content its keys did not sign. Returns whether it was taken.
   */
  adoptExpired(role: string, md: Targets): boolean {
    const d = this.delegation(role);
    if (!d || this.targets.has(role)) return false;
    const valid = validSignatureKeyIds(md, new Map(d.keys.map((k) => [k.id, k])), { keyids: d.decl.keyids, threshold: d.decl.threshold });
    if (d.decl.threshold < 1 || valid.size < d.decl.threshold) return false;
    this.targets.set(role, targetsFrom(md, role));
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Roles and keys

  /** The keys and threshold of a base role from root. */
  baseRole(role: 'root' | 'targets' | 'snapshot' | 'timestamp'): { keys: PublicKey[]; threshold: number } {
    const r = this.root.roles.get(role);
    if (!r) throw new CliError('ERROR', `root has no ${role} role`);
    return { keys: r.keyids.map((id) => this.root.keys.get(id)).filter((k): k is PublicKey => k !== undefined), threshold: r.threshold };
  }

  /** The declaration of a delegation in its parent, with the parent's key objects. */
  delegation(role: string): { parent: EditableTargets; decl: DelegatedRole; keys: PublicKey[] } | null {
    const parentName = parentRole(role);
    if (!parentName) return null;
    const parent = this.targets.get(parentName);
    if (!parent) return null;
    const decl = parent.delegations.find((d) => d.name === role);
    if (!decl) return null;
    return { parent, decl, keys: decl.keyids.map((id) => parent.delegationKeys.get(id)).filter((k): k is PublicKey => k !== undefined) };
  }

  /** The keys and threshold that sign a targets role (targets from root, delegations from their parent). */
  signersOf(role: string): { keys: PublicKey[]; threshold: number } {
    if (role === 'targets') return this.baseRole('targets');
    const d = this.delegation(role);
    if (!d) throw new CliError('NOT_FOUND', `tuf: invalid role ${role}. this role is not known`);
    return { keys: d.keys, threshold: d.decl.threshold };
  }

  /** The editable file of a targets role, creating an empty one for a declared delegation. */
  targetsRole(role: string): EditableTargets {
    const existing = this.targets.get(role);
    if (existing) return existing;
    if (role === 'targets' || !this.delegation(role)) throw new CliError('NOT_FOUND', `tuf: invalid role ${role}. this role is not known`);
    const fresh: EditableTargets = {
      role,
      targets: new Map(),
      delegationKeys: new Map(),
      delegations: [],
      version: 0,
      expires: '',
      bytes: null,
      signatures: [],
      dirty: true,
    };
    this.targets.set(role, fresh);
    this.deleted.delete(role);
    return fresh;
  }

  /** A delegation's effective paths: its own paths inside every ancestor's (spec 2.5). */
  effectivePaths(role: string): string[] {
    if (role === 'targets') return [''];
    const d = this.delegation(role);
    if (!d) return [];
    const parentPaths = this.effectivePaths(d.parent.role);
    return d.decl.paths.filter((p) => parentPaths.some((pp) => p.startsWith(pp)));
  }

  // -------------------------------------------------------------------------------------------
  // Targets

  addTarget(role: string, name: string, meta: JsonObject): void {
    const t = this.targetsRole(role);
    if (role !== 'targets' && !this.effectivePaths(role).some((p) => name.startsWith(p))) {
      throw new CliError('USAGE', `tuf: invalid role ${role}: its paths do not include target ${JSON.stringify(name)}`);
    }
    t.targets.set(name, goFileMeta(meta));
    t.dirty = true;
  }

  removeTarget(role: string, name: string): void {
    const t = this.targetsRole(role);
    // removing a target that is not there still re-signs the role, as notary does
    t.targets.delete(name);
    t.dirty = true;
  }

  witness(role: string): void {
    if (role === 'targets') {
      const t = this.targets.get('targets');
      if (!t) throw new CliError('NOT_FOUND', 'the repository has no targets role');
      t.dirty = true;
      return;
    }
    const t = this.targets.get(role);
    if (!t || !this.delegation(role)) throw new CliError('NOT_FOUND', `tuf: invalid role ${role}. this role is not known`);
    t.dirty = true;
  }

  // -------------------------------------------------------------------------------------------
  // Delegations (tuf.go UpdateDelegationKeys / UpdateDelegationPaths / DeleteDelegation / Purge)

  private parentForEdit(role: string): EditableTargets {
    if (!isDelegationName(role)) throw new CliError('USAGE', `${JSON.stringify(role)} is not a valid delegation name (targets/..., lower-case [-a-z0-9_/])`);
    if (roleDepth(role) > LIMITS.maxDelegationDepth) throw new CliError('USAGE', `delegation ${role} is nested too deeply`);
    const parentName = parentRole(role) as string;
    const parent = this.targets.get(parentName);
    if (!parent) throw new CliError('NOT_FOUND', `cannot change delegation ${role}: its parent ${parentName} does not exist`);
    return parent;
  }

  /** Add keys (and a threshold) to a delegation, creating it when it does not exist. */
  updateDelegationKeys(role: string, addKeys: PublicKey[], removeCanonicalIds: string[], threshold?: number): void {
    const parent = this.parentForEdit(role);
    let decl = parent.delegations.find((d) => d.name === role);
    if (!decl) {
      if (addKeys.length === 0) throw new CliError('USAGE', `delegation ${role} does not exist: give at least one key to create it`);
      if (parent.delegations.length >= LIMITS.maxDelegations) throw new CliError('USAGE', `${parent.role} already declares ${LIMITS.maxDelegations} delegations`);
      decl = { name: role, keyids: [], threshold: threshold && threshold > 0 ? threshold : 1, paths: [] };
      parent.delegations.push(decl);
    }
    for (const k of addKeys) {
      parent.delegationKeys.set(k.id, k);
      if (!decl.keyids.includes(k.id)) decl.keyids.push(k.id);
    }
    if (removeCanonicalIds.length > 0) {
      const remove = new Set(removeCanonicalIds);
      decl.keyids = decl.keyids.filter((id) => {
        const k = parent.delegationKeys.get(id);
        return !(remove.has(id) || (k && remove.has(safeCanonicalId(k))));
      });
    }
    if (threshold && threshold > 0) decl.threshold = threshold;
    if (decl.keyids.length > LIMITS.maxKeysPerRole) throw new CliError('USAGE', `delegation ${role} would have more than ${LIMITS.maxKeysPerRole} keys`);
    pruneKeys(parent);
    parent.dirty = true;
  }

  updateDelegationPaths(role: string, addPaths: string[], removePaths: string[], clearPaths: boolean): void {
    const parent = this.parentForEdit(role);
    const decl = parent.delegations.find((d) => d.name === role);
    if (!decl) throw new CliError('NOT_FOUND', `delegation ${role} does not exist`);
    if (clearPaths) decl.paths = [];
    const remove = new Set(removePaths);
    decl.paths = decl.paths.filter((p) => !remove.has(p));
    for (const p of addPaths) if (!decl.paths.includes(p)) decl.paths.push(p);
    parent.dirty = true;
  }

  deleteDelegation(role: string): void {
    const parent = this.parentForEdit(role);
    const before = parent.delegations.length;
    parent.delegations = parent.delegations.filter((d) => d.name !== role);
    if (parent.delegations.length === before) throw new CliError('NOT_FOUND', `delegation ${role} does not exist`);
    pruneKeys(parent);
    parent.dirty = true;
    // the role and everything below it leave the repository
    for (const name of [...this.targets.keys()]) {
      if (name === role || name.startsWith(role + '/')) {
        this.targets.delete(name);
        this.deleted.add(name);
      }
    }
  }

  /** Remove keys (canonical or TUF IDs) from every delegation below a wildcard's parent. */
  purgeDelegationKeys(wildcard: string, ids: string[]): void {
    const start = wildcard.endsWith('/*') ? wildcard.slice(0, -2) : wildcard;
    const remove = new Set(ids);
    for (const t of this.targets.values()) {
      if (t.role !== start && !t.role.startsWith(start + '/')) continue;
      let changed = false;
      for (const d of t.delegations) {
        const keep = d.keyids.filter((id) => {
          const k = t.delegationKeys.get(id);
          return !(remove.has(id) || (k && remove.has(safeCanonicalId(k))));
        });
        if (keep.length !== d.keyids.length) {
          d.keyids = keep;
          changed = true;
        }
      }
      if (changed) {
        pruneKeys(t);
        t.dirty = true;
      }
    }
  }

  /** Roles (in tree order) that need signing. */
  dirtyTargets(): EditableTargets[] {
    return [...this.targets.values()].filter((t) => t.dirty).sort((a, b) => roleDepth(a.role) - roleDepth(b.role) || compareUtf8(a.role, b.role));
  }

  // -------------------------------------------------------------------------------------------
  // Base keys (rotation)

  /** Replace the keys of a base role (spec 5.9); old root certificates stay in `keys`. */
  replaceBaseKeys(role: 'root' | 'targets' | 'snapshot' | 'timestamp', keys: PublicKey[], threshold?: number): void {
    const current = this.root.roles.get(role);
    if (!current) throw new CliError('ERROR', `root has no ${role} role`);
    const old = current.keyids;
    for (const k of keys) this.root.keys.set(k.id, k);
    this.root.roles.set(role, { keyids: keys.map((k) => k.id), threshold: threshold ?? current.threshold });
    if (role !== 'root') {
      const used = new Set([...this.root.roles.values()].flatMap((r) => r.keyids));
      for (const id of old) if (!used.has(id)) this.root.keys.delete(id);
    }
    this.root.dirty = true;
  }
}

function safeCanonicalId(k: PublicKey): string {
  try {
    return canonicalKeyId(k);
  } catch {
    return k.id;
  }
}

/** Drop delegation keys no role of this file uses (the Go tools prune them). */
function pruneKeys(t: EditableTargets): void {
  const used = new Set(t.delegations.flatMap((d) => d.keyids));
  for (const id of [...t.delegationKeys.keys()]) if (!used.has(id)) t.delegationKeys.delete(id);
}
