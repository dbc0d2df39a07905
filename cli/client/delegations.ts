/**
 * Delegated roles as a client sees them (spec 2.5, notary's tuf/data/roles.go): who may sign a
 * role (keys and threshold, from its parent's `delegations`) and which target names it may speak
 * for (its effective paths: only those of its own `paths` inside its parent's effective paths).
 */
import { PublicKey, Root, Targets } from '../../tuf';
import { isDelegationName, parentRole } from '../../tuf/roles';

/** A targets role with its signing keys and effective paths. */
export interface EffectiveRole {
  name: string;
  keyids: string[];
  threshold: number;
  /** key ID -> key, for the listed key IDs */
  keys: ReadonlyMap<string, PublicKey>;
  /** plain string prefixes; "" means every target */
  paths: string[];
}

/** The top-level `targets` role: keys from root, and implicitly every path. */
export function topTargetsRole(root: Root): EffectiveRole {
  const r = root.body.roles.get('targets');
  if (!r) throw new Error('root lacks the targets role');
  return { name: 'targets', keyids: [...r.keyids], threshold: r.threshold, keys: root.body.keys, paths: [''] };
}

/** A child's paths restricted to its parent's: a child path counts only under a parent path. */
export function restrictPaths(parentPaths: readonly string[], childPaths: readonly string[]): string[] {
  return childPaths.filter((p) => parentPaths.some((pp) => p.startsWith(pp)));
}

/** Whether a role may speak for a target name (plain prefix match, not globs). */
export function pathAllowed(role: EffectiveRole, targetName: string): boolean {
  return role.paths.some((p) => targetName.startsWith(p));
}

/**
 * The valid delegations a targets file declares, in array order: direct children of `parent`
 * only, every listed key present, threshold at least 1, paths restricted by the parent's. A name
 * listed twice counts once (the first entry), as notary looks roles up by name.
 */
export function validDelegations(file: Targets, parent: EffectiveRole): EffectiveRole[] {
  const out: EffectiveRole[] = [];
  const seen = new Set<string>();
  for (const d of file.body.delegations) {
    if (seen.has(d.name)) continue;
    seen.add(d.name);
    if (!isDelegationName(d.name) || parentRole(d.name) !== parent.name) continue;
    if (!Number.isSafeInteger(d.threshold) || d.threshold < 1) continue;
    const keys = new Map<string, PublicKey>();
    let complete = true;
    for (const id of d.keyids) {
      const k = file.body.delegationKeys.get(id);
      if (!k) {
        complete = false;
        break;
      }
      keys.set(id, k);
    }
    if (!complete) continue;
    out.push({ name: d.name, keyids: [...d.keyids], threshold: d.threshold, keys, paths: restrictPaths(parent.paths, d.paths) });
  }
  return out;
}
