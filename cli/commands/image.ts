/**
 * Images by registry reference, as Docker Content Trust treats them (issue 6, docs/cli.md):
 *
 *   vouch sign   <registry>/<repo>:<tag>   resolve the tag's manifest digest and size, sign, publish
 *   vouch verify <registry>/<repo>:<tag>   the registry's current digest must be the signed one
 *   vouch digest <registry>/<repo>:<tag>   the signed digest, and `repo@sha256:...` for docker pull
 *
 * GUN = the fully qualified repository name, target name = tag, target meta = `{"sha256": manifest
 * digest}` and the manifest length (for a multi-arch image, of the index). The trusted target is
 * looked up in targets/releases first, then targets, as Docker does.
 */
import { TufError } from '../../tuf';
import { UpdateError } from '../client/errors';
import { findTarget, TargetWithRole } from '../client/targets';
import { compareDigest, imageGun, ImageDigest, parseTaggedReference, pinnedReference, RELEASES_ROLE, ResolvedImage, resolveImage, trustedDigest } from '../images';
import { formatImageReference, ImageReference, RegistryClientOptions, RegistryError } from '../registry';
import { CliError } from '../output';
import { CommandContext, parseGunArg } from './context';
import { signTags, TagToSign } from './repo';

/** The roles Docker reads a signed tag from, in order. */
export const IMAGE_TARGET_ROLES: readonly string[] = [RELEASES_ROLE, 'targets'];

/** Flags that say how to reach the registry. */
export interface RegistryFlags {
  /** PEM CA bundle trusted for the registry's TLS, besides the system roots */
  registryCacert?: string;
  /** registries (host[:port]) that may be spoken to over plain http; loopback always may */
  registryPlainHttp?: string[];
}

export function registryOptions(flags: RegistryFlags): RegistryClientOptions {
  return { caFile: flags.registryCacert, plainHttpHosts: flags.registryPlainHttp ?? [] };
}

/**
 * A registry failure as the CLI reports it: auth problems and the network are exit 5, a missing
 * tag exit 4, a manifest that does not hash to its digest exit 3 (verification), a bad reference
 * exit 2.
 */
export function registryFailure(e: unknown): unknown {
  if (!(e instanceof RegistryError)) return e;
  const opts = { cause: e, detail: { registryError: e.code } };
  switch (e.code) {
    case 'REFERENCE_INVALID':
      return new CliError('USAGE', e.message, opts);
    case 'NOT_FOUND':
      return new CliError('NOT_FOUND', `registry: ${e.message}`, opts);
    case 'UNAUTHORIZED':
    case 'CREDENTIALS':
      return new CliError('NETWORK', `registry authentication failed: ${e.message}`, opts);
    case 'DIGEST_MISMATCH':
      return new CliError('UNTRUSTED', `registry: ${e.message}`, opts);
    case 'TOO_LARGE':
    case 'MEDIA_TYPE':
    case 'INSECURE':
    case 'TLS':
    case 'NETWORK':
    case 'PROTOCOL':
      return new CliError('NETWORK', `registry: ${e.message}`, opts);
    default: {
      const never: never = e.code;
      return new CliError('ERROR', `registry: unknown error ${String(never)}`, opts);
    }
  }
}

/** Run a registry step, reporting its failures in the CLI's terms. */
async function atRegistry<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw registryFailure(e);
  }
}

/** `registry/repo:tag` (optionally `@sha256:...`), parsed as docker does; an untagged ref is a usage error. */
function parseRef(ref: string): { reference: ImageReference & { tag: string }; gun: string } {
  try {
    const reference = parseTaggedReference(ref);
    return { reference, gun: parseGunArg(imageGun(reference)) };
  } catch (e) {
    throw registryFailure(e);
  }
}

/** The signed target for a tag, from targets/releases then targets; an unsigned tag is an error. */
async function signedTarget(ctx: CommandContext, gun: string, tag: string): Promise<TargetWithRole> {
  let trusted;
  try {
    trusted = await ctx.trusted(gun);
  } catch (e) {
    if (e instanceof UpdateError && e.code === 'REPOSITORY_NOT_FOUND') {
      throw new CliError('NOT_FOUND', `not trusted: ${gun}:${tag} is not signed (${e.message})`, { cause: e, detail: { gun, tag, trusted: false, signed: false } });
    }
    throw e;
  }
  const t = findTarget(trusted, tag, [...IMAGE_TARGET_ROLES]);
  if (!t) {
    throw new CliError('NOT_FOUND', `not trusted: ${gun}:${tag} is not signed (no target ${tag} in ${IMAGE_TARGET_ROLES.join(' or ')})`, {
      detail: { gun, tag, trusted: false, signed: false },
    });
  }
  return t;
}

/** The image digest a signed target records, or a verification failure naming the role. */
function digestOfTarget(gun: string, t: TargetWithRole): ImageDigest {
  try {
    return trustedDigest(t.meta);
  } catch (e) {
    if (e instanceof TufError) throw new CliError('UNTRUSTED', `not trusted: ${gun}:${t.name} (role ${t.role}): ${e.message}`, { cause: e });
    throw e;
  }
}

