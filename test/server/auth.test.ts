/**
 * Docker registry token auth (spec 6.1, checklist rows 2 and 41-45): tokens made here with
 * node:crypto and a test CA built with our own certificate builder, checked by TokenAuth
 * directly and through the real app over HTTP.
 */
import * as crypto from 'node:crypto';
import { buildCertificate, generatePrivateKey, KU, parsePublicKey, pemEncode } from '../../tuf';
import { Access, libtrustKeyId, TokenAuth } from '../../server/auth/token';
import { multipart, publish, RepoSim, request, startTestServer, targetMeta, TestServer } from './helpers';

const DAYMS = 24 * 3600 * 1000;
const ISSUER = 'vouch-test-issuer';
const SERVICE = 'vouch-test-service';
const REALM = 'https://auth.example.test/token';

interface Signer {
  key: crypto.KeyObject;
  certDer: Buffer;
  cert: crypto.X509Certificate;
}

function ca(cn: string, opts: { notBefore?: Date; notAfter?: Date } = {}): Signer {
  const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const certDer = buildCertificate({
    subjectCN: cn,
    subjectKey: key,
    notBefore: opts.notBefore ?? new Date(Date.now() - DAYMS),
    notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAYMS),
    isCA: true,
    keyUsage: KU.certSign | KU.digitalSignature,
  });
  return { key, certDer, cert: new crypto.X509Certificate(certDer) };
}

