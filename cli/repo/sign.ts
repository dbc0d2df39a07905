/**
 * Signing what publishing changed (spec 5.5 step 3): each re-signed role gets version + 1 and a
 * fresh default expiry; signatures use the keys of the trust dir whose canonical IDs the role
 * lists (and name them by the ID the metadata lists: certificate IDs for x509 keys). Every
 * document is verified against its own role before it leaves: we never upload what a client
 * would refuse.
 */
import { JsonObject } from '../../tuf/canonical';
import { canonicalKeyId, PublicKey, Signature } from '../../tuf/keys';
import { DEFAULT_EXPIRY_MS, LIMITS } from '../../tuf/limits';
import {
  fileMetaOf,
  Metadata,
  Root,
  rootSigned,
  signMetadata,
  SigningKey,
  Snapshot,
  snapshotSigned,
  Targets,
  targetsSigned,
} from '../../tuf/metadata';
import { expiryFrom } from '../../tuf/time';
import { verifyThreshold } from '../../tuf/verify';
import { KeyStore } from '../keystore';
import { CliError } from '../output';
import { EditableRepo, EditableTargets } from './model';

function canonicalIdOf(k: PublicKey): string | null {
  try {
    return canonicalKeyId(k);
  } catch {
    return null;
  }
}

/** The keys of the trust dir among `candidates`, as signing keys named by the listed IDs. */
export async function signingKeysFor(keystore: KeyStore, candidates: PublicKey[]): Promise<SigningKey[]> {
  const out: SigningKey[] = [];
  const seen = new Set<string>();
  for (const k of candidates) {
    const cid = canonicalIdOf(k);
    if (!cid || seen.has(k.id) || !keystore.has(cid)) continue;
    seen.add(k.id);
    out.push({ key: await keystore.get(cid), keyid: k.id });
  }
  return out;
}

/** Whether the trust dir holds a key for any of `candidates` (no passphrase needed). */
export function holdsKeyFor(keystore: KeyStore, candidates: PublicKey[]): boolean {
  return candidates.some((k) => {
    const cid = canonicalIdOf(k);
    return cid !== null && keystore.has(cid);
  });
}

function keyMap(keys: PublicKey[]): Map<string, PublicKey> {
  return new Map(keys.map((k) => [k.id, k]));
}

function notEnough(role: string, have: number, need: number): CliError {
  return new CliError(
    'KEYS',
    have === 0
      ? `could not find necessary signing keys for ${role}: none of its keys is in this trust dir`
      : `not enough signing keys for ${role}: this trust dir holds ${have} of the ${need} its threshold needs`,
  );
}

export interface SignOptions {
  now: number;
}

/**
 * Sign root (version + 1). `extraSigners` are keys of previous roots whose signatures a rotation
 * needs (the trusted root's threshold must be met by its own keys, spec 3.5).
 */
export async function signRoot(repo: EditableRepo, keystore: KeyStore, opts: SignOptions & { extraSigners?: { keys: PublicKey[]; threshold: number }[] }): Promise<Root> {
  const r = repo.root;
  const version = r.version + 1;
  const expires = expiryFrom(opts.now, DEFAULT_EXPIRY_MS.root);
  const roles: Record<string, { keyids: string[]; threshold: number }> = {};
  for (const [name, role] of r.roles) roles[name] = role;
  // keys referenced by no role are kept only if they are certificates of earlier roots
  const signed = rootSigned({ keys: r.keys.values(), roles, version, expires });
  const own = repo.baseRole('root');
  const groups = [own, ...(opts.extraSigners ?? [])];
  const signers: SigningKey[] = [];
  const ids = new Set<string>();
  for (const g of groups) {
    const keys = await signingKeysFor(keystore, g.keys);
    if (keys.length < g.threshold) throw notEnough('root', keys.length, g.threshold);
    for (const k of keys) {
      if (!ids.has(k.keyid ?? k.key.public.id)) {
        ids.add(k.keyid ?? k.key.public.id);
        signers.push(k);
      }
    }
  }
  const md = signMetadata('root', signed, signers);
  verifyThreshold(md, keyMap(own.keys), { keyids: own.keys.map((k) => k.id), threshold: own.threshold }, 'root');
  for (const g of opts.extraSigners ?? []) verifyThreshold(md, keyMap(g.keys), { keyids: g.keys.map((k) => k.id), threshold: g.threshold }, 'root');
  return md;
}

