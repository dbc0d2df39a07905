/**
 * Images as Docker Content Trust names them (docker/cli trust): the GUN is the fully qualified
 * repository name (`registry[:port]/repo/path`), the target name is the tag, and the target's
 * hashes are `{"sha256": <manifest digest>}` with `length` = manifest size. Nothing else.
 */
import { FileMeta, Gun, JsonObject, TargetsBody, fileMetaJson, parseGun, TufError } from '../tuf';
import {
  ImageReference,
  ManifestMediaType,
  RegistryClient,
  RegistryClientOptions,
  RegistryError,
  SHA256_DIGEST_RE,
  formatImageReference,
  parseImageReference,
} from './registry';

/** The delegation Docker signs into when it exists (docker trust signer add creates it). */
export const RELEASES_ROLE = 'targets/releases';

export interface ResolvedImage {
  reference: ImageReference;
  /** the trust collection: `registry[:port]/repo/path` */
  gun: Gun;
  /** the target name */
  tag: string;
  /** `sha256:<hex>` of the manifest (for a multi-arch image, of the index) */
  digest: string;
  /** manifest length in bytes */
  size: number;
  mediaType: ManifestMediaType;
}

/** A digest and size, the two facts a DCT target records about an image. */
export interface ImageDigest {
  digest: string;
  size: number;
}

/** The GUN of an image: its fully qualified name. */
export function imageGun(ref: ImageReference): Gun {
  try {
    return parseGun(ref.name);
  } catch (e) {
    throw new RegistryError('REFERENCE_INVALID', `${ref.name} cannot name a trust repository: ${(e as Error).message}`, { cause: e });
  }
}

/** Parse a reference for signing or verifying: it must name a tag, as DCT signs tags. */
export function parseTaggedReference(ref: string | ImageReference): ImageReference & { tag: string } {
  const parsed = typeof ref === 'string' ? parseImageReference(ref) : ref;
  if (parsed.tag === null) {
    throw new RegistryError('REFERENCE_INVALID', `${formatImageReference(parsed)} names no tag; content trust signs and verifies tags (registry/repo:tag)`);
  }
  return parsed as ImageReference & { tag: string };
}

/**
 * Resolve `registry/repo:tag` to what DCT signs: GUN, tag, manifest digest and size, read from the
 * registry and verified against the manifest bytes. `registry/repo:tag@sha256:...` additionally
 * requires the tag to point at that digest now (sign only what you reviewed).
 */
export async function resolveImage(ref: string | ImageReference, opts: RegistryClientOptions = {}): Promise<ResolvedImage> {
  const reference = parseTaggedReference(ref);
  const gun = imageGun(reference);
  const client = new RegistryClient(reference.domain, opts);
  const found = await client.resolveManifest(reference.path, reference.tag);
  if (reference.digest !== null && found.digest !== reference.digest) {
    throw new RegistryError(
      'DIGEST_MISMATCH',
      `${reference.name}:${reference.tag} now points to ${found.digest}, not the pinned ${reference.digest}`,
    );
  }
  return { reference, gun, tag: reference.tag, digest: found.digest, size: found.size, mediaType: found.mediaType };
}

/** The target meta DCT writes for an image: `{"hashes":{"sha256":...},"length":n}`. */
export function imageTargetMeta(image: ImageDigest): JsonObject {
  if (!SHA256_DIGEST_RE.test(image.digest)) throw new RegistryError('PROTOCOL', `not a sha256 digest: ${image.digest}`);
  if (!Number.isSafeInteger(image.size) || image.size < 0) throw new RegistryError('PROTOCOL', `not a manifest size: ${image.size}`);
  return fileMetaJson(image.size, { sha256: Buffer.from(image.digest.slice('sha256:'.length), 'hex') });
}

/** The image digest a signed target records; a target without a sha256 hash is no image. */
export function trustedDigest(meta: FileMeta): ImageDigest {
  const sha256 = meta.hashes.sha256;
  if (sha256 === undefined || sha256.length !== 32) {
    throw new TufError('HASH', 'the signed target has no sha256 hash, so it names no image manifest');
  }
  return { digest: `sha256:${sha256.toString('hex')}`, size: meta.length };
}

export type DigestComparison =
  | { $case: 'match'; digest: string; size: number }
  | { $case: 'mismatch'; trusted: ImageDigest | null; current: ImageDigest; message: string };

/**
 * Compare the signed target with what the registry serves now. Equal digests and sizes match;
 * anything else (including a target without sha256) is a mismatch whose message shows both.
 */
export function compareDigest(trusted: FileMeta | ImageDigest, current: ImageDigest): DigestComparison {
  let t: ImageDigest;
  try {
    t = 'hashes' in trusted ? trustedDigest(trusted) : trusted;
  } catch (e) {
    return { $case: 'mismatch', trusted: null, current, message: `${(e as Error).message}; the registry serves ${current.digest}` };
  }
  if (t.digest === current.digest && t.size === current.size) return { $case: 'match', digest: t.digest, size: t.size };
  const sizes = t.size !== current.size ? ` (signed ${t.size} bytes, served ${current.size} bytes)` : '';
  return {
    $case: 'mismatch',
    trusted: t,
    current,
    message: `signed digest ${t.digest} does not match the registry's ${current.digest}${sizes}`,
  };
}

/** `registry/repo@sha256:...`, the reference that pulls exactly the trusted manifest. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  if (!SHA256_DIGEST_RE.test(digest)) throw new RegistryError('PROTOCOL', `not a sha256 digest: ${digest}`);
  return `${ref.name}@${digest}`;
}

/** Where DCT signs a tag: targets/releases when the repository delegates it, else targets. */
export function imageSigningRole(targets: TargetsBody): 'targets' | typeof RELEASES_ROLE {
  return targets.delegations.some((d) => d.name === RELEASES_ROLE) ? RELEASES_ROLE : 'targets';
}