function leaf(issuer: Signer, opts: { curve?: string; notBefore?: Date; notAfter?: Date } = {}): Signer {
  const key = crypto.generateKeyPairSync('ec', { namedCurve: opts.curve ?? 'P-256' }).privateKey;
  const certDer = buildCertificate({
    subjectCN: 'token-signer',
    subjectKey: key,
    issuerCN: issuer.cert.subject.replace(/^CN=/, ''),
    issuerKey: issuer.key,
    notBefore: opts.notBefore ?? new Date(Date.now() - DAYMS),
    notAfter: opts.notAfter ?? new Date(Date.now() + 30 * DAYMS),
    keyUsage: KU.digitalSignature,
  });
  return { key, certDer, cert: new crypto.X509Certificate(certDer) };
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

interface TokenSpec {
  signer: Signer;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  access?: Array<{ type: string; name: string; actions: string[] }>;
  alg?: string;
  sign?: (input: Buffer) => Buffer;
}

function token(spec: TokenSpec): string {
  const now = Math.floor(Date.now() / 1000);
  const alg = spec.alg ?? 'ES256';
  const header = { typ: 'JWT', alg, x5c: [spec.signer.certDer.toString('base64')], ...spec.header };
  const claims = { iss: ISSUER, sub: 'alice', aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now - 10, jti: crypto.randomUUID(), access: spec.access ?? [], ...spec.claims };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const hash = alg.endsWith('384') ? 'sha384' : alg.endsWith('512') ? 'sha512' : 'sha256';
  const sig = spec.sign
    ? spec.sign(Buffer.from(input))
    : alg.startsWith('RS')
      ? crypto.sign(hash, Buffer.from(input), spec.signer.key)
      : crypto.sign(hash, Buffer.from(input), { key: spec.signer.key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

const repo = (gun: string, ...actions: string[]) => [{ type: 'repository', name: gun, actions }];
const need = (gun: string, ...actions: string[]): Access[] => actions.map((action) => ({ type: 'repository', name: gun, action }));

const root = ca('token CA');
const signer = leaf(root);
const bundle = pemEncode('CERTIFICATE', root.certDer);

describe('TokenAuth', () => {
  const auth = new TokenAuth({ realm: REALM, service: SERVICE, issuer: ISSUER, rootCertBundle: bundle });
  const bearer = (t: string) => `Bearer ${t}`;

  it('accepts an ES256 token whose x5c chains to the bundle and grants the scope asked', () => {
    const t = token({ signer, access: repo('example.com/a', 'pull', 'push') });
    expect(auth.authorize(bearer(t), need('example.com/a', 'push', 'pull'))).toEqual({ ok: true, subject: 'alice' });
  });

  it('treats a granted * as every action on that repository (row 43)', () => {
    const t = token({ signer, access: repo('example.com/a', '*') });
    expect(auth.authorize(bearer(t), need('example.com/a', '*')).ok).toBe(true);
    expect(auth.authorize(bearer(t), need('example.com/a', 'push', 'pull')).ok).toBe(true);
  });

  it('opens no other repository, nor the catalog, with a token for one GUN', () => {
    const t = token({ signer, access: repo('example.com/a', '*') });
    expect(auth.authorize(bearer(t), need('example.com/ab', 'pull'))).toMatchObject({ ok: false, error: 'insufficient_scope' });
    expect(auth.authorize(bearer(t), need('example.com', 'pull'))).toMatchObject({ ok: false, error: 'insufficient_scope' });
    expect(auth.authorize(bearer(t), [{ type: 'registry', name: 'catalog', action: '*' }])).toMatchObject({ ok: false, error: 'insufficient_scope' });
  });

  it('refuses pull-only tokens where push is needed (insufficient_scope)', () => {
    const t = token({ signer, access: repo('example.com/a', 'pull') });
    expect(auth.authorize(bearer(t), need('example.com/a', 'push', 'pull'))).toMatchObject({ ok: false, error: 'insufficient_scope' });
  });

  it('accepts a token naming a bundle key by its libtrust kid', () => {
    const selfSigned = ca('self-signed token key');
    const a = new TokenAuth({ realm: REALM, service: SERVICE, issuer: ISSUER, rootCertBundle: pemEncode('CERTIFICATE', selfSigned.certDer) });
    const kid = libtrustKeyId(selfSigned.cert.publicKey);
    expect(kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    const t = token({ signer: selfSigned, header: { x5c: undefined, kid }, access: repo('g', 'pull') });
    expect(a.authorize(bearer(t), need('g', 'pull')).ok).toBe(true);
    const wrongKid = token({ signer: selfSigned, header: { x5c: undefined, kid: libtrustKeyId(signer.cert.publicKey) }, access: repo('g', 'pull') });
    expect(a.authorize(bearer(wrongKid), need('g', 'pull'))).toMatchObject({ ok: false, error: 'invalid_token' });
  });

  it('accepts a jwk only when it is a bundle key', () => {
    const selfSigned = ca('jwk key');
    const a = new TokenAuth({ realm: REALM, service: SERVICE, issuer: ISSUER, rootCertBundle: pemEncode('CERTIFICATE', selfSigned.certDer) });
    const jwk = selfSigned.cert.publicKey.export({ format: 'jwk' });
    expect(a.authorize(bearer(token({ signer: selfSigned, header: { x5c: undefined, jwk }, access: repo('g', 'pull') })), need('g', 'pull')).ok).toBe(true);
    const stranger = ca('stranger');
    const t = token({ signer: stranger, header: { x5c: undefined, jwk: stranger.cert.publicKey.export({ format: 'jwk' }) }, access: repo('g', 'pull') });
    expect(a.authorize(bearer(t), need('g', 'pull'))).toMatchObject({ ok: false, error: 'invalid_token' });
  });

  it('accepts RS256 tokens from an RSA signing certificate', () => {
    const rsaKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const certDer = buildCertificate({
      subjectCN: 'rsa signer',
      subjectKey: rsaKey,
      issuerCN: 'token CA',
      issuerKey: root.key,
      notBefore: new Date(Date.now() - DAYMS),
      notAfter: new Date(Date.now() + DAYMS),
      keyUsage: KU.digitalSignature,
    });
    const rsaSigner = { key: rsaKey, certDer, cert: new crypto.X509Certificate(certDer) };
    expect(auth.authorize(bearer(token({ signer: rsaSigner, alg: 'RS256', access: repo('g', 'pull') })), need('g', 'pull')).ok).toBe(true);
    // the same key cannot be used under an EC algorithm name
    expect(auth.authorize(bearer(token({ signer: rsaSigner, alg: 'ES256', sign: (i) => crypto.sign('sha256', i, rsaKey), access: repo('g', 'pull') })), need('g', 'pull'))).toMatchObject({ error: 'invalid_token' });
  });

  it('accepts ES384 with a P-384 key and refuses an algorithm that does not fit the curve', () => {
    const p384 = leaf(root, { curve: 'P-384' });
    expect(auth.authorize(bearer(token({ signer: p384, alg: 'ES384', access: repo('g', 'pull') })), need('g', 'pull')).ok).toBe(true);
    expect(auth.authorize(bearer(token({ signer, alg: 'ES384', access: repo('g', 'pull') })), need('g', 'pull'))).toMatchObject({ error: 'invalid_token' });
  });

  it.each([
    ['a wrong audience (row 41)', { claims: { aud: 'other-service' } }],
    ['an audience list', { claims: { aud: [SERVICE] } }],
    ['a wrong issuer', { claims: { iss: 'someone-else' } }],
    ['an expiry more than 60 s past (row 41)', { claims: { exp: Math.floor(Date.now() / 1000) - 90 } }],
    ['no expiry', { claims: { exp: undefined } }],
    ['a not-before more than 60 s ahead', { claims: { nbf: Math.floor(Date.now() / 1000) + 120 } }],
    ['alg none', { alg: 'none', sign: () => Buffer.from('x') }],
    ['alg HS256', { alg: 'HS256', sign: (i: Buffer) => crypto.createHmac('sha256', bundle).update(i).digest() }],
    ['a DER-encoded ECDSA signature', { sign: (i: Buffer) => crypto.sign('sha256', i, signer.key) }],
    ['an empty signature', { sign: () => Buffer.alloc(0) }],
    ['no key reference', { header: { x5c: undefined } }],
  ] as Array<[string, Partial<TokenSpec>]>)('refuses a token with %s as invalid_token', (_what, spec) => {
    const t = token({ signer, access: repo('g', '*'), ...spec });
    expect(auth.authorize(bearer(t), need('g', 'pull'))).toMatchObject({ ok: false, error: 'invalid_token' });
  });

  it('accepts an expiry or not-before within the 60 s leeway', () => {
    const now = Math.floor(Date.now() / 1000);
    expect(auth.authorize(bearer(token({ signer, claims: { exp: now - 30 }, access: repo('g', 'pull') })), need('g', 'pull')).ok).toBe(true);
    expect(auth.authorize(bearer(token({ signer, claims: { nbf: now + 30 }, access: repo('g', 'pull') })), need('g', 'pull')).ok).toBe(true);
  });

  it('refuses tampered claims (the signature no longer verifies)', () => {
    const t = token({ signer, access: repo('example.com/a', 'pull') });
    const [h, , s] = t.split('.');
    const claims = JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString());
    claims.access = repo('example.com/a', '*');
    const forged = `${h}.${b64u(JSON.stringify(claims))}.${s}`;
    expect(auth.authorize(bearer(forged), need('example.com/a', 'pull'))).toMatchObject({ ok: false, error: 'invalid_token' });
  });

  it('refuses x5c chains that do not reach the bundle, or hold an expired certificate', () => {
    const otherCa = ca('another CA');
    expect(auth.authorize(bearer(token({ signer: leaf(otherCa), access: repo('g', 'pull') })), need('g', 'pull'))).toMatchObject({ error: 'invalid_token' });
    const expired = leaf(root, { notBefore: new Date(Date.now() - 10 * DAYMS), notAfter: new Date(Date.now() - DAYMS) });
    expect(auth.authorize(bearer(token({ signer: expired, access: repo('g', 'pull') })), need('g', 'pull'))).toMatchObject({ error: 'invalid_token' });
    // a self-signed certificate in x5c that claims the CA's name
    const impostor = ca('token CA');
    expect(auth.authorize(bearer(token({ signer: impostor, access: repo('g', 'pull') })), need('g', 'pull'))).toMatchObject({ error: 'invalid_token' });
  });

  it('accepts an intermediate in the x5c chain', () => {
    const inter = (() => {
      const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const certDer = buildCertificate({
        subjectCN: 'intermediate',
        subjectKey: key,
        issuerCN: 'token CA',
        issuerKey: root.key,
        notBefore: new Date(Date.now() - DAYMS),
        notAfter: new Date(Date.now() + DAYMS),
        isCA: true,
        keyUsage: KU.certSign,
      });
      return { key, certDer, cert: new crypto.X509Certificate(certDer) };
    })();
    const l = leaf(inter);
    const t = token({ signer: l, header: { x5c: [l.certDer.toString('base64'), inter.certDer.toString('base64')] }, access: repo('g', 'pull') });
    expect(auth.authorize(bearer(t), need('g', 'pull')).ok).toBe(true);
  });

  it('gives no error attribute when there is no bearer token at all', () => {
    for (const h of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer  two-spaces', 'Bearer a b']) {
      expect(auth.authorize(h, need('g', 'pull'))).toMatchObject({ ok: false, error: null });
    }
    expect(auth.authorize('bearer x.y.z', need('g', 'pull'))).toMatchObject({ ok: false, error: 'invalid_token' });
  });

  it('writes the challenge as distribution does', () => {
    expect(auth.challenge(need('my/gun', 'push', 'pull'), 'insufficient_scope')).toBe(
      `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:my/gun:push,pull",error="insufficient_scope"`,
    );
    expect(auth.challenge([{ type: 'registry', name: 'catalog', action: '*' }], null)).toBe(`Bearer realm="${REALM}",service="${SERVICE}",scope="registry:catalog:*"`);
    const redirect = new TokenAuth({ realm: REALM, service: SERVICE, issuer: ISSUER, rootCertBundle: bundle, autoRedirect: true });
    expect(redirect.challenge(need('g', 'pull'), null, 'notary.example:4443')).toMatch(/^Bearer realm="https:\/\/notary.example:4443\/auth\/token",/);
  });

  it('refuses to start without a certificate in the bundle', () => {
    expect(() => new TokenAuth({ realm: REALM, service: SERVICE, issuer: ISSUER, rootCertBundle: 'no certificates here' })).toThrow(/holds no certificate/);
  });
});

describe('token auth over HTTP', () => {
  let srv: TestServer;
  let gatedPrefixes: TestServer;
  const GUN = 'example.com/auth/repo';
  const admin = (gun = GUN) => ({ Authorization: `Bearer ${token({ signer, access: repo(gun, '*') })}` });
  const catalog = () => ({ Authorization: `Bearer ${token({ signer, access: [{ type: 'registry', name: 'catalog', actions: ['*'] }] })}` });

  beforeAll(async () => {
    const auth = new TokenAuth({ realm: REALM, service: SERVICE, issuer: ISSUER, rootCertBundle: bundle });
    srv = await startTestServer({ auth });
    gatedPrefixes = await startTestServer({ auth, gunPrefixes: ['example.com/'] });
  });
  afterAll(async () => {
    await srv.close();
    await gatedPrefixes.close();
  });

  it('challenges GET /v2/ without a token with the catalog scope (row 2)', async () => {
    const res = await request(srv.url, 'GET', '/v2/');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${REALM}",service="${SERVICE}",scope="registry:catalog:*"`);
    expect(res.json()).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: [{ Type: 'registry', Class: '', Name: 'catalog', Action: '*' }] }],
    });
    expect((await request(srv.url, 'GET', '/v2/', { headers: catalog() })).text).toBe('{}');
  });

  it('refuses a token for another audience or long expired with invalid_token (row 41)', async () => {
    for (const claims of [{ aud: 'nope' }, { exp: Math.floor(Date.now() / 1000) - 120 }]) {
      const res = await request(srv.url, 'GET', `/v2/${GUN}/_trust/tuf/root.json`, { headers: { Authorization: `Bearer ${token({ signer, claims, access: repo(GUN, '*') })}` } });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/,error="invalid_token"$/);
    }
  });

  it('refuses a pull-only token on a publish with insufficient_scope and the push,pull scope (row 42)', async () => {
    const res = await request(srv.url, 'POST', `/v2/${GUN}/_trust/tuf/`, {
      headers: { Authorization: `Bearer ${token({ signer, access: repo(GUN, 'pull') })}`, 'Content-Type': 'multipart/form-data; boundary=b' },
      body: '--b--\r\n',
    });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${REALM}",service="${SERVICE}",scope="repository:${GUN}:push,pull",error="insufficient_scope"`);
    expect(res.json().errors[0].detail).toEqual([
      { Type: 'repository', Class: '', Name: GUN, Action: 'push' },
      { Type: 'repository', Class: '', Name: GUN, Action: 'pull' },
    ]);
  });

  it('lets a * token do everything on its repository, and a publish then works end to end (row 43)', async () => {
    const sim = new RepoSim(GUN);
    const ts = await request(srv.url, 'GET', `/v2/${GUN}/_trust/tuf/timestamp.key`, { headers: admin() });
    expect(ts.status).toBe(200);
    const sn = await request(srv.url, 'GET', `/v2/${GUN}/_trust/tuf/snapshot.key`, { headers: admin() });
    expect(sn.status).toBe(200);
    sim.timestampKey = parsePublicKey(ts.json());
    sim.serverSnapshotKey = parsePublicKey(sn.json());
    sim.snapshotKey = null;
    const { body, contentType } = multipart([
      { filename: 'root', body: sim.root(1).bytes },
      { filename: 'targets', body: sim.targets(1, { a: targetMeta('a') }).bytes },
    ]);
    expect((await request(srv.url, 'POST', `/v2/${GUN}/_trust/tuf/`, { headers: { ...admin(), 'Content-Type': contentType }, body })).status).toBe(200);
    expect((await request(srv.url, 'GET', `/v2/${GUN}/_trust/tuf/root.json`, { headers: admin() })).status).toBe(200);
    expect((await request(srv.url, 'POST', `/v2/${GUN}/_trust/tuf/timestamp.key`, { headers: admin() })).status).toBe(200);
    expect((await request(srv.url, 'GET', `/v2/${GUN}/_trust/changefeed?records=0`, { headers: admin() })).status).toBe(200);
    // rotating a key and deleting need *: push,pull is not enough
    const pushPull = { Authorization: `Bearer ${token({ signer, access: repo(GUN, 'push', 'pull') })}` };
    const rot = await request(srv.url, 'POST', `/v2/${GUN}/_trust/tuf/snapshot.key`, { headers: pushPull });
    expect(rot.status).toBe(401);
    expect(rot.headers['www-authenticate']).toContain(`scope="repository:${GUN}:*"`);
    expect((await request(srv.url, 'DELETE', `/v2/${GUN}/_trust/tuf/`, { headers: pushPull })).status).toBe(401);
    expect((await request(srv.url, 'GET', `/v2/${GUN}/_trust/tuf/root.json`, { headers: admin() })).status).toBe(200);
  });

  it('never serves a cached file to a request without a token', async () => {
    const gun = 'example.com/auth/cached';
    const sim = new RepoSim(gun);
    sim.timestampKey = parsePublicKey((await request(srv.url, 'GET', `/v2/${gun}/_trust/tuf/timestamp.key`, { headers: admin(gun) })).json());
    sim.serverSnapshotKey = parsePublicKey((await request(srv.url, 'GET', `/v2/${gun}/_trust/tuf/snapshot.key`, { headers: admin(gun) })).json());
    sim.snapshotKey = null;
    const { body, contentType } = multipart([
      { filename: 'root', body: sim.root(1).bytes },
      { filename: 'targets', body: sim.targets(1).bytes },
    ]);
    expect((await request(srv.url, 'POST', `/v2/${gun}/_trust/tuf/`, { headers: { ...admin(gun), 'Content-Type': contentType }, body })).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await request(srv.url, 'GET', `/v2/${gun}/_trust/tuf/timestamp.json`, { headers: admin(gun) })).status).toBe(200);
    expect((await request(srv.url, 'GET', `/v2/${gun}/_trust/tuf/timestamp.json`)).status).toBe(401);
    expect((await request(srv.url, 'GET', `/v2/${gun}/_trust/tuf/timestamp.json`, { headers: admin('example.com/auth/other') })).status).toBe(401);
    expect((await request(srv.url, 'GET', `/v2/${gun}/_trust/tuf/timestamp.json`, { headers: { Authorization: `Bearer ${token({ signer, claims: { aud: 'x' }, access: repo(gun, '*') })}` } })).status).toBe(401);
  });

  it('does not authenticate health or metrics (row 44)', async () => {
    expect((await request(srv.url, 'GET', '/_notary_server/health')).status).toBe(200);
    expect((await request(srv.url, 'GET', '/metrics')).status).toBe(200);
  });

  it('challenges unknown paths with the catalog scope and still answers PATCH with 405 (row 45)', async () => {
    const res = await request(srv.url, 'GET', '/v2/example.com/a/_trust/tuf/root.key');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('scope="registry:catalog:*"');
    expect((await request(srv.url, 'PATCH', `/v2/${GUN}/_trust/tuf/root.json`)).status).toBe(405);
    expect((await request(srv.url, 'GET', '/v2/example.com/a/_trust/tuf/root.key', { headers: catalog() })).status).toBe(404);
  });

  it('filters GUN prefixes before authenticating', async () => {
    const res = await request(gatedPrefixes.url, 'GET', '/v2/quay.io/x/_trust/tuf/root.json');
    expect(res.status).toBe(404);
    const post = await request(gatedPrefixes.url, 'POST', '/v2/quay.io/x/_trust/tuf/', { headers: { 'Content-Type': 'multipart/form-data; boundary=b' }, body: '--b--\r\n' });
    expect(post.status).toBe(400);
    expect(post.json().errors[0].code).toBe('INVALID_GUN');
    expect((await request(gatedPrefixes.url, 'GET', '/v2/example.com/x/_trust/tuf/root.json')).status).toBe(401);
  });

  it('never writes the token into the logs', async () => {
    const t = token({ signer, access: repo(GUN, 'pull') });
    await request(srv.url, 'POST', `/v2/${GUN}/_trust/tuf/`, { headers: { Authorization: `Bearer ${t}` } });
    expect(srv.logs.text).not.toContain(t.split('.')[2]);
    expect(srv.logs.text).toMatch(/request not authorised/);
  });

  it('refuses a publish without a token and stores nothing', async () => {
    const sim = new RepoSim('example.com/auth/nope');
    sim.timestampKey = generatePrivateKey('ed25519').public;
    const res = await publish(srv.url, sim.gun, { root: sim.root(1), targets: sim.targets(1) });
    expect(res.status).toBe(401);
    expect(await srv.store.getCurrent(sim.gun, 'root')).toBeNull();
  });
});
