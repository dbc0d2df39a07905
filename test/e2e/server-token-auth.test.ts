/**
 * Token auth end to end: our server (dist/server/main.js, TLS) with `auth.type: token`, a small
 * token service (in this test, over TLS) that signs ES256 JWTs with an x5c chain to the
 * configured root bundle, and the real notary client, which learns the realm from the
 * challenge on GET /v2/ and fetches tokens with NOTARY_AUTH credentials (spec 6.2).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildCertificate, KU, pemEncode } from '../../tuf';
import { describeWith } from '../helpers/interop';
import { freePort } from '../helpers/net';
import { notaryClientPassphrases } from '../helpers/notary';
import { run } from '../helpers/proc';
import { Stack, startStack } from '../server/stack';

const GUN = 'example.com/vouch-e2e/gated';
const SERVICE = 'vouch-e2e-notary';
const ISSUER = 'vouch-e2e-token-issuer';
const USERS: Record<string, { password: string; mayPush: boolean }> = {
  admin: { password: 'admin-password', mayPush: true },
  reader: { password: 'reader-password', mayPush: false },
};
const PASSPHRASES = notaryClientPassphrases('token-e2e');

interface Issued {
  account: string;
  scopes: string[];
  granted: Array<{ type: string; name: string; actions: string[] }>;
}

/** A token service as docker/distribution clients expect one. */
function tokenService(signKey: crypto.KeyObject, certDer: Buffer, log: Issued[]) {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://x');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [user, password] = basic ? Buffer.from(basic, 'base64').toString().split(':') : [];
    // like a registry's token service: no credentials get an anonymous token that grants nothing
    const account = basic ? USERS[user ?? ''] : { password: undefined, mayPush: false, anonymous: true };
    if (url.pathname !== '/token' || !account || account.password !== password) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    const granted = scopes.map((s) => {
      const type = s.slice(0, s.indexOf(':'));
      const actions = s.slice(s.lastIndexOf(':') + 1).split(',');
      const name = s.slice(type.length + 1, s.lastIndexOf(':'));
      if ('anonymous' in account) return { type, name, actions: [] as string[] };
      return { type, name, actions: account.mayPush ? actions : actions.filter((a) => a === 'pull') };
    });
    log.push({ account: user ?? '(anonymous)', scopes, granted });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = { iss: ISSUER, sub: user, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 5, iat: now, jti: crypto.randomUUID(), access: granted };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const sig = crypto.sign('sha256', Buffer.from(input), { key: signKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `${input}.${sig}`, expires_in: 300, issued_at: new Date().toISOString() }));
  };
}

