/**
 * Image references as Docker reads them (distribution/reference: ParseNormalizedNamed and
 * TagNameOnly): `[registry[:port]/]repo/path[:tag][@sha256:<hex>]`, with Docker Hub's
 * normalisation (`alpine` -> `docker.io/library/alpine:latest`, `index.docker.io` -> `docker.io`).
 * Docker Content Trust names a repository by the fully qualified form, so this is where a GUN
 * comes from.
 */
import { RegistryError, printable } from './errors';

/** Docker Hub as it appears in names and GUNs. */
export const DOCKER_HUB_DOMAIN = 'docker.io';
/** Docker Hub's legacy name, normalised to DOCKER_HUB_DOMAIN. */
const LEGACY_DOCKER_HUB_DOMAIN = 'index.docker.io';
/** Where Docker Hub's distribution API actually answers. */
export const DOCKER_HUB_REGISTRY_HOST = 'registry-1.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
/** reference.NameTotalLengthMax: domain plus path */
export const MAX_NAME_LENGTH = 255;

// The grammar of distribution/reference regexp.go.
const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const REFERENCE_RE = new RegExp(`^((?:${DOMAIN_AND_PORT}/)?${REMOTE_NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const NAME_RE = new RegExp(`^(?:(${DOMAIN_AND_PORT})/)?(${REMOTE_NAME})$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN_AND_PORT}$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
/** The only digest Docker Content Trust records for an image. */
export const SHA256_DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export interface ImageReference {
  /** registry as written in names: `docker.io`, `localhost:5000`, `[::1]:5000` */
  readonly domain: string;
  /** repository path within the registry: `library/alpine`, `team/app` */
  readonly path: string;
  /** `domain/path`, the fully qualified name that Docker Content Trust uses as the GUN */
  readonly name: string;
  /** the tag; `latest` when the reference names neither tag nor digest */
  readonly tag: string | null;
  /** `sha256:<hex>` when the reference pins a manifest */
  readonly digest: string | null;
}

function invalid(ref: string, why: string): RegistryError {
  return new RegistryError('REFERENCE_INVALID', `invalid image reference ${JSON.stringify(printable(ref, 300))}: ${why}`);
}

/** Split a name into registry domain and repository path, as Docker's splitDockerDomain does. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { domain: DOCKER_HUB_DOMAIN, path: OFFICIAL_REPO_PREFIX + name };
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let path: string;
  if (first === 'localhost') [domain, path] = [first, rest];
  else if (first === LEGACY_DOCKER_HUB_DOMAIN) [domain, path] = [DOCKER_HUB_DOMAIN, rest];
  // a dot or a colon (port, IPv6) makes it a host; so does upper case, which paths may not hold
  else if (/[.:]/.test(first) || first.toLowerCase() !== first) [domain, path] = [first, rest];
  else [domain, path] = [DOCKER_HUB_DOMAIN, name];
  if (domain === DOCKER_HUB_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

/**
 * Parse a reference as `docker pull` would. A reference with neither tag nor digest gets the tag
 * `latest`; one with both keeps both (the digest pins what the tag must point to).
 */
export function parseImageReference(ref: string): ImageReference {
  if (typeof ref !== 'string' || ref.length === 0) throw invalid(String(ref), 'empty');
  if (ref.length > 1024) throw invalid(ref, 'longer than 1024 characters');
  if (IDENTIFIER_RE.test(ref)) throw invalid(ref, 'a 64-character hexadecimal string is an image ID, not a repository name');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) throw invalid(ref, 'write the registry without a URL scheme (registry.example.com/repo:tag)');

  // The name part ends where the tag or digest begins: split after the domain, then at ':' / '@'.
  const at = ref.indexOf('@');
  const beforeDigest = at === -1 ? ref : ref.slice(0, at);
  const digestPart = at === -1 ? null : ref.slice(at + 1);
  const { domain, path: remainder } = splitDomain(beforeDigest);
  const colon = remainder.lastIndexOf(':');
  const lastSlash = remainder.lastIndexOf('/');
  const hasTag = colon > lastSlash;
  const path = hasTag ? remainder.slice(0, colon) : remainder;
  const tag = hasTag ? remainder.slice(colon + 1) : null;

  if (path.toLowerCase() !== path) throw invalid(ref, `repository name ${JSON.stringify(printable(path))} must be lowercase`);
  const full = `${domain}/${path}${tag !== null ? `:${tag}` : ''}${digestPart !== null ? `@${digestPart}` : ''}`;
  const m = REFERENCE_RE.exec(full);
  if (!m) {
    if (tag !== null && !TAG_RE.test(tag)) throw invalid(ref, `tag ${JSON.stringify(printable(tag))} must be 1-128 of [A-Za-z0-9_.-], not starting with . or -`);
    if (!DOMAIN_RE.test(domain)) throw invalid(ref, `registry ${JSON.stringify(printable(domain))} is not a host[:port]`);
    if (digestPart !== null && !new RegExp(`^${DIGEST}$`).test(digestPart)) throw invalid(ref, 'a digest is written algorithm:hex, e.g. sha256:<64 hex digits>');
    throw invalid(ref, 'repository path components are lowercase letters and digits, separated by one of . _ __ or dashes, joined by /');
  }
  const name = m[1] ?? '';
  if (name.length > MAX_NAME_LENGTH) throw invalid(ref, `repository name must not be more than ${MAX_NAME_LENGTH} characters`);
  const nameParts = NAME_RE.exec(name);
  if (!nameParts || nameParts[1] !== domain || nameParts[2] !== path) throw invalid(ref, 'registry and repository path are ambiguous');
  if (digestPart !== null && !SHA256_DIGEST_RE.test(digestPart)) {
    throw invalid(ref, 'only sha256 digests are supported, written sha256:<64 lowercase hex digits>');
  }
  return {
    domain,
    path,
    name,
    tag: tag ?? (digestPart === null ? DEFAULT_TAG : null),
    digest: digestPart,
  };
}

/** The reference written out in full: `domain/path[:tag][@digest]`. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.name}${ref.tag !== null ? `:${ref.tag}` : ''}${ref.digest !== null ? `@${ref.digest}` : ''}`;
}

/** Where a registry domain's distribution API answers (Docker Hub is registry-1.docker.io). */
export function registryHost(domain: string): string {
  return domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_REGISTRY_HOST : domain;
}

const REMOTE_NAME_RE = new RegExp(`^${REMOTE_NAME}$`);

/** True for a repository path as Docker allows it (`team/app`, no registry part). */
export function isValidRepositoryPath(p: string): boolean {
  return p.length <= MAX_NAME_LENGTH && REMOTE_NAME_RE.test(p);
}

/** True for a tag as Docker allows it. */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
