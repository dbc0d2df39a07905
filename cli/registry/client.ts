/**
 * A small client of the OCI distribution API v2, enough to learn what a tag points to: ping
 * `/v2/`, authenticate as challenged, `HEAD` the manifest, then `GET` it by digest and hash the
 * bytes. The digest a registry names is never taken on its word: the body must hash to it, and to
 * the digest the caller pinned.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { parseJson, isJsonObject, TufError } from '../../tuf';
import { Challenge, PlainHttpPolicy, basicAuthorization, challengesOf, describeErrorBody, fetchBearerToken } from './auth';
import { RegistryCredentials, credentialsFromEnvironment } from './credentials';
import { RegistryError, printable } from './errors';
import { HttpResponse, Transport, header, httpRequest, isPlainHttpAnswer } from './http';
import { REGISTRY_LIMITS } from './limits';
import { ImageReference, SHA256_DIGEST_RE, formatImageReference, isValidRepositoryPath, isValidTag, registryHost } from './reference';

/** The manifest kinds Docker Content Trust can sign: their digest is the sha256 of their bytes. */
export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;
export type ManifestMediaType = (typeof MEDIA_TYPES)[keyof typeof MEDIA_TYPES];
const ACCEPTED: readonly string[] = Object.values(MEDIA_TYPES);
export const MANIFEST_ACCEPT = ACCEPTED.join(', ');

export function isManifestMediaType(t: string): t is ManifestMediaType {
  return ACCEPTED.includes(t);
}

/** True for an index of per-platform manifests (multi-arch). */
export function isIndexMediaType(t: ManifestMediaType): boolean {
  switch (t) {
    case MEDIA_TYPES.ociIndex:
    case MEDIA_TYPES.dockerManifestList:
      return true;
    case MEDIA_TYPES.ociManifest:
    case MEDIA_TYPES.dockerManifest:
      return false;
    default: {
      const never: never = t;
      throw new Error(`unknown media type ${String(never)}`);
    }
  }
}

/** What a tag or digest resolves to: exactly what Docker Content Trust signs. */
export interface ManifestDescriptor {
  /** `sha256:<hex>` of the manifest bytes, verified by hashing them */
  digest: string;
  /** length of the manifest bytes */
  size: number;
  mediaType: ManifestMediaType;
}

export interface RegistryClientOptions {
  /**
   * Credentials to use when challenged. Omitted: looked up when first needed from
   * VOUCH_REGISTRY_USER / VOUCH_REGISTRY_PASSWORD, then docker's config.json. `null`: anonymous.
   */
  credentials?: RegistryCredentials | null;
  /** environment for that lookup (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** home directory for ~/.docker/config.json (default os.homedir()) */
  homeDir?: string;
  /** PEM file of CA certificates to trust besides the system ones (--registry-cacert) */
  caFile?: string;
  /**
   * Registries (host[:port]) that may be spoken to over plain http when they do not speak TLS.
   * Loopback registries always may; `*` allows any (for test networks only).
   */
  plainHttpHosts?: readonly string[];
  timeoutMs?: number;
  maxManifestBytes?: number;
  userAgent?: string;
}