describeWith(['notary'], 'token auth with the real notary client', () => {
  let stack: Stack;
  let tokens: https.Server;
  let bundleDir = '';
  const issued: Issued[] = [];

  const notary = (user: string | null, trustDir: string, args: string[]) => {
    const auth = user ? { NOTARY_AUTH: Buffer.from(`${user}:${USERS[user]?.password ?? 'wrong'}`).toString('base64') } : {};
    return run('notary', ['-s', stack.url, '--tlscacert', stack.pki.caCert, '-d', path.join(stack.dir, trustDir), ...args], {
      env: { ...process.env, ...PASSPHRASES, ...auth },
      timeoutMs: 60000,
    });
  };

  beforeAll(async () => {
    const day = 24 * 3600 * 1000;
    const caKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const caDer = buildCertificate({ subjectCN: 'e2e token CA', subjectKey: caKey, notBefore: new Date(Date.now() - day), notAfter: new Date(Date.now() + 30 * day), isCA: true, keyUsage: KU.certSign });
    const signKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const signDer = buildCertificate({
      subjectCN: 'e2e token signer',
      subjectKey: signKey,
      issuerCN: 'e2e token CA',
      issuerKey: caKey,
      notBefore: new Date(Date.now() - day),
      notAfter: new Date(Date.now() + 30 * day),
      keyUsage: KU.digitalSignature,
    });
    const tokenPort = await freePort();
    // the token service borrows the stack's TLS certificate (made by startStack below)
    bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-token-bundle-'));
    const bundle = path.join(bundleDir, 'token-ca.pem');
    fs.writeFileSync(bundle, pemEncode('CERTIFICATE', caDer));
    stack = await startStack({
      trust: 'local',
      serverConfig: { auth: { type: 'token', options: { realm: `https://127.0.0.1:${tokenPort}/token`, service: SERVICE, issuer: ISSUER, rootcertbundle: bundle } } },
    });
    tokens = https.createServer({ cert: fs.readFileSync(stack.pki.serverCert), key: fs.readFileSync(stack.pki.serverKey) }, tokenService(signKey, signDer, issued));
    await new Promise<void>((r) => tokens.listen(tokenPort, '127.0.0.1', r));
  }, 90000);

  afterAll(async () => {
    await new Promise((r) => tokens?.close(r));
    await stack?.stop();
    if (bundleDir) fs.rmSync(bundleDir, { recursive: true, force: true });
  });

  it('challenges an anonymous ping with the token realm', async () => {
    const res = await stack.get('/v2/');
    expect(res.status).toBe(401);
    expect(String(res.headers['www-authenticate'])).toMatch(new RegExp(`^Bearer realm="https://127.0.0.1:\\d+/token",service="${SERVICE}",scope="registry:catalog:\\*"$`));
  });

  it('lets an account with push publish: init, add, list', async () => {
    fs.writeFileSync(path.join(stack.dir, 'payload.txt'), 'gated payload\n');
    for (const args of [['init', GUN, '-p'], ['add', GUN, 'gated', path.join(stack.dir, 'payload.txt'), '-p']]) {
      const r = await notary('admin', 'trust-admin', args);
      expect(`${r.code} ${r.stderr}`).toBe('0 ');
    }
    const list = await notary('admin', 'trust-admin', ['list', GUN]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/gated\s+[0-9a-f]{64}\s+14\s+targets/);
    // the client asked for exactly this repository with push and pull
    expect(issued.some((i) => i.account === 'admin' && i.scopes.includes(`repository:${GUN}:push,pull`))).toBe(true);
  });

  it('lets a pull-only account read but not publish', async () => {
    const list = await notary('reader', 'trust-reader', ['list', GUN]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('gated');
    const before = (await stack.get(`/v2/${GUN}/_trust/tuf/targets.json`)).status;
    expect(before).toBe(401);
    // the owner's keys, but a pull-only token: the server must refuse the publish
    const add = await notary('reader', 'trust-admin', ['add', GUN, 'sneaky', path.join(stack.dir, 'payload.txt'), '-p']);
    expect(add.code).not.toBe(0);
    expect(add.stdout + add.stderr).toMatch(/not authorized|unauthorized|401/i);
    expect(issued.some((i) => i.account === 'reader' && i.scopes.includes(`repository:${GUN}:push,pull`) && i.granted[0]?.actions.join() === 'pull')).toBe(true);
    const again = await notary('admin', 'trust-fresh-admin', ['list', GUN]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('gated');
    expect(again.stdout).not.toContain('sneaky');
  });

  it('refuses a client whose credentials the token service rejects', async () => {
    const r = await notary('nobody', 'trust-nobody', ['list', GUN]);
    expect(r.code).not.toBe(0);
  });

  it('deletes the repository with an admin token (needs *)', async () => {
    const r = await notary('admin', 'trust-admin', ['delete', GUN, '--remote']);
    expect(r.code).toBe(0);
    expect(issued.some((i) => i.account === 'admin' && i.scopes.includes(`repository:${GUN}:*`))).toBe(true);
    const gone = await notary('admin', 'trust-fresh', ['list', GUN]);
    expect(gone.code).not.toBe(0);
  });
});
