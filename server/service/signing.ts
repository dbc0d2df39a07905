/**
 * Signing with the online keys (timestamp, and snapshot when the server holds it) through the
 * KeyService, and building the documents the server generates (spec 1.4.2 steps 9 and 10).
 * Every signature that comes back is verified against the role's keys in root before the
 * document is stored: a misbehaving key holder cannot get a bad file served.
 */
import { JsonObject, isJsonObject } from '../../tuf/canonical';
import { canonicalKeyId, PublicKey, Signature } from '../../tuf/keys';
import { DEFAULT_EXPIRY_MS } from '../../tuf/limits';
import {
  assembleMetadata,
  fileMetaOf,
  Root,
  signingBytes,
  Snapshot,
  snapshotSigned,
  Timestamp,
  timestampSigned,
} from '../../tuf/metadata';
import { expiryFrom } from '../../tuf/time';
import { verifyThreshold } from '../../tuf/verify';
import { KeyNotHeldError, OnlineRole } from '../../signer/api';
import { ServerError } from '../errors';
import { errorMessage, ServiceContext } from './context';

/** The server cannot sign for a role: it holds none (or too few) of the keys root names for it. */
export class CannotSignError extends Error {
  constructor(readonly role: OnlineRole, message: string) {
    super(message);
    this.name = 'CannotSignError';
  }
}

function methodFor(key: PublicKey, role: OnlineRole): string {
  switch (key.keytype) {
    case 'ed25519':
      return 'eddsa';
    case 'ecdsa':
    case 'ecdsa-x509':
      return 'ecdsa';
    default:
      throw new CannotSignError(role, `the key service cannot sign with ${key.keytype} keys`);
  }
}

/** The keys root names for `role`, with the canonical IDs the key service knows them by. */
function rootKeysOf(root: Root, role: OnlineRole): { key: PublicKey; canonical: string }[] {
  const out: { key: PublicKey; canonical: string }[] = [];
  for (const id of root.body.roles.get(role)?.keyids ?? []) {
    const key = root.body.keys.get(id);
    if (!key) continue;
    try {
      out.push({ key, canonical: canonicalKeyId(key) });
    } catch {
      // a certificate key without a usable certificate: nobody can hold it
    }
  }
  return out;
}

/** The keys root names for `role` that the key service holds, in root's order. */
export async function heldKeys(ctx: ServiceContext, root: Root, role: OnlineRole): Promise<PublicKey[]> {
  const held: PublicKey[] = [];
  for (const { key, canonical } of rootKeysOf(root, role)) {
    let info;
    try {
      info = await ctx.keys.getKeyInfo(canonical);
    } catch (e) {
      throw new ServerError('UNKNOWN', undefined, `key service: ${errorMessage(e)}`, { cause: e });
    }
    // verify before trust: the holder's key must be the very key root lists
    if (info && info.key.id === canonical) held.push(key);
  }
  return held;
}

/**
 * Sign `signed` for an online role with every key root names that the key service holds, and
 * check the result against root. Signing is attempted directly (one call per key): a key the
 * holder does not have answers KeyNotHeldError and is skipped.
 */
async function signOnline<K extends 'snapshot' | 'timestamp'>(ctx: ServiceContext, kind: K, signed: JsonObject, root: Root) {
  const role = root.body.roles.get(kind);
  if (!role) throw new CannotSignError(kind, `root has no ${kind} role`);
  const message = signingBytes(signed);
  const signatures: Signature[] = [];
  for (const { key, canonical } of rootKeysOf(root, kind)) {
    let sig: Buffer;
    try {
      sig = await ctx.keys.sign(canonical, message);
    } catch (e) {
      if (e instanceof KeyNotHeldError) continue;
      throw new ServerError('UNKNOWN', undefined, `key service could not sign ${kind}: ${errorMessage(e)}`, { cause: e });
    }
    signatures.push({ keyid: key.id, method: methodFor(key, kind), sig: sig.toString('base64') });
  }
  if (signatures.length === 0 || signatures.length < role.threshold) {
    throw new CannotSignError(kind, `the server holds ${signatures.length} of the ${role.threshold} ${kind} keys it needs`);
  }
  const md = assembleMetadata(kind, message, signatures);
  try {
    verifyThreshold(md, root.body.keys, role, kind);
  } catch (e) {
    throw new ServerError('UNKNOWN', undefined, `key service returned ${kind} signatures that do not verify: ${errorMessage(e)}`, { cause: e });
  }
  return md;
}

export interface SnapshotInput {
  /** the snapshot being replaced; absent for a new repository */
  previous: Snapshot | null;
  /** the version to write (above every stored version) */
  version: number;
  /** role -> exact stored bytes whose meta is (re)computed: root and every targets file loaded */
  files: Map<string, Buffer>;
}

/** A server-signed snapshot: previous meta kept, meta of `files` recomputed over their exact bytes. */
export async function generateSnapshot(ctx: ServiceContext, root: Root, input: SnapshotInput): Promise<Snapshot> {
  const meta: JsonObject = {};
  const prevMeta = input.previous?.signed.meta;
  if (isJsonObject(prevMeta)) for (const [role, m] of Object.entries(prevMeta)) meta[role] = m;
  for (const [role, bytes] of input.files) meta[role] = fileMetaOf(bytes);
  const signed = snapshotSigned({ meta, version: input.version, expires: expiryFrom(ctx.now(), DEFAULT_EXPIRY_MS.snapshot) });
  return signOnline(ctx, 'snapshot', signed, root);
}

/** A server-signed timestamp over the exact snapshot bytes. */
export async function generateTimestamp(ctx: ServiceContext, root: Root, snapshotBytes: Buffer, version: number): Promise<Timestamp> {
  const signed = timestampSigned({ snapshotBytes, version, expires: expiryFrom(ctx.now(), DEFAULT_EXPIRY_MS.timestamp) });
  return signOnline(ctx, 'timestamp', signed, root);
}