function imageDoc(img: ResolvedImage) {
  return { tag: img.tag, digest: img.digest, size: img.size, mediaType: img.mediaType, reference: formatImageReference(img.reference) };
}

// ---------------------------------------------------------------------------------------------
// sign

export interface SignImageFlags extends RegistryFlags {
  role?: string;
  keyAlgorithm?: string;
}

/**
 * `vouch sign <registry>/<repo>:<tag>...`: resolve each tag in the registry (the manifest bytes
 * are hashed, never taken on the registry's word), then sign them all in one publish.
 */
export async function cmdSignImage(ctx: CommandContext, refs: string[], flags: SignImageFlags): Promise<void> {
  if (refs.length === 0) throw new CliError('USAGE', 'sign needs <registry>/<repo>:<tag>');
  const parsed = refs.map(parseRef);
  const gun = (parsed[0] as { gun: string }).gun;
  if (parsed.some((p) => p.gun !== gun)) throw new CliError('USAGE', 'every image of one sign must be in the same repository');
  const opts = registryOptions(flags);
  const images: ResolvedImage[] = [];
  for (const p of parsed) {
    const img = await atRegistry(() => resolveImage(p.reference, opts));
    ctx.out.debug(`${formatImageReference(p.reference)} is ${img.mediaType} ${img.digest} (${img.size} bytes)`);
    images.push(img);
  }
  const tags: TagToSign[] = images.map((img) => ({
    tag: img.tag,
    sha256: Buffer.from(img.digest.slice('sha256:'.length), 'hex'),
    size: img.size,
  }));
  const { role, initialized, uploaded } = await signTags(ctx, gun, tags, flags);
  ctx.out.result(
    { gun, role, initialized, signed: images.map(imageDoc), uploaded },
    images.map((img) => `Signed ${gun}:${img.tag} (${img.digest}, ${img.size} bytes) into ${role}`).join('\n'),
  );
}

// ---------------------------------------------------------------------------------------------
// verify

export interface VerifyImageFlags extends RegistryFlags {
  quiet?: boolean;
  /** notary-form flags, refused here */
  input?: string;
  outputFile?: string;
  size?: string;
}

/**
 * `vouch verify <registry>/<repo>:<tag>`: exit 0 only when the manifest the registry serves for the
 * tag now is the one signed for it (digest and size); otherwise exit 3 showing both digests.
 */
export async function cmdVerifyImage(ctx: CommandContext, ref: string, flags: VerifyImageFlags): Promise<void> {
  if (flags.input !== undefined || flags.outputFile !== undefined || flags.size !== undefined) {
    throw new CliError('USAGE', 'verify <registry>/<repo>:<tag> reads the digest from the registry: -i, -o and --size belong to the other forms');
  }
  const { reference, gun } = parseRef(ref);
  const tag = reference.tag;
  // the trust data first: an unsigned tag fails whatever the registry says
  const t = await signedTarget(ctx, gun, tag);
  const img = await atRegistry(() => resolveImage(reference, registryOptions(flags)));
  const v = compareDigest(t.meta, img);
  const current = { digest: img.digest, size: img.size, mediaType: img.mediaType };
  switch (v.$case) {
    case 'match':
      if (!flags.quiet || ctx.out.json) {
        ctx.out.result(
          { gun, tag, trusted: true, digest: v.digest, size: v.size, role: t.role, mediaType: img.mediaType },
          `${gun}:${tag} is trusted: ${v.digest} (${v.size} bytes, role ${t.role})`,
        );
      }
      return;
    case 'mismatch':
      throw new CliError('UNTRUSTED', `not trusted: ${gun}:${tag}: ${v.message} (role ${t.role})`, {
        detail: { gun, tag, trusted: false, expected: v.trusted ? { ...v.trusted, role: t.role } : { digest: null, role: t.role }, current },
      });
    default: {
      const never: never = v;
      throw new Error(`unknown comparison ${JSON.stringify(never)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// digest

/**
 * `vouch digest <registry>/<repo>:<tag>`: the signed digest and the pinned reference that pulls
 * exactly it. Reads only the trust server. A reference that pins a digest must pin the signed one.
 */
export async function cmdDigest(ctx: CommandContext, ref: string): Promise<void> {
  const { reference, gun } = parseRef(ref);
  const tag = reference.tag;
  const t = await signedTarget(ctx, gun, tag);
  const d = digestOfTarget(gun, t);
  if (reference.digest !== null && reference.digest !== d.digest) {
    throw new CliError('UNTRUSTED', `not trusted: ${gun}:${tag} is signed for ${d.digest}, not the pinned ${reference.digest} (role ${t.role})`, {
      detail: { gun, tag, trusted: false, expected: { ...d, role: t.role }, asked: { digest: reference.digest } },
    });
  }
  const pinned = atPinned(reference, d.digest);
  ctx.out.result({ gun, tag, digest: d.digest, size: d.size, role: t.role, pinned }, `${d.digest}\n${pinned}`);
}

function atPinned(reference: ImageReference, digest: string): string {
  try {
    return pinnedReference(reference, digest);
  } catch (e) {
    throw registryFailure(e);
  }
}
