/**
 * Resolving targets in a verified repository (spec 5.8; notary's client/reader.go and
 * tuf/tuf.go WalkTargets): a breadth-first walk from `targets`, each role searched only for names
 * inside its effective paths, first match wins. With a role list (Docker passes
 * `[targets/releases, targets]`), each listed role's subtree is walked in turn, skipping the
 * subtrees of the other listed roles.
 *
 * Also the last step of every verification: a payload must match a target's length and every
 * hash the target lists that we support.
 */
import * as crypto from 'node:crypto';
import { compareUtf8, FileMeta, Targets } from '../../tuf';
import { EffectiveRole, pathAllowed, topTargetsRole, validDelegations } from './delegations';
import { TrustedRepo } from './update';

export interface TargetWithRole {
  name: string;
  /** the role whose metadata named the target */
  role: string;
  meta: FileMeta;
}

export type TargetErrorCode = 'TARGET_LENGTH' | 'TARGET_HASH' | 'TARGET_NO_HASH';

export class TargetError extends Error {
  readonly code: TargetErrorCode;
  constructor(code: TargetErrorCode, message: string) {
    super(message);
    this.name = 'TargetError';
    this.code = code;
  }
}

/** Visit result: keep walking (and descend into this role's children) or stop. */
type Visit = 'continue' | 'stop';

function isAncestorOrSelf(ancestor: string, role: string): boolean {
  return role === ancestor || role.startsWith(ancestor + '/');
}

/**
 * Notary's WalkTargets: breadth-first from `targets` (which implicitly has path ""). Roles that
 * are prefixes of `rolePath` are passed through; a role under `rolePath` whose paths allow
 * `targetName` (any name when null) and that is not skipped is visited, and its valid children
 * are queued. Only roles that verified in the update take part.
 */
function walkTargets(
  repo: TrustedRepo,
  targetName: string | null,
  rolePath: string,
  skip: ReadonlySet<string>,
  visit: (file: Targets, role: EffectiveRole) => Visit,
): void {
  const queue: EffectiveRole[] = [topTargetsRole(repo.root)];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const role = queue.shift() as EffectiveRole;
    if (seen.has(role.name)) continue;
    seen.add(role.name);
    const file = repo.targets.get(role.name);
    if (!file) continue;
    if (rolePath.startsWith(role.name + '/')) {
      // an ancestor of the requested subtree: pass through to its children
      queue.push(...validDelegations(file, role));
      continue;
    }
    const pathOk = targetName === null || pathAllowed(role, targetName);
    if (pathOk && isAncestorOrSelf(rolePath, role.name) && !skip.has(role.name)) {
      if (visit(file, role) === 'stop') return;
      queue.push(...validDelegations(file, role));
    }
  }
}

/**
 * The first role (in notary's search order) that names `name`, within its effective paths. With
 * `roles`, each listed role's subtree in priority order; default `targets` (the whole tree).
 */
export function findTarget(repo: TrustedRepo, name: string, roles: string[] = ['targets']): TargetWithRole | null {
  for (const rolePath of roles) {
    const skip = new Set(roles.filter((r) => r !== rolePath));
    let found: TargetWithRole | null = null;
    walkTargets(repo, name, rolePath, skip, (file, role) => {
      const meta = file.body.targets.get(name);
      if (meta) {
        found = { name, role: role.name, meta };
        return 'stop';
      }
      return 'continue';
    });
    if (found) return found;
  }
  return null;
}

/**
 * Every target the repository names, each from the first role (in priority order) that names it
 * within its effective paths; sorted by name.
 */
export function listTargets(repo: TrustedRepo, roles: string[] = ['targets']): TargetWithRole[] {
  const out = new Map<string, TargetWithRole>();
  for (const rolePath of roles) {
    const skip = new Set(roles.filter((r) => r !== rolePath));
    walkTargets(repo, null, rolePath, skip, (file, role) => {
      for (const [name, meta] of file.body.targets) {
        // first occurrence wins; a name outside the role's paths is ignored
        if (out.has(name) || !pathAllowed(role, name)) continue;
        out.set(name, { name, role: role.name, meta });
      }
      return 'continue';
    });
  }
  return [...out.values()].sort((a, b) => compareUtf8(a.name, b.name));
}

/** What is known about a payload: its length and any digests. */
export interface ObservedDigest {
  length?: number;
  sha256?: Buffer;
  sha512?: Buffer;
}

/**
 * A payload matches a target when its length equals the target's (when known) and every hash
 * the target lists that we support equals the payload's; at least one must be compared.
 */
export function verifyTargetDigest(target: TargetWithRole, observed: ObservedDigest): void {
  const m = target.meta;
  if (observed.length !== undefined && observed.length !== m.length) {
    throw new TargetError('TARGET_LENGTH', `${target.name}: the trust data expects ${m.length} bytes, got ${observed.length}`);
  }
  let compared = 0;
  for (const alg of ['sha256', 'sha512'] as const) {
    const want = m.hashes[alg];
    if (!want) continue;
    const got = observed[alg];
    if (!got) continue;
    if (want.length !== got.length || !crypto.timingSafeEqual(want, got)) {
      throw new TargetError('TARGET_HASH', `${target.name}: the trust data expects ${alg}:${want.toString('hex')}, got ${alg}:${got.toString('hex')}`);
    }
    compared++;
  }
  if (compared === 0) {
    const listed = Object.keys(m.hashes).join(', ') || 'none';
    throw new TargetError('TARGET_NO_HASH', `${target.name}: no hash to compare (the trust data lists ${listed})`);
  }
}

/** Verify payload bytes against a target: length and every supported hash it lists. */
export function verifyTargetBytes(target: TargetWithRole, bytes: Uint8Array): void {
  const observed: ObservedDigest = { length: bytes.length };
  if (target.meta.hashes.sha256) observed.sha256 = crypto.createHash('sha256').update(bytes).digest();
  if (target.meta.hashes.sha512) observed.sha512 = crypto.createHash('sha512').update(bytes).digest();
  verifyTargetDigest(target, observed);
}
