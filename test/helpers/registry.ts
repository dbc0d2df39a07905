/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on loopback, with
 * filesystem storage in a temp dir, optionally TLS (dev PKI), and optionally token auth (served by
 * a tiny token server here that signs ES256 JWTs with an x5c chain the registry trusts) or htpasswd
 * basic auth (bcrypt). `pushImage` uploads small random images through the registry API: blobs,
 * then manifests, then (multi-arch) an index. Gate suites with describeWith(['docker-registry']).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import bcrypt from 'bcryptjs';
import { buildCertificate, KU, pemEncode } from '../../tuf';
import { DevPki, ensureDevPki } from '../../scripts/devpki';
import { freePort, waitForPort } from './net';
import { Proc, startProcess } from './proc';

// ---------------------------------------------------------------------------------------------
// Plain HTTP(S) calls for the helpers (independent of the client under test)

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function rawRequest(
  url: URL,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer; ca?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(
      url,
      {
        method: opts.method ?? 'GET',
        headers: { ...(opts.body ? { 'Content-Length': String(opts.body.length) } : {}), ...opts.headers },
        ca: opts.ca,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

// ---------------------------------------------------------------------------------------------
// Token server

export interface TokenRequest {
  account: string | null;
  scope: string | null;
  service: string | null;
  /** user name of the Basic credentials sent, if any */
  basicUser: string | null;
  status: number;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** PEM bundle with the token-signing certificate, for the registry's rootcertbundle */
  bundleFile: string;
  /** every token request seen, in order */
  requests: TokenRequest[];
  /** a signed token granting `access` (what the server grants an authorised user) */
  mint(access: { type: string; name: string; actions: string[] }[], subject?: string): string;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  dir: string;
  /** user -> password; these get every action they ask for */
  users: Record<string, string>;
  /** repositories anyone may pull; anonymous requests for others get a token granting nothing (as Docker Hub does for private repos) */
  publicRepos?: string[];
  tls?: { cert: string; key: string };
}

/** Parse `type:name:actions` (the name may hold colons, e.g. never here but allowed). */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return null;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const service = 'vouch-test-registry';
  const issuer = 'vouch-test-token-issuer';
  const signingKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const now = Date.now();
  const certDer = buildCertificate({
    subjectCN: 'vouch test token signer (throwaway)',
    subjectKey: signingKey,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 30 * 86_400_000),
    keyUsage: KU.digitalSignature,
  });
  const bundleFile = path.join(opts.dir, 'token-bundle.pem');
  fs.writeFileSync(bundleFile, pemEncode('CERTIFICATE', certDer));

  const mint = (access: { type: string; name: string; actions: string[] }[], subject = 'anonymous') => {
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const t = Math.floor(Date.now() / 1000);
    const claims = { iss: issuer, sub: subject, aud: service, exp: t + 300, nbf: t - 10, iat: t, jti: crypto.randomBytes(12).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    // JWS ES256 is the raw r||s pair, not DER
    const sig = crypto.sign('sha256', Buffer.from(input), { key: signingKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64url(sig)}`;
  };

  const requests: TokenRequest[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const record: TokenRequest = {
      account: url.searchParams.get('account'),
      scope: url.searchParams.get('scope'),
      service: url.searchParams.get('service'),
      basicUser: null,
      status: 0,
    };
    requests.push(record);
    const reply = (status: number, body: object) => {
      record.status = status;
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token' || req.method !== 'GET') return reply(404, { details: 'not found' });
    let subject: string | null = null;
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Basic (.+)$/.exec(auth);
      const decoded = m ? Buffer.from(m[1] ?? '', 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      const user = colon > 0 ? decoded.slice(0, colon) : '';
      record.basicUser = user || null;
      const expected = Object.prototype.hasOwnProperty.call(opts.users, user) ? opts.users[user] : undefined;
      const given = decoded.slice(colon + 1);
      if (expected === undefined || colon <= 0 || !crypto.timingSafeEqual(crypto.createHash('sha256').update(given).digest(), crypto.createHash('sha256').update(expected).digest())) {
        return reply(401, { details: 'incorrect username or password' });
      }
      subject = user;
    }
    const access = [];
    const scope = record.scope ? parseScope(record.scope) : null;
    if (scope) {
      const isPublic = scope.type === 'repository' && (opts.publicRepos ?? []).includes(scope.name);
      const actions = subject !== null ? scope.actions : isPublic ? scope.actions.filter((a) => a === 'pull') : [];
      if (actions.length > 0) access.push({ ...scope, actions });
    }
    const token = mint(access, subject ?? 'anonymous');
    return reply(200, { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() });
  };
  const server = opts.tls ? https.createServer({ cert: fs.readFileSync(opts.tls.cert), key: fs.readFileSync(opts.tls.key) }, handler) : http.createServer(handler);
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
  return {
    realm: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}/token`,
    service,
    issuer,
    bundleFile,
    requests,
    mint,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------------------------------------
// The registry

export type RegistryAuth =
  | { $case: 'none' }
  | { $case: 'token'; users: Record<string, string>; publicRepos?: string[] }
  | { $case: 'htpasswd'; users: Record<string, string> };

export interface RegistryOptions {
  tls?: boolean;
  auth?: RegistryAuth;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>`: the registry part of image references and GUNs */
  domain: string;
  /** `http(s)://127.0.0.1:<port>` */
  url: string;
  /** CA certificate file that verifies the registry's TLS certificate (when tls) */
  caFile: string | undefined;
  pki: DevPki | undefined;
  tokenServer: TokenServer | undefined;
  proc: Proc;
  /** the Authorization header a test uses to push to a repository (full rights) */
  adminAuthorization(repo: string): string | undefined;
  /** a registry API call with push rights */
  api(method: string, pathAndQuery: string, opts?: { headers?: Record<string, string>; body?: Buffer; repo?: string }): Promise<RawResponse>;
  stop(): Promise<void>;
}

const ADMIN_USER = 'vouch-test-admin';

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-registry-'));
  const auth = opts.auth ?? { $case: 'none' };
  const pki = opts.tls || auth.$case !== 'none' ? ensureDevPki(path.join(dir, 'pki')) : undefined;
  const port = await freePort();
  const scheme = opts.tls ? 'https' : 'http';
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${crypto.randomBytes(16).toString('hex')}`,
  ];
  if (opts.tls && pki) lines.push('  tls:', `    certificate: ${pki.serverCert}`, `    key: ${pki.serverKey}`);
  lines.push('health:', '  storagedriver:', '    enabled: false');

  let tokenServer: TokenServer | undefined;
  let adminPassword: string | undefined;
  switch (auth.$case) {
    case 'none':
      break;
    case 'token':
      tokenServer = await startTokenServer({
        dir,
        users: auth.users,
        publicRepos: auth.publicRepos,
        tls: opts.tls && pki ? { cert: pki.serverCert, key: pki.serverKey } : undefined,
      });
      lines.push(
        'auth:',
        '  token:',
        `    realm: ${tokenServer.realm}`,
        `    service: ${tokenServer.service}`,
        `    issuer: ${tokenServer.issuer}`,
        `    rootcertbundle: ${tokenServer.bundleFile}`,
      );
      break;
    case 'htpasswd': {
      adminPassword = crypto.randomBytes(12).toString('hex');
      const users = { ...auth.users, [ADMIN_USER]: adminPassword };
      // the registry accepts bcrypt entries only; cost 5 keeps tests fast
      const htpasswd = Object.entries(users)
        .map(([u, p]) => `${u}:${bcrypt.hashSync(p, 5)}`)
        .join('\n');
      const file = path.join(dir, 'htpasswd');
      fs.writeFileSync(file, `${htpasswd}\n`, { mode: 0o600 });
      lines.push('auth:', '  htpasswd:', '    realm: vouch-test-registry', `    path: ${file}`);
      break;
    }
    default: {
      const never: never = auth;
      throw new Error(`unknown auth ${JSON.stringify(never)}`);
    }
  }
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(configFile, `${lines.join('\n')}\n`);

  const proc = startProcess('docker-registry', ['serve', configFile]);
  await proc.waitFor(/listening on/, 30000);
  await waitForPort(port);

  const url = `${scheme}://127.0.0.1:${port}`;
  const ca = pki ? fs.readFileSync(pki.caCert, 'utf8') : undefined;
  const adminAuthorization = (repo: string): string | undefined => {
    switch (auth.$case) {
      case 'none':
        return undefined;
      case 'token':
        return `Bearer ${tokenServer?.mint([{ type: 'repository', name: repo, actions: ['pull', 'push', 'delete'] }], ADMIN_USER)}`;
      case 'htpasswd':
        return `Basic ${Buffer.from(`${ADMIN_USER}:${adminPassword}`).toString('base64')}`;
      default: {
        const never: never = auth;
        throw new Error(`unknown auth ${JSON.stringify(never)}`);
      }
    }
  };
  return {
    domain: `127.0.0.1:${port}`,
    url,
    caFile: pki && opts.tls ? pki.caCert : undefined,
    pki,
    tokenServer,
    proc,
    adminAuthorization,
    api(method, pathAndQuery, o = {}) {
      const authz = o.repo !== undefined ? adminAuthorization(o.repo) : undefined;
      return rawRequest(new URL(pathAndQuery, url), {
        method,
        body: o.body,
        ca,
        headers: { ...(authz ? { Authorization: authz } : {}), ...o.headers },
      });
    },
    async stop() {
      await proc.stop();
      await tokenServer?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Pushing images

export const OCI = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const DOCKER = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  index: 'application/vnd.docker.distribution.manifest.list.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface PushedManifest {
  digest: string;
  size: number;
  mediaType: string;
  bytes: Buffer;
  platform?: { os: string; architecture: string };
}

export interface PushedImage extends PushedManifest {
  /** for an index, the per-platform manifests it lists (pushed by digest first) */
  manifests: PushedManifest[];
}

export interface PushOptions {
  /** `os/arch` list; more than one pushes an index over one manifest per platform */
  platforms?: string[];
  format?: 'oci' | 'docker';
  /** always push an index, even for one platform */
  index?: boolean;
}

function digestOf(b: Buffer): string {
  return `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;
}

async function pushBlob(registry: TestRegistry, repo: string, blob: Buffer): Promise<string> {
  const digest = digestOf(blob);
  const start = await registry.api('POST', `/v2/${repo}/blobs/uploads/`, { repo, body: Buffer.alloc(0) });
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${start.body.toString()}`);
  const location = new URL(String(start.headers.location), registry.url);
  location.searchParams.set('digest', digest);
  const put = await registry.api('PUT', `${location.pathname}${location.search}`, {
    repo,
    body: blob,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (put.status !== 201) throw new Error(`blob upload ${digest}: ${put.status} ${put.body.toString()}`);
  return digest;
}

async function pushManifest(registry: TestRegistry, repo: string, ref: string, mediaType: string, doc: object): Promise<PushedManifest> {
  const bytes = Buffer.from(JSON.stringify(doc, null, 3));
  const res = await registry.api('PUT', `/v2/${repo}/manifests/${ref}`, { repo, body: bytes, headers: { 'Content-Type': mediaType } });
  if (res.status !== 201) throw new Error(`manifest push ${repo}:${ref}: ${res.status} ${res.body.toString()}`);
  const digest = digestOf(bytes);
  if (res.headers['docker-content-digest'] !== digest) throw new Error(`registry stored ${String(res.headers['docker-content-digest'])}, expected ${digest}`);
  return { digest, size: bytes.length, mediaType, bytes };
}

/** Push one small image for a platform: a random gzip layer and a config, then its manifest (by digest). */
async function pushPlatformManifest(registry: TestRegistry, repo: string, platform: string, format: 'oci' | 'docker', ref: string | null): Promise<PushedManifest> {
  const [os_ = 'linux', architecture = 'amd64'] = platform.split('/');
  const types = format === 'oci' ? OCI : DOCKER;
  const content = crypto.randomBytes(512 + crypto.randomInt(2048));
  const layer = zlib.gzipSync(content);
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      os: os_,
      created: new Date().toISOString(),
      config: { Labels: { 'org.vouch.test': crypto.randomBytes(8).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: [digestOf(content)] },
    }),
  );
  const layerDigest = await pushBlob(registry, repo, layer);
  const configDigest = await pushBlob(registry, repo, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: types.manifest,
    config: { mediaType: types.config, digest: configDigest, size: config.length },
    layers: [{ mediaType: types.layer, digest: layerDigest, size: layer.length }],
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const pushed = await pushManifest(registry, repo, ref ?? digestOf(bytes), types.manifest, manifest);
  return { ...pushed, platform: { os: os_, architecture } };
}

/**
 * Push a small random image as `repo:tag`. One platform: an image manifest under the tag. Several
 * (or `index: true`): each platform's manifest by digest, then an index listing them under the tag.
 * Every push makes new content, so pushing the same tag twice moves it to a new digest.
 */
export async function pushImage(registry: TestRegistry, repo: string, tag: string, opts: PushOptions = {}): Promise<PushedImage> {
  const format = opts.format ?? 'oci';
  const platforms = opts.platforms ?? ['linux/amd64'];
  if (platforms.length === 1 && !opts.index) {
    const m = await pushPlatformManifest(registry, repo, platforms[0] ?? 'linux/amd64', format, tag);
    return { ...m, manifests: [] };
  }
  const children: PushedManifest[] = [];
  for (const p of platforms) children.push(await pushPlatformManifest(registry, repo, p, format, null));
  const types = format === 'oci' ? OCI : DOCKER;
  const index = {
    schemaVersion: 2,
    mediaType: types.index,
    manifests: children.map((c) => ({ mediaType: c.mediaType, digest: c.digest, size: c.size, platform: c.platform })),
  };
  const pushed = await pushManifest(registry, repo, tag, types.index, index);
  return { ...pushed, manifests: children };
}