/** localhost, 127.0.0.0/8 and ::1, with or without a port. */
export function isLoopbackHost(hostAndPort: string): boolean {
  let host = hostAndPort;
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (v6) host = v6[1] ?? '';
  // a bare IPv6 address has several colons and no port
  else if ((host.match(/:/g) ?? []).length === 1) host = host.replace(/:\d+$/, '');
  host = host.toLowerCase();
  if (host === 'localhost' || host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** Whether plain http may be used for a host: loopback, or listed by the user. */
export function plainHttpPolicy(plainHttpHosts: readonly string[] = []): PlainHttpPolicy {
  const listed = new Set(plainHttpHosts.map((h) => h.toLowerCase()));
  return { allowsPlainHttp: (host: string) => listed.has('*') || listed.has(host.toLowerCase()) || isLoopbackHost(host) };
}

function sha256Digest(body: Buffer): string {
  return `sha256:${crypto.createHash('sha256').update(body).digest('hex')}`;
}

/** `Docker-Content-Digest`, if sent, checked for the only form we can verify. */
function contentDigest(res: HttpResponse, host: string): string | undefined {
  const d = header(res, 'docker-content-digest');
  if (d === undefined || d === '') return undefined;
  if (!SHA256_DIGEST_RE.test(d)) {
    throw new RegistryError('PROTOCOL', `${host} sent Docker-Content-Digest ${JSON.stringify(printable(d))}, not a sha256 digest`);
  }
  return d;
}

/**
 * The manifest's media type: the Content-Type the registry sent, which must agree with the
 * `mediaType` the manifest itself declares (when it declares one).
 */
function manifestMediaType(res: HttpResponse, body: Buffer, what: string): ManifestMediaType {
  const contentType = (header(res, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (/^application\/vnd\.docker\.distribution\.manifest\.v1\+(prettyjws|json)$/.test(contentType)) {
    throw new RegistryError('MEDIA_TYPE', `${what} is a Docker schema 1 manifest; Docker Content Trust signs only schema 2 and OCI manifests`);
  }
  let doc;
  try {
    doc = parseJson(body, REGISTRY_LIMITS.maxManifestBytes);
  } catch (e) {
    const why = e instanceof TufError ? e.message : String(e);
    throw new RegistryError('PROTOCOL', `${what}: the manifest is not valid JSON (${printable(why)})`, { cause: e });
  }
  if (!isJsonObject(doc)) throw new RegistryError('PROTOCOL', `${what}: the manifest is not a JSON object`);
  if (doc.schemaVersion !== 2) {
    throw new RegistryError('MEDIA_TYPE', `${what}: schemaVersion ${printable(String(doc.schemaVersion))} is not 2; only schema 2 and OCI manifests are signed`);
  }
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if (isManifestMediaType(contentType)) {
    if (declared !== undefined && declared !== contentType) {
      throw new RegistryError('MEDIA_TYPE', `${what}: served as ${contentType} but declares mediaType ${printable(declared)}`);
    }
    return contentType;
  }
  // a registry that labels manifests generically: trust only what the document itself says
  if ((contentType === '' || contentType === 'application/json') && declared !== undefined && isManifestMediaType(declared)) return declared;
  throw new RegistryError(
    'MEDIA_TYPE',
    `${what}: media type ${JSON.stringify(printable(contentType || declared || 'none'))} is not an image manifest or index`,
  );
}

export class RegistryClient {
  readonly domain: string;
  private readonly host: string;
  private readonly transport: Transport;
  private readonly policy: PlainHttpPolicy;
  private readonly maxManifestBytes: number;
  private base: URL | null = null;
  private challenges: Challenge[] = [];
  private readonly tokens = new Map<string, string>();
  private credentialsLoaded = false;
  private credentials: RegistryCredentials | undefined;

  constructor(
    domain: string,
    private readonly opts: RegistryClientOptions = {},
  ) {
    this.domain = domain;
    this.host = registryHost(domain);
    let ca: string[] | undefined;
    if (opts.caFile !== undefined) {
      let pem: string;
      try {
        pem = fs.readFileSync(opts.caFile, 'utf8');
      } catch (e) {
        throw new RegistryError('TLS', `cannot read registry CA file ${opts.caFile}: ${(e as Error).message}`, { cause: e });
      }
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new RegistryError('TLS', `registry CA file ${opts.caFile} holds no PEM certificate`);
      ca = [...tls.rootCertificates, pem];
    }
    this.transport = {
      ca,
      timeoutMs: opts.timeoutMs ?? REGISTRY_LIMITS.requestTimeoutMs,
      userAgent: opts.userAgent ?? 'vouch',
    };
    this.policy = plainHttpPolicy(opts.plainHttpHosts);
    this.maxManifestBytes = opts.maxManifestBytes ?? REGISTRY_LIMITS.maxManifestBytes;
    if (opts.credentials !== undefined) {
      this.credentialsLoaded = true;
      this.credentials = opts.credentials ?? undefined;
    }
  }

  private loadCredentials(): RegistryCredentials | undefined {
    if (!this.credentialsLoaded) {
      this.credentials = credentialsFromEnvironment(this.domain, this.opts.env ?? process.env, this.opts.homeDir);
      this.credentialsLoaded = true;
    }
    return this.credentials;
  }

  /**
   * `GET /v2/`: learn whether the registry speaks TLS (plain http is tried only for loopback or
   * allowed hosts, and only when the TLS attempt meets a plain-http answer) and how it wants us
   * to authenticate.
   */
  async ping(): Promise<void> {
    if (this.base) return;
    const candidates = [new URL(`https://${this.host}/v2/`)];
    if (this.policy.allowsPlainHttp(this.host)) candidates.push(new URL(`http://${this.host}/v2/`));
    let lastError: unknown;
    for (const url of candidates) {
      let res: HttpResponse;
      try {
        res = await httpRequest({ method: 'GET', url, headers: {}, maxBodyBytes: REGISTRY_LIMITS.maxErrorBodyBytes, overflow: 'truncate' }, this.transport);
      } catch (e) {
        lastError = e;
        if (url.protocol === 'https:' && isPlainHttpAnswer(e)) continue;
        break;
      }
      if (res.status === 200) {
        this.base = new URL('/v2/', url);
        return;
      }
      if (res.status === 401) {
        this.base = new URL('/v2/', url);
        this.challenges = challengesOf(res);
        return;
      }
      throw new RegistryError('PROTOCOL', `${url.host} is not an OCI distribution registry: GET /v2/ answered ${res.status}`);
    }
    if (lastError instanceof RegistryError && isPlainHttpAnswer(lastError) && !this.policy.allowsPlainHttp(this.host)) {
      throw new RegistryError(
        'INSECURE',
        `${this.host} does not speak TLS; plain http is used only for loopback registries or those listed as allowed`,
        { cause: lastError },
      );
    }
    throw lastError instanceof RegistryError ? lastError : new RegistryError('NETWORK', `cannot reach ${this.host}`);
  }

  /** The Authorization header for a scope under the current challenges, fetching a token if needed. */
  private async authorization(scope: string): Promise<string | undefined> {
    const bearer = this.challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      const cached = this.tokens.get(scope);
      if (cached !== undefined) return `Bearer ${cached}`;
      const token = await fetchBearerToken(bearer, scope, this.loadCredentials(), this.transport, this.policy);
      this.tokens.set(scope, token);
      return `Bearer ${token}`;
    }
    if (this.challenges.some((c) => c.scheme === 'basic')) {
      const creds = this.loadCredentials();
      if (!creds) return undefined;
      if (this.base?.protocol !== 'https:' && !this.policy.allowsPlainHttp(this.host)) {
        throw new RegistryError('INSECURE', `refusing to send credentials to ${this.host} over plain http`);
      }
      return basicAuthorization(creds);
    }
    return undefined;
  }

  /**
   * One request to the registry with the authorization its challenges ask for. A 401 carrying
   * new challenges (a registry that lets anyone ping but guards repositories) is answered once.
   */
  private async request(method: 'GET' | 'HEAD', path: string, scope: string, headers: Record<string, string>, maxBodyBytes: number): Promise<HttpResponse> {
    await this.ping();
    const base = this.base;
    if (!base) throw new RegistryError('NETWORK', `cannot reach ${this.host}`);
    const url = new URL(path, base);
    const send = async (auth: string | undefined) =>
      httpRequest(
        { method, url, headers: auth ? { ...headers, Authorization: auth } : headers, maxBodyBytes, overflow: 'fail' },
        this.transport,
      );
    const first = await this.authorization(scope);
    let res = await send(first);
    if (res.status === 401) {
      const challenges = challengesOf(res);
      if (challenges.length > 0) {
        this.challenges = challenges;
        this.tokens.delete(scope);
        const again = await this.authorization(scope);
        if (again !== undefined && again !== first) res = await send(again);
      }
    }
    return res;
  }

  private unauthorized(res: HttpResponse, what: string): RegistryError {
    const why = describeErrorBody(res);
    const creds = this.credentials;
    return new RegistryError(
      'UNAUTHORIZED',
      creds
        ? `${this.domain} refused ${JSON.stringify(creds.username)} (from ${creds.source}) access to ${what}${why ? ` (${why})` : ''}`
        : `${this.domain} requires credentials for ${what}${why ? ` (${why})` : ''}; set VOUCH_REGISTRY_USER and VOUCH_REGISTRY_PASSWORD, or docker login`,
    );
  }

  private failed(res: HttpResponse, what: string): RegistryError {
    if (res.status === 401 || res.status === 403) return this.unauthorized(res, what);
    const why = describeErrorBody(res);
    if (res.status === 404) return new RegistryError('NOT_FOUND', `${what} not found in ${this.domain}${why ? ` (${why})` : ''}`);
    if (res.status >= 300 && res.status < 400) {
      return new RegistryError('PROTOCOL', `${this.domain} redirected a manifest request (${res.status}); manifests are fetched only from the registry itself`);
    }
    return new RegistryError('PROTOCOL', `${this.domain} answered ${res.status} for ${what}${why ? ` (${why})` : ''}`);
  }

  /**
   * Resolve a tag or digest of repository `path` to its manifest's digest, size and media type.
   * HEAD learns the digest; GET fetches those exact bytes by digest, and they must hash to it.
   */
  async resolveManifest(path: string, reference: string): Promise<ManifestDescriptor> {
    // both end up in a URL path: only what Docker's grammar allows
    if (!isValidRepositoryPath(path)) throw new RegistryError('REFERENCE_INVALID', `invalid repository path ${JSON.stringify(printable(path))}`);
    if (!isValidTag(reference) && !SHA256_DIGEST_RE.test(reference)) {
      throw new RegistryError('REFERENCE_INVALID', `${JSON.stringify(printable(reference))} is neither a tag nor a sha256 digest`);
    }
    const scope = `repository:${path}:pull`;
    const what = `${this.domain}/${path}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
    const pinned = SHA256_DIGEST_RE.test(reference) ? reference : undefined;
    const accept = { Accept: MANIFEST_ACCEPT };
    const manifestPath = (ref: string) => `/v2/${path}/manifests/${ref}`;

    const head = await this.request('HEAD', manifestPath(reference), scope, accept, 0);
    let headDigest: string | undefined;
    let headSize: number | undefined;
    if (head.status === 200) {
      headDigest = contentDigest(head, this.domain);
      const len = header(head, 'content-length');
      if (len !== undefined && /^\d+$/.test(len)) headSize = Number(len);
      if (headSize !== undefined && headSize > this.maxManifestBytes) {
        throw new RegistryError('TOO_LARGE', `${what}: manifest of ${headSize} bytes is over the ${this.maxManifestBytes}-byte bound`);
      }
    } else if (head.status === 401 || head.status === 403 || head.status === 404) {
      throw this.failed(head, what);
    }
    // any other HEAD answer (405 from a registry without HEAD, say): the GET decides
    if (pinned && headDigest && headDigest !== pinned) {
      throw new RegistryError('DIGEST_MISMATCH', `${what}: the registry names digest ${headDigest} for it`);
    }

    // fetch by digest when known, so that the bytes cannot change between HEAD and GET
    const fetchRef = pinned ?? headDigest ?? reference;
    const get = await this.request('GET', manifestPath(fetchRef), scope, accept, this.maxManifestBytes);
    if (get.status !== 200) throw this.failed(get, what);
    const body = get.body;
    const actual = sha256Digest(body);
    const getDigest = contentDigest(get, this.domain);
    for (const [claimed, by] of [
      [pinned, 'the reference'],
      [headDigest, `${this.domain} (HEAD Docker-Content-Digest)`],
      [getDigest, `${this.domain} (GET Docker-Content-Digest)`],
    ] as const) {
      if (claimed !== undefined && claimed !== actual) {
        throw new RegistryError('DIGEST_MISMATCH', `${what}: manifest bytes hash to ${actual}, but ${by} names ${claimed}; refusing it`);
      }
    }
    if (headSize !== undefined && headDigest !== undefined && headSize !== body.length) {
      throw new RegistryError('DIGEST_MISMATCH', `${what}: HEAD announced ${headSize} bytes but the manifest has ${body.length}`);
    }
    return { digest: actual, size: body.length, mediaType: manifestMediaType(get, body, what) };
  }
}

/** Resolve an image reference (its digest if pinned, else its tag) to its manifest descriptor. */
export async function resolveManifest(ref: ImageReference, opts: RegistryClientOptions = {}): Promise<ManifestDescriptor> {
  const reference = ref.digest ?? ref.tag;
  if (reference === null) throw new RegistryError('REFERENCE_INVALID', `${formatImageReference(ref)} names neither tag nor digest`);
  return new RegistryClient(ref.domain, opts).resolveManifest(ref.path, reference);
}