/** Sign a targets or delegated targets role (version + 1, expiry now + 1095 days). */
export async function signTargets(repo: EditableRepo, t: EditableTargets, keystore: KeyStore, opts: SignOptions): Promise<Targets> {
  if (t.targets.size > 0 && t.targets.size > 10_000_000) throw new CliError('USAGE', `${t.role} has too many targets`);
  const { keys, threshold } = repo.signersOf(t.role);
  const signers = await signingKeysFor(keystore, keys);
  if (signers.length < threshold) throw notEnough(t.role, signers.length, threshold);
  for (const d of t.delegations) {
    if (d.keyids.length > 0 && d.threshold > d.keyids.length) {
      throw new CliError('USAGE', `delegation ${d.name} has threshold ${d.threshold} but only ${d.keyids.length} key(s)`);
    }
    if (d.keyids.length > LIMITS.maxKeysPerRole) throw new CliError('USAGE', `delegation ${d.name} has too many keys`);
  }
  const targets: JsonObject = {};
  for (const [name, meta] of t.targets) targets[name] = meta;
  const signed = targetsSigned({
    targets,
    delegationKeys: t.delegationKeys.values(),
    delegations: t.delegations,
    version: t.version + 1,
    expires: expiryFrom(opts.now, DEFAULT_EXPIRY_MS.targets),
  });
  const md = signMetadata('targets', signed, signers);
  verifyThreshold(md, keyMap(keys), { keyids: keys.map((k) => k.id), threshold }, t.role);
  return md;
}

/**
 * Sign the snapshot (version + 1): meta of the exact bytes of root and every targets file, keeping
 * entries of roles this session did not touch, dropping deleted delegations.
 */
export async function signSnapshot(repo: EditableRepo, files: Map<string, Buffer>, keystore: KeyStore, opts: SignOptions): Promise<Snapshot> {
  const { keys, threshold } = repo.baseRole('snapshot');
  const signers = await signingKeysFor(keystore, keys);
  if (signers.length < threshold) throw notEnough('snapshot', signers.length, threshold);
  const meta: JsonObject = {};
  for (const [role, m] of repo.snapshot?.meta ?? []) if (!repo.deleted.has(role)) meta[role] = m;
  for (const [role, bytes] of files) meta[role] = fileMetaOf(bytes);
  if (!meta.root || !meta.targets) throw new CliError('ERROR', 'a snapshot needs root and targets entries');
  const signed = snapshotSigned({ meta, version: (repo.snapshot?.version ?? 0) + 1, expires: expiryFrom(opts.now, DEFAULT_EXPIRY_MS.snapshot) });
  const md = signMetadata('snapshot', signed, signers);
  verifyThreshold(md, keyMap(keys), { keyids: keys.map((k) => k.id), threshold }, 'snapshot');
  return md;
}

/** Record a freshly signed document as the repository's current one. */
export function adopt(repo: EditableRepo, role: string, md: Metadata): void {
  if (role === 'root') {
    repo.root.version = md.body.version;
    repo.root.bytes = md.bytes;
    repo.root.signatures = md.signatures as Signature[];
    repo.root.expires = md.signed.expires as string;
    repo.root.dirty = false;
  } else if (role === 'snapshot') {
    const meta = new Map<string, JsonObject>();
    for (const [k, v] of Object.entries(md.signed.meta as JsonObject)) meta.set(k, v as JsonObject);
    repo.snapshot = { meta, version: md.body.version, expires: md.signed.expires as string, bytes: md.bytes };
  } else {
    const t = repo.targets.get(role);
    if (!t) return;
    t.version = md.body.version;
    t.bytes = md.bytes;
    t.signatures = md.signatures as Signature[];
    t.expires = md.signed.expires as string;
    t.dirty = false;
  }
}
