/**
 * The registry client on its own: Docker's reference grammar, WWW-Authenticate parsing,
 * credentials from the environment and docker's config.json, and the client against tiny fake
 * registries that lie (a body that does not match its digest, oversized manifests, schema 1,
 * redirects, insecure token realms). The real registry is in test/e2e/images-registry.test.ts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  MEDIA_TYPES,
  RegistryClient,
  RegistryError,
  credentialsFromEnvironment,
  formatImageReference,
  isLoopbackHost,
  parseChallenges,
  parseImageReference,
  plainHttpPolicy,
  resolveManifest,
} from '../../cli/registry';

const HEX = 'a'.repeat(64);
const DIGEST = `sha256:${HEX}`;

function expectRegistryError(fn: () => unknown, code: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(RegistryError);
  expect((thrown as RegistryError).code).toBe(code);
  if (message) expect((thrown as RegistryError).message).toMatch(message);
}

async function expectRejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<RegistryError> {
  const e = await p.then(
    () => {
      throw new Error('expected a RegistryError, but it resolved');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RegistryError);
  expect((e as RegistryError).code).toBe(code);
  if (message) expect((e as RegistryError).message).toMatch(message);
  return e as RegistryError;
}

describe('image references (Docker normalisation)', () => {
  it.each([
    ['alpine', 'docker.io', 'library/alpine', 'latest', null],
    ['alpine:3.19', 'docker.io', 'library/alpine', '3.19', null],
    ['myorg/app', 'docker.io', 'myorg/app', 'latest', null],
    ['docker.io/alpine', 'docker.io', 'library/alpine', 'latest', null],
    ['index.docker.io/myorg/app:v1', 'docker.io', 'myorg/app', 'v1', null],
    ['docker.io/library/alpine:edge', 'docker.io', 'library/alpine', 'edge', null],
    ['localhost/app', 'localhost', 'app', 'latest', null],
    ['localhost:5000/team/app:v1.2.3', 'localhost:5000', 'team/app', 'v1.2.3', null],
    ['127.0.0.1:5000/a/b/c:tag_1', '127.0.0.1:5000', 'a/b/c', 'tag_1', null],
    ['registry.example.com/team/app', 'registry.example.com', 'team/app', 'latest', null],
    ['reg.example.com:443/team/app:V1', 'reg.example.com:443', 'team/app', 'V1', null],
    ['[::1]:5000/app:x', '[::1]:5000', 'app', 'x', null],
    // an upper-case first component cannot be a path, so Docker reads it as a host
    ['Registry/app', 'Registry', 'app', 'latest', null],
    ['example/a__b/c--d/e.f', 'docker.io', 'example/a__b/c--d/e.f', 'latest', null],
    [`reg.example.com/app@${DIGEST}`, 'reg.example.com', 'app', null, DIGEST],
    [`reg.example.com/app:v2@${DIGEST}`, 'reg.example.com', 'app', 'v2', DIGEST],
    // no slash: `localhost:5000` is docker.io/library/localhost with tag 5000, exactly as docker reads it
    ['localhost:5000', 'docker.io', 'library/localhost', '5000', null],
  ])('%s -> %s / %s : %s @ %s', (ref, domain, repoPath, tag, digest) => {
    const r = parseImageReference(ref);
    expect(r.domain).toBe(domain);
    expect(r.path).toBe(repoPath);
    expect(r.name).toBe(`${domain}/${repoPath}`);
    expect(r.tag).toBe(tag);
    expect(r.digest).toBe(digest);
  });

  it('writes the fully qualified form back out', () => {
    expect(formatImageReference(parseImageReference('alpine'))).toBe('docker.io/library/alpine:latest');
    expect(formatImageReference(parseImageReference(`localhost:5000/app:v1@${DIGEST}`))).toBe(`localhost:5000/app:v1@${DIGEST}`);
  });

  it.each([
    ['', /empty/],
    ['docker.io/Library/alpine', /must be lowercase/],
    ['myorg/App', /must be lowercase/],
    ['app:', /tag/],
    ['app:-bad', /tag/],
    [`app:${'t'.repeat(129)}`, /tag/],
    ['app:a:b', /./],
    ['a//b', /repository path/],
    ['-app', /repository path/],
    ['app/', /repository path/],
    ['app.', /repository path/],
    ['app___x', /repository path/],
    ['team/app with space', /./],
    ['https://registry.example.com/app', /without a URL scheme/],
    [HEX, /image ID/],
    ['app@sha256:abc', /digest/],
    [`app@sha256:${'A'.repeat(64)}`, /only sha256 digests/],
    [`app@sha512:${'a'.repeat(128)}`, /only sha256 digests/],
    ['reg-.example.com/app', /registry/],
    [`registry.example.com/${'a'.repeat(240)}`, /not be more than 255/],
    ['app\n:latest', /./],
  ])('rejects %j', (ref, why) => {
    expectRegistryError(() => parseImageReference(ref), 'REFERENCE_INVALID', why);
  });
});

describe('WWW-Authenticate challenges', () => {
  it('reads a Bearer challenge with quoted parameters as distribution sends it', () => {
    const [c, ...rest] = parseChallenges(['Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull"']);
    expect(rest).toHaveLength(0);
    expect(c?.scheme).toBe('bearer');
    expect(c?.params).toEqual({ realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:team/app:pull' });
  });

  it('reads several challenges, escapes, unquoted values and upper-case names', () => {
    const cs = parseChallenges(['Basic realm="say \\"hi\\"", BEARER Realm=https://a.example/t , Service="x,y"', 'Negotiate abc==, Basic realm="second"']);
    expect(cs.map((c) => c.scheme)).toEqual(['basic', 'bearer', 'negotiate', 'basic']);
    expect(cs[0]?.params.realm).toBe('say "hi"');
    expect(cs[1]?.params).toEqual({ realm: 'https://a.example/t', service: 'x,y' });
    expect(cs[3]?.params.realm).toBe('second');
  });

  it('keeps the first of repeated parameters and treats __proto__ as data', () => {
    const [c] = parseChallenges(['Bearer realm="first",realm="second",__proto__="x"']);
    expect(c?.params.realm).toBe('first');
    expect(Object.getPrototypeOf(c?.params)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(c?.params, '__proto__')).toBe(true);
  });

  it('stops at malformed input instead of guessing', () => {
    expect(parseChallenges(['=oops'])).toEqual([]);
    expect(parseChallenges([''])).toEqual([]);
    const [c] = parseChallenges(['Bearer realm="x", @@@ service="y"']);
    expect(c?.params).toEqual({ realm: 'x' });
  });
});

describe('plain http policy', () => {
  it('allows plain http only to loopback and to hosts the user listed', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.0.0.1:5000', '127.1.2.3:80', '[::1]:5000', '::1']) {
      expect(isLoopbackHost(h)).toBe(true);
    }
    for (const h of ['registry.example.com', '127.0.0.1.nip.io:5000', '10.0.0.1:5000', '128.0.0.1', '127.0.0.256', 'localhost.example.com', '[::2]:5000']) {
      expect(isLoopbackHost(h)).toBe(false);
    }
    const p = plainHttpPolicy(['registry.lan:5000']);
    expect(p.allowsPlainHttp('registry.lan:5000')).toBe(true);
    expect(p.allowsPlainHttp('REGISTRY.lan:5000')).toBe(true);
    expect(p.allowsPlainHttp('registry.lan:5001')).toBe(false);
    expect(p.allowsPlainHttp('127.0.0.1:1')).toBe(true);
    expect(plainHttpPolicy().allowsPlainHttp('registry.example.com')).toBe(false);
  });
});

describe('registry credentials', () => {
  let home: string;
  beforeAll(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-creds-'));
  });
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  function writeConfig(dir: string, config: object): string {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  }
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('takes VOUCH_REGISTRY_USER / VOUCH_REGISTRY_PASSWORD before any docker config', () => {
    const dir = writeConfig(path.join(home, 'env-first'), { auths: { 'reg.example.com': { auth: b64('docker:pw') } } });
    const c = credentialsFromEnvironment('reg.example.com', { VOUCH_REGISTRY_USER: 'alice', VOUCH_REGISTRY_PASSWORD: 's3cret', DOCKER_CONFIG: dir }, home);
    expect(c).toEqual({ username: 'alice', password: 's3cret', source: 'VOUCH_REGISTRY_USER' });
  });

  it('refuses half-set credential variables', () => {
    expectRegistryError(() => credentialsFromEnvironment('r.example', { VOUCH_REGISTRY_USER: 'alice' }, home), 'CREDENTIALS', /VOUCH_REGISTRY_PASSWORD is not/);
    expectRegistryError(() => credentialsFromEnvironment('r.example', { VOUCH_REGISTRY_PASSWORD: 'x' }, home), 'CREDENTIALS', /VOUCH_REGISTRY_USER is not/);
  });

  it('reads the docker config auths entry for the registry (auth, username/password, URL keys)', () => {
    const dir = writeConfig(path.join(home, 'docker'), {
      auths: {
        'reg.example.com:5000': { auth: b64('bob:pa:ss') },
        'https://other.example.com/v2/': { username: 'carol', password: 'pw2' },
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpw') },
        'empty.example.com': {},
      },
      credsStore: 'desktop',
    });
    const env = { DOCKER_CONFIG: dir };
    expect(credentialsFromEnvironment('reg.example.com:5000', env, home)).toMatchObject({ username: 'bob', password: 'pa:ss' });
    expect(credentialsFromEnvironment('other.example.com', env, home)).toMatchObject({ username: 'carol', password: 'pw2' });
    expect(credentialsFromEnvironment('docker.io', env, home)).toMatchObject({ username: 'hubuser', password: 'hubpw' });
    expect(credentialsFromEnvironment('reg.example.com', env, home)).toBeUndefined();
    expect(credentialsFromEnvironment('empty.example.com', env, home)).toBeUndefined();
    // the source names the file and entry, never the secret
    const c = credentialsFromEnvironment('reg.example.com:5000', env, home);
    expect(c?.source).toContain(path.join(dir, 'config.json'));
    expect(c?.source).not.toContain('pa:ss');
  });

  it('falls back to ~/.docker/config.json and to anonymous when there is none', () => {
    writeConfig(path.join(home, '.docker'), { auths: { 'home.example.com': { auth: b64('dana:pw') } } });
    expect(credentialsFromEnvironment('home.example.com', {}, home)).toMatchObject({ username: 'dana' });
    expect(credentialsFromEnvironment('home.example.com', {}, path.join(home, 'nowhere'))).toBeUndefined();
  });

  it('refuses broken configs and identity tokens with a clear message', () => {
    const bad = path.join(home, 'bad');
    fs.mkdirSync(bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'config.json'), '{not json');
    expectRegistryError(() => credentialsFromEnvironment('x.example', { DOCKER_CONFIG: bad }, home), 'CREDENTIALS', /not valid JSON/);
    const idt = writeConfig(path.join(home, 'idt'), { auths: { 'x.example': { identitytoken: 'opaque' } } });
    expectRegistryError(() => credentialsFromEnvironment('x.example', { DOCKER_CONFIG: idt }, home), 'CREDENTIALS', /identity token/);
    const noColon = writeConfig(path.join(home, 'nocolon'), { auths: { 'x.example': { auth: b64('justuser') } } });
    expectRegistryError(() => credentialsFromEnvironment('x.example', { DOCKER_CONFIG: noColon }, home), 'CREDENTIALS', /user:password/);
    expectRegistryError(
      () => credentialsFromEnvironment('x.example', { VOUCH_REGISTRY_USER: 'a:b', VOUCH_REGISTRY_PASSWORD: 'p' }, home),
      'CREDENTIALS',
      /must not contain ':'/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Fake registries: each answers what a test makes it answer, over plain http on loopback

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  accept: string | undefined;
}

interface Fake {
  domain: string;
  seen: Seen[];
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen[]) => void;

async function fakeRegistry(handler: Handler): Promise<Fake> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, accept: req.headers.accept });
    handler(req, res, seen);
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    }),
  );
  return {
    domain: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sha = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: DIGEST, size: 2 },
    layers: [],
  }),
);
const OTHER = Buffer.from(MANIFEST.toString().replace('"size":2', '"size":3'));

/** A well-behaved manifest endpoint for `team/app:v1` serving `body`, with overridable headers. */
function serveManifest(body: Buffer, opts: { headDigest?: string | null; getDigest?: string | null; contentType?: string } = {}): Handler {
  return (req, res) => {
    if (req.url === '/v2/') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
      return;
    }
    const m = /^\/v2\/team\/app\/manifests\/(.+)$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
      return;
    }
    const headers: Record<string, string> = { 'Content-Type': opts.contentType ?? MEDIA_TYPES.ociManifest, 'Content-Length': String(body.length) };
    const d = req.method === 'HEAD' ? opts.headDigest : opts.getDigest;
    if (d !== null) headers['Docker-Content-Digest'] = d ?? sha(body);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

