/**
 * Role names (spec 2.8) and GUNs.
 */
import { TufError } from './errors';
import { LIMITS } from './limits';

export const BASE_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type BaseRole = (typeof BASE_ROLES)[number];

/** A role name that passed validation: a base role or a delegation `targets/...`. */
export type RoleName = string & { readonly __role: unique symbol };

export function isBaseRole(r: string): r is BaseRole {
  return (BASE_ROLES as readonly string[]).includes(r);
}

/** Notary's delegation name rule: targets/..., [-a-z0-9_/], path-clean, shorter than 256 bytes. */
export function isDelegationName(r: string): boolean {
  if (!r.startsWith('targets/') || r.length > LIMITS.maxRoleNameBytes) return false;
  if (!/^[-a-z0-9_/]+$/.test(r)) return false;
  const segments = r.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return false;
  return segments.length - 1 <= LIMITS.maxDelegationDepth;
}

export function isValidRole(r: string): boolean {
  return isBaseRole(r) || isDelegationName(r);
}

export function parseRoleName(r: string): RoleName {
  if (!isValidRole(r)) throw new TufError('ROLE', `invalid role ${JSON.stringify(r.slice(0, 300))}`);
  return r as RoleName;
}

/** The parent of a delegation (`targets/a/b` -> `targets/a`); null for base roles. */
export function parentRole(r: string): string | null {
  if (!r.startsWith('targets/')) return null;
  return r.slice(0, r.lastIndexOf('/'));
}

export function isTargetsRole(r: string): boolean {
  return r === 'targets' || r.startsWith('targets/');
}

/** Delegation depth: targets = 0, targets/a = 1. */
export function roleDepth(r: string): number {
  return r.split('/').length - 1;
}

/** A GUN as it appears in URLs: non-empty, no `*`, path-clean, bounded, printable. */
export type Gun = string & { readonly __gun: unique symbol };

export const MAX_GUN_BYTES = 255;

export function isValidGun(g: string): boolean {
  if (g.length === 0 || Buffer.byteLength(g) > MAX_GUN_BYTES) return false;
  if (g.includes('*')) return false;
  // control characters, backslashes and whitespace have no place in a repository name
  if (/[\u0000-\u0020\u007f\\]/.test(g)) return false;
  const segments = g.split('/');
  return !segments.some((s) => s === '' || s === '.' || s === '..');
}

export function parseGun(g: string): Gun {
  if (!isValidGun(g)) throw new TufError('ROLE', `invalid GUN ${JSON.stringify(g.slice(0, 300))}`);
  return g as Gun;
}
