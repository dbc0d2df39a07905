/**
 * Verification: signatures against a role's keys and threshold, expiry, versions, hashes and
 * lengths, and the root validation algorithm of spec 3.5. Error messages follow Notary's, because
 * the server sends them to clients inside its error details.
 */
import * as crypto from 'node:crypto';
import { TufError } from './errors';
import { decodeBase64Strict, PublicKey, verifySignature } from './keys';
import { FileMeta, Metadata, Root, RoleKeys, signedMessage } from './metadata';
import { formatGoTime } from './time';
import { validRootCertificateKeys } from './x509';

/**
 * The key IDs whose signatures on `md` verify, among `role.keyids`. A key counts once; unknown key
 * IDs and unsupported methods are skipped; a key listed under an ID that is not its own fails hard.
 */
export function validSignatureKeyIds(md: Metadata, keys: ReadonlyMap<string, PublicKey>, role: RoleKeys): Set<string> {
  const allowed = new Set(role.keyids);
  const valid = new Set<string>();
  const message = signedMessage(md);
  for (const s of md.signatures) {
    if (!allowed.has(s.keyid) || valid.has(s.keyid)) continue;
    const key = keys.get(s.keyid);
    if (!key) continue;
    if (key.id !== s.keyid) throw new TufError('SIGNATURE', 'key ID is not valid for key content');
    let sig: Buffer;
    try {
      sig = decodeBase64Strict(s.sig, 'sig');
    } catch {
      continue;
    }
    if (verifySignature(key, s.method, message, sig)) valid.add(s.keyid);
  }
  return valid;
}

/** Throws unless signatures by distinct keys of `role` reach its threshold. */
export function verifyThreshold(md: Metadata, keys: ReadonlyMap<string, PublicKey>, role: RoleKeys, roleName: string): Set<string> {
  if (role.threshold < 1) throw new TufError('SIGNATURE', `invalid threshold for ${roleName}`);
  if (md.signatures.length === 0) throw new TufError('SIGNATURE', `no signatures on ${roleName}`);
  const valid = validSignatureKeyIds(md, keys, role);
  if (valid.size < role.threshold) {
    throw new TufError('SIGNATURE', `valid signatures did not meet threshold for ${roleName}`);
  }
  return valid;
}

/** freeze: an expired document is refused. */
export function checkNotExpired(md: Metadata, roleName: string, now: number): void {
  if (md.body.expires < now) {
    throw new TufError('EXPIRED', `${roleName} expired at ${new Date(md.body.expires).toUTCString()}`);
  }
}

/** rollback: a new version must not be lower than the trusted one (equal allowed when asked). */
export function checkVersion(roleName: string, next: number, trusted: number, allowEqual: boolean): void {
  if (next < trusted || (!allowEqual && next === trusted)) {
    throw new TufError('VERSION', `${roleName} version ${next} is lower than the trusted version ${trusted}`);
  }
}

const HASHERS: Record<string, string> = { sha256: 'sha256', sha512: 'sha512' };

/**
 * mix-and-match / endless data: bytes must have the length and every supported hash their
 * parent's meta names; at least one supported hash must be named.
 */
export function checkFileMeta(bytes: Uint8Array, meta: FileMeta, roleName: string, checkLength = true): void {
  if (checkLength && bytes.length !== meta.length) {
    throw new TufError('HASH', `${roleName} is ${bytes.length} bytes, expected ${meta.length}`);
  }
  let checked = 0;
  for (const [alg, want] of Object.entries(meta.hashes)) {
    const h = HASHERS[alg];
    if (!h) continue;
    const got = crypto.createHash(h).update(bytes).digest();
    if (!got.equals(want)) {
      throw new TufError('HASH', `${alg} checksum for ${roleName} did not match: expected ${want.toString('hex')}`);
    }
    checked++;
  }
  if (checked === 0) throw new TufError('HASH', `no supported hash for ${roleName}`);
}

export interface RootCheck {
  gun: string;
  /** the root trusted so far; absent on first contact */
  trusted?: Root;
  now: number;
  /** refuse an expired root (online updates) */
  checkExpiry: boolean;
  /** trust pinning: narrows the new root's certificate keys; return [] to refuse */
  pin?: (leaves: PublicKey[]) => PublicKey[];
}

function rootRoleKeys(root: Root): PublicKey[] {
  const r = root.body.roles.get('root');
  if (!r) return [];
  return r.keyids.map((id) => root.body.keys.get(id)).filter((k): k is PublicKey => k !== undefined);
}

function keyMap(keys: PublicKey[]): Map<string, PublicKey> {
  return new Map(keys.map((k) => [k.id, k]));
}

/**
 * Root validation (spec 3.5): the new root's certificates must pass the rules of 3.4; with a
 * trusted root, the new one must meet the trusted root's threshold with the trusted certificates
 * and its own threshold with its own; pins narrow the accepted certificates.
 */
export function verifyRoot(next: Root, check: RootCheck): void {
  const now = new Date(check.now);
  const nextRole = next.body.roles.get('root') as RoleKeys;
  const leaves = validRootCertificateKeys(rootRoleKeys(next), check.gun, { checkExpiry: true, now });
  if (leaves.length === 0) {
    throw new TufError('CERTIFICATE', 'could not validate the path to a trusted root: unable to retrieve valid leaf certificates');
  }
  if (check.trusted) {
    const oldRole = check.trusted.body.roles.get('root') as RoleKeys;
    const oldLeaves = validRootCertificateKeys(rootRoleKeys(check.trusted), check.gun, { checkExpiry: false, now });
    const valid = validSignatureKeyIds(next, keyMap(oldLeaves), { keyids: oldLeaves.map((k) => k.id), threshold: oldRole.threshold });
    if (valid.size < oldRole.threshold) {
      throw new TufError('SIGNATURE', 'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates');
    }
  }
  const pinned = check.pin ? check.pin(leaves) : leaves;
  if (pinned.length === 0) {
    throw new TufError('CERTIFICATE', 'could not validate the path to a trusted root: no root certificate matches the trust pinning');
  }
  const valid = validSignatureKeyIds(next, keyMap(pinned), { keyids: pinned.map((k) => k.id), threshold: nextRole.threshold });
  if (valid.size < nextRole.threshold) {
    throw new TufError('SIGNATURE', 'could not validate the path to a trusted root: failed to validate integrity of roots');
  }
  if (check.checkExpiry && next.body.expires < check.now) {
    throw new TufError('EXPIRED', `root expired at ${formatGoTime(next.body.expires)}`);
  }
}