describe('registry client against lying or unusual registries', () => {
  const fakes: Fake[] = [];
  const start = async (h: Handler) => {
    const f = await fakeRegistry(h);
    fakes.push(f);
    return f;
  };
  afterAll(async () => {
    await Promise.all(fakes.map((f) => f.close()));
  });
  const anon = { credentials: null } as const;

  it('resolves a well-behaved manifest: HEAD for the digest, then GET by that digest', async () => {
    const f = await start(serveManifest(MANIFEST));
    const got = await new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1');
    expect(got).toEqual({ digest: sha(MANIFEST), size: MANIFEST.length, mediaType: MEDIA_TYPES.ociManifest });
    const manifestRequests = f.seen.filter((s) => s.url.includes('/manifests/'));
    expect(manifestRequests.map((s) => `${s.method} ${s.url}`)).toEqual(['HEAD /v2/team/app/manifests/v1', `GET /v2/team/app/manifests/${sha(MANIFEST)}`]);
    for (const s of manifestRequests) {
      for (const t of Object.values(MEDIA_TYPES)) expect(s.accept).toContain(t);
    }
  });

  it('refuses a body that does not match the Docker-Content-Digest header (HEAD and GET agree, bytes differ)', async () => {
    const f = await start(serveManifest(OTHER, { headDigest: sha(MANIFEST), getDigest: sha(MANIFEST) }));
    const e = await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'DIGEST_MISMATCH', /refusing/);
    expect(e.message).toContain(sha(OTHER));
    expect(e.message).toContain(sha(MANIFEST));
  });

  it('refuses a GET whose own Docker-Content-Digest disagrees with its body, even without a HEAD digest', async () => {
    const f = await start(serveManifest(OTHER, { headDigest: null, getDigest: sha(MANIFEST) }));
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'DIGEST_MISMATCH', /GET Docker-Content-Digest/);
  });

  it('refuses a manifest fetched by digest whose bytes hash to something else (no header at all)', async () => {
    const f = await start(serveManifest(OTHER, { headDigest: null, getDigest: null }));
    await expectRejects(resolveManifest(parseImageReference(`${f.domain}/team/app@${sha(MANIFEST)}`), anon), 'DIGEST_MISMATCH', /the reference names/);
  });

  it('refuses when HEAD names a different digest than the one pinned', async () => {
    const f = await start(serveManifest(MANIFEST, { headDigest: sha(OTHER) }));
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', sha(MANIFEST)), 'DIGEST_MISMATCH', /names digest/);
  });

  it('computes the digest from the bytes when the registry sends no Docker-Content-Digest', async () => {
    const f = await start(serveManifest(MANIFEST, { headDigest: null, getDigest: null }));
    const got = await new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1');
    expect(got.digest).toBe(sha(MANIFEST));
    expect(f.seen.filter((s) => s.method === 'GET').map((s) => s.url)).toContain('/v2/team/app/manifests/v1');
  });

  it('refuses a malformed Docker-Content-Digest', async () => {
    const f = await start(serveManifest(MANIFEST, { headDigest: 'sha256:NOT-HEX' }));
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'PROTOCOL', /not a sha256 digest/);
  });

  it('bounds the manifest size: a declared 4 MiB + 1 is refused before reading', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const f = await start(serveManifest(big, { headDigest: null, getDigest: null }));
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'TOO_LARGE', /bound/);
  });

  it('bounds the manifest size while streaming when no length is declared', async () => {
    const f = await start((req, res) => {
      if (req.url === '/v2/') {
        res.writeHead(200);
        res.end('{}');
        return;
      }
      if (req.method === 'HEAD') {
        res.writeHead(405);
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': MEDIA_TYPES.ociManifest });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 8 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
    });
    await expectRejects(new RegistryClient(f.domain, { ...anon, maxManifestBytes: 1024 * 1024 }).resolveManifest('team/app', 'v1'), 'TOO_LARGE', /1048576-byte bound/);
  });

  it('refuses Docker schema 1 manifests, whose digest does not cover their signature', async () => {
    const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'team/app', tag: 'v1', fsLayers: [] }));
    const f = await start(serveManifest(schema1, { contentType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }));
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'MEDIA_TYPE', /schema 1/);
  });

  it('refuses content that is not an image manifest or index', async () => {
    const f1 = await start(serveManifest(Buffer.from('<html>hello</html>'), { contentType: 'text/html' }));
    await expectRejects(new RegistryClient(f1.domain, anon).resolveManifest('team/app', 'v1'), 'PROTOCOL', /not valid JSON/);
    const f2 = await start(serveManifest(Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}'), { contentType: 'application/json' }));
    await expectRejects(new RegistryClient(f2.domain, anon).resolveManifest('team/app', 'v1'), 'MEDIA_TYPE', /not an image manifest/);
    const f3 = await start(serveManifest(Buffer.from('{"schemaVersion":2,"schemaVersion":2}')));
    await expectRejects(new RegistryClient(f3.domain, anon).resolveManifest('team/app', 'v1'), 'PROTOCOL', /duplicate key/);
  });

  it('refuses a manifest whose declared mediaType contradicts its Content-Type', async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] }));
    const f = await start(serveManifest(index, { contentType: MEDIA_TYPES.ociManifest }));
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'MEDIA_TYPE', /declares mediaType/);
  });

  it('takes the media type from the document when the registry labels it application/json', async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifestList, manifests: [] }));
    const f = await start(serveManifest(index, { contentType: 'application/json; charset=utf-8' }));
    const got = await new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1');
    expect(got.mediaType).toBe(MEDIA_TYPES.dockerManifestList);
  });

  it('reports a missing tag or repository as NOT_FOUND with the registry error code', async () => {
    const f = await start((req, res) => {
      if (req.url === '/v2/') {
        res.writeHead(200);
        res.end('{}');
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    });
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'nope'), 'NOT_FOUND', /team\/app:nope not found/);
  });

  it('does not follow a redirect of a manifest request', async () => {
    const f = await start((req, res) => {
      if (req.url === '/v2/') {
        res.writeHead(200);
        res.end('{}');
        return;
      }
      res.writeHead(307, { Location: 'http://127.0.0.1:1/elsewhere' });
      res.end();
    });
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'PROTOCOL', /redirected/);
  });

  it('says so when /v2/ is not a distribution API', async () => {
    const f = await start((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'PROTOCOL', /not an OCI distribution registry/);
  });

  it('speaks plain http only to loopback or allowed hosts: a registry not named as loopback must speak TLS', async () => {
    const f = await start(serveManifest(MANIFEST));
    // 2130706433 is 127.0.0.1 written as one number: it reaches the fake, but is not a loopback name
    const disguised = `2130706433:${f.domain.split(':')[1]}`;
    await expectRejects(new RegistryClient(disguised, anon).resolveManifest('team/app', 'v1'), 'INSECURE', /does not speak TLS/);
    expect(f.seen).toHaveLength(0);
    const got = await new RegistryClient(disguised, { ...anon, plainHttpHosts: [disguised] }).resolveManifest('team/app', 'v1');
    expect(got.digest).toBe(sha(MANIFEST));
  });

  it('reports a registry that is not there as a network error', async () => {
    const f = await start((_req, res) => res.end());
    await f.close();
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'NETWORK', /ECONNREFUSED/);
  });

  it('answers a bearer challenge met only at the manifest (open /v2/, guarded repository)', async () => {
    const f = await start((req, res, seen) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/token') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ token: 'ignored', access_token: 'good.token.here' }));
        return;
      }
      if (url.pathname === '/v2/') {
        res.writeHead(200);
        res.end('{}');
        return;
      }
      if (req.headers.authorization !== 'Bearer good.token.here') {
        const host = req.headers.host ?? '';
        res.writeHead(401, {
          'Content-Type': 'application/json',
          'WWW-Authenticate': `Bearer realm="http://${host}/token",service="fake",scope="repository:team/app:pull"`,
        });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      serveManifest(MANIFEST)(req, res, seen);
    });
    const got = await new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1');
    expect(got.digest).toBe(sha(MANIFEST));
    const tokenReq = f.seen.find((s) => s.url.startsWith('/token'));
    // no credentials: no account, no Basic; parameters sorted by name as Go writes them
    expect(tokenReq?.url).toBe('/token?scope=repository%3Ateam%2Fapp%3Apull&service=fake');
    expect(tokenReq?.authorization).toBeUndefined();
    const get = f.seen.find((s) => s.method === 'GET' && s.url.includes('/manifests/'));
    expect(get?.authorization).toBe('Bearer good.token.here');
  });

  it('refuses a token that could inject header lines', async () => {
    const f = await start((req, res) => {
      if ((req.url ?? '').startsWith('/token')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ token: 'abc\r\nX-Evil: 1' }));
        return;
      }
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${req.headers.host}/token",service="fake"` });
      res.end();
    });
    await expectRejects(new RegistryClient(f.domain, anon).resolveManifest('team/app', 'v1'), 'PROTOCOL', /characters a bearer token may not/);
  });

  it('never asks a plain-http token realm off loopback, so credentials cannot leak', async () => {
    const f = await start((_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="http://auth.example.invalid/token",service="fake"' });
      res.end();
    });
    await expectRejects(
      new RegistryClient(f.domain, { credentials: { username: 'u', password: 'p', source: 'test' } }).resolveManifest('team/app', 'v1'),
      'INSECURE',
      /not https/,
    );
  });

  it('sends Basic credentials only when challenged, and names the missing credentials otherwise', async () => {
    const expected = `Basic ${Buffer.from('alice:pw').toString('base64')}`;
    const f = await start((req, res, seen) => {
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="fake"' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      serveManifest(MANIFEST)(req, res, seen);
    });
    await expectRejects(new RegistryClient(f.domain, { credentials: null }).resolveManifest('team/app', 'v1'), 'UNAUTHORIZED', /requires credentials.*VOUCH_REGISTRY_USER/);
    const got = await new RegistryClient(f.domain, { env: { VOUCH_REGISTRY_USER: 'alice', VOUCH_REGISTRY_PASSWORD: 'pw' } }).resolveManifest('team/app', 'v1');
    expect(got.digest).toBe(sha(MANIFEST));
    await expectRejects(
      new RegistryClient(f.domain, { env: { VOUCH_REGISTRY_USER: 'alice', VOUCH_REGISTRY_PASSWORD: 'wrong' } }).resolveManifest('team/app', 'v1'),
      'UNAUTHORIZED',
      /refused "alice" \(from VOUCH_REGISTRY_USER\)/,
    );
  });

  it('does not read credentials at all for a registry that asks for none', async () => {
    const f = await start(serveManifest(MANIFEST));
    // a half-set pair would throw if it were looked at
    const got = await new RegistryClient(f.domain, { env: { VOUCH_REGISTRY_USER: 'alice' } }).resolveManifest('team/app', 'v1');
    expect(got.digest).toBe(sha(MANIFEST));
    expect(f.seen.every((s) => s.authorization === undefined)).toBe(true);
  });

  it('refuses a CA file that holds no certificate', () => {
    const file = path.join(os.tmpdir(), `vouch-not-a-ca-${process.pid}.pem`);
    fs.writeFileSync(file, 'hello');
    try {
      expectRegistryError(() => new RegistryClient('127.0.0.1:1', { caFile: file }), 'TLS', /no PEM certificate/);
      expectRegistryError(() => new RegistryClient('127.0.0.1:1', { caFile: `${file}.missing` }), 'TLS', /cannot read/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});

describe('registry client input', () => {
  it('refuses repository paths and references that Docker would not write, before any request', async () => {
    const client = new RegistryClient('127.0.0.1:1', { credentials: null });
    await expectRejects(client.resolveManifest('../../v2/_catalog', 'v1'), 'REFERENCE_INVALID', /repository path/);
    await expectRejects(client.resolveManifest('team/app', 'v1/../../x'), 'REFERENCE_INVALID', /neither a tag nor a sha256 digest/);
    await expectRejects(client.resolveManifest('team/app', 'sha256:abc'), 'REFERENCE_INVALID', /neither a tag nor a sha256 digest/);
  });
});
