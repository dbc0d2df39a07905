/**
 * The HTTP client of the trust server, against the simulator's real HTTP(S) server: metadata
 * downloads and their caps, the multipart publish, key routes, deletion, error bodies, Docker
 * token auth, TLS with a private CA and client certificates.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { credentialsFromEnv, isMetadataName, parseChallenges, parseErrorBody, Remote, RemoteError } from '../../cli/remote';
import { ensureDevPki } from '../../scripts/devpki';
import { fixture } from '../helpers/fixtures';
import { freePort } from '../helpers/net';
import { RepositorySimulator } from './simulator';

const sims: RepositorySimulator[] = [];
const remotes: Remote[] = [];
afterEach(async () => {
  remotes.splice(0).forEach((r) => r.close());
  await Promise.all(sims.splice(0).map((s) => s.stop()));
});

async function serve(opts: Parameters<RepositorySimulator['start']>[0] & { gun?: string } = {}): Promise<RepositorySimulator> {
  const sim = new RepositorySimulator({ gun: opts.gun });
  sim.addTarget('targets', 'v1', 'one');
  sim.publish();
  await sim.start(opts);
  sims.push(sim);
  return sim;
}

function remote(opts: ConstructorParameters<typeof Remote>[0]): Remote {
  const r = new Remote(opts);
  remotes.push(r);
  return r;
}

async function rejection(p: Promise<unknown>): Promise<RemoteError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RemoteError) return e;
    throw e;
  }
  throw new Error('expected a RemoteError');
}

describe('metadata downloads', () => {
  it('returns the exact bytes of a role by name, by hash and by version, and null on 404', async () => {
    const sim = await serve();
    const r = remote({ url: sim.url });
    expect(await r.ping()).toEqual({ auth: 'none' });
    expect((await r.getMetadata(sim.gun, 'root', 1 << 20))!.equals(sim.root.bytes)).toBe(true);
    expect((await r.getMetadata(sim.gun, RepositorySimulator.hashName('snapshot', sim.snapshot.bytes), sim.snapshot.bytes.length))!.equals(sim.snapshot.bytes)).toBe(true);
    expect((await r.getMetadata(sim.gun, '1.root', 1 << 20))!.equals(sim.root.bytes)).toBe(true);
    expect(await r.getMetadata(sim.gun, '7.root', 1 << 20)).toBeNull();
    expect(sim.requests).toContain(`GET /v2/${sim.gun}/_trust/tuf/1.root.json`);
  });

  it('keeps a registry port in the GUN unescaped in the path, as the Go client does', async () => {
    const sim = await serve({ gun: 'registry:5000/team/app' });
    const r = remote({ url: sim.url });
    expect(await r.getMetadata(sim.gun, 'timestamp', 1 << 20)).not.toBeNull();
    expect(sim.requests).toContain('GET /v2/registry:5000/team/app/_trust/tuf/timestamp.json');
  });

  it('refuses to request invalid names or GUNs', async () => {
    const sim = await serve();
    const r = remote({ url: sim.url });
    for (const name of ['../root', 'root.json', 'targets/../x', 'Targets', '0.root', 'snapshot.abc', 'timestamp/x']) {
      expect(isMetadataName(name)).toBe(false);
      await expect(r.getMetadata(sim.gun, name, 100)).rejects.toThrow(RemoteError);
    }
    for (const gun of ['', '../x', 'a//b', 'a/../b', 'a b', 'a*b']) await expect(r.getMetadata(gun, 'root', 100)).rejects.toThrow(/invalid GUN/);
    expect(sim.requests).toEqual([]);
  });

  it('refuses a body whose Content-Length exceeds the cap, and one that streams past it', async () => {
    const sim = await serve();
    const r = remote({ url: sim.url });
    const big = Buffer.alloc(5000, 0x41);
    sim.serve('timestamp', big);
    const declared = await rejection(r.getMetadata(sim.gun, 'timestamp', 4999));
    expect(declared.code).toBe('TOO_LARGE');
    expect(declared.message).toMatch(/5000 bytes/);
    sim.serve('timestamp', (_req, res) => {
      // chunked: no Content-Length to look at
      res.write(big.subarray(0, 3000));
      setTimeout(() => res.end(big.subarray(3000)), 20);
    });
    const streamed = await rejection(r.getMetadata(sim.gun, 'timestamp', 4999));
    expect(streamed.code).toBe('TOO_LARGE');
    expect((await r.getMetadata(sim.gun, 'timestamp', 5000))!.length).toBe(5000);
  });

  it('classifies 500, other statuses, refused connections and timeouts', async () => {
    const sim = await serve();
    const r = remote({ url: sim.url, timeoutMs: 2000 });
    sim.failWith = 503;
    const e503 = await rejection(r.getMetadata(sim.gun, 'root', 100));
    expect([e503.code, e503.status, e503.serverCode]).toEqual(['SERVER', 503, 'UNKNOWN']);
    await expect(r.ping()).rejects.toMatchObject({ code: 'SERVER' });
    sim.failWith = 418;
    expect((await rejection(r.getMetadata(sim.gun, 'root', 100))).code).toBe('STATUS');
    sim.failWith = null;
    sim.serve('root', () => {
      // never answers
    });
    const slow = await rejection(r.getMetadata(sim.gun, 'root', 100));
    expect(slow.code).toBe('TIMEOUT');

    const port = await freePort();
    const closed = remote({ url: `http://127.0.0.1:${port}` });
    expect((await rejection(closed.ping())).code).toBe('NETWORK');
  });
});

describe('writes', () => {
  it('publishes one multipart POST: field "files", file name = role without .json, exact bytes', async () => {
    const sim = await serve();
    const r = remote({ url: sim.url });
    const files = [
      { role: 'root', bytes: sim.root.bytes },
      { role: 'targets', bytes: sim.targetsFiles.get('targets')!.bytes },
      { role: 'targets/releases', bytes: Buffer.from('{"signed":{},"signatures":[]}') },
    ];
    await r.publish(sim.gun, files);
    expect(sim.requests).toContain(`POST /v2/${sim.gun}/_trust/tuf/`);
    const up = sim.uploads[0]!;
    expect(up.contentType).toMatch(/^multipart\/form-data; boundary=[0-9a-f]+$/);
    expect(up.parts.map((p) => [p.field, p.filename, p.contentType])).toEqual([
      ['files', 'root', 'application/octet-stream'],
      ['files', 'targets', 'application/octet-stream'],
      ['files', 'targets/releases', 'application/octet-stream'],
    ]);
    up.parts.forEach((p, i) => expect(p.bytes.equals(files[i]!.bytes)).toBe(true));
    await expect(r.publish(sim.gun, [{ role: 'targets/../root', bytes: Buffer.alloc(1) }])).rejects.toThrow(/invalid role/);
  });

  it("surfaces the server's validation error with its code and detail (real notary error body)", async () => {
    const sim = await serve();
    const body = fixture('http-errors/400-invalid-update-bad-signature.json');
    sim.hook = (req, res) => {
      if (req.method !== 'POST') return false;
      res.statusCode = 400;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(body);
      return true;
    };
    const r = remote({ url: sim.url });
    const err = await rejection(r.publish(sim.gun, [{ role: 'targets', bytes: Buffer.from('{}') }]));
    expect(err.code).toBe('REJECTED');
    expect(err.status).toBe(400);
    expect(err.serverCode).toBe('INVALID_UPDATE');
    expect(err.detail).toBe('ErrBadTargets: valid signatures did not meet threshold for targets');
    expect(err.message).toContain('INVALID_UPDATE');
  });

  it('fetches and rotates server-held keys and deletes the repository', async () => {
    const sim = await serve();
    const r = remote({ url: sim.url });
    const ts = await r.getKey(sim.gun, 'timestamp');
    expect(ts.id).toBe(sim.keys.timestamp[0]!.public.id);
    const sn = await r.getKey(sim.gun, 'snapshot');
    expect(sn.id).toBe(sim.keys.snapshot[0]!.public.id);
    const rotated = await r.rotateKey(sim.gun, 'snapshot');
    expect(rotated.id).not.toBe(sn.id);
    expect(rotated.id).toBe(sim.keys.snapshot[0]!.public.id);
    await r.deleteRepository(sim.gun);
    expect(sim.deletions).toEqual([sim.gun]);
    expect(sim.requests).toEqual(
      expect.arrayContaining([`GET /v2/${sim.gun}/_trust/tuf/timestamp.key`, `POST /v2/${sim.gun}/_trust/tuf/snapshot.key`, `DELETE /v2/${sim.gun}/_trust/tuf/`]),
    );
    sim.hook = (req, res) => {
      if (!req.url?.endsWith('.key')) return false;
      res.end('{"keytype":"ed25519","keyval":{"public":"not base64!","private":null}}');
      return true;
    };
    expect((await rejection(r.getKey(sim.gun, 'timestamp'))).code).toBe('BAD_RESPONSE');
  });
});

describe('token authentication (spec 6.2)', () => {
  const auth = { username: 'alice', password: 's3cret', service: 'notary-sim' };

  it('learns the Bearer challenge from the ping and gets scoped tokens with Basic credentials, cached per scope', async () => {
    const sim = await serve({ auth });
    const r = remote({ url: sim.url, auth: { username: 'alice', password: 's3cret' } });
    expect(await r.ping()).toEqual({ auth: 'bearer' });
    expect(await r.getMetadata(sim.gun, 'root', 1 << 20)).not.toBeNull();
    expect(await r.getMetadata(sim.gun, 'timestamp', 1 << 20)).not.toBeNull();
    await r.publish(sim.gun, [{ role: 'targets', bytes: Buffer.from('{}') }]);
    await r.deleteRepository(sim.gun);
    const enc = encodeURIComponent;
    expect(sim.tokenRequests).toEqual([
      `?account=alice&scope=${enc(`repository:${sim.gun}:pull`)}&service=notary-sim`,
      `?account=alice&scope=${enc(`repository:${sim.gun}:push,pull`)}&service=notary-sim`,
      `?account=alice&scope=${enc(`repository:${sim.gun}:*`)}&service=notary-sim`,
    ]);
    // the observed Go encoding: repository%3A...%3Apush%2Cpull
    expect(sim.tokenRequests[1]).toContain('%3Apush%2Cpull');
  });

  it('authenticates on a 401 challenge without a prior ping', async () => {
    const sim = await serve({ auth });
    const r = remote({ url: sim.url, auth: { username: 'alice', password: 's3cret' } });
    expect((await r.getMetadata(sim.gun, 'root', 1 << 20))!.equals(sim.root.bytes)).toBe(true);
    expect(sim.tokenRequests).toHaveLength(1);
  });

  it('fails with UNAUTHORIZED without credentials or with a wrong password', async () => {
    const sim = await serve({ auth });
    const anonymous = remote({ url: sim.url });
    await anonymous.ping();
    expect((await rejection(anonymous.getMetadata(sim.gun, 'root', 1 << 20))).code).toBe('UNAUTHORIZED');
    const wrong = remote({ url: sim.url, auth: { username: 'alice', password: 'nope' } });
    expect((await rejection(wrong.getMetadata(sim.gun, 'root', 1 << 20))).code).toBe('UNAUTHORIZED');
  });

  it('sends a given bearer token as is', async () => {
    const sim = await serve();
    const seen: (string | undefined)[] = [];
    sim.hook = (req) => {
      seen.push(req.headers.authorization);
      return false;
    };
    const r = remote({ url: sim.url, auth: { token: 'tok123' } });
    await r.getMetadata(sim.gun, 'root', 1 << 20);
    expect(seen).toEqual(['Bearer tok123']);
  });

  it('reads NOTARY_AUTH and parses challenges', () => {
    expect(credentialsFromEnv({ NOTARY_AUTH: Buffer.from('bob:pa:ss').toString('base64') })).toEqual({ username: 'bob', password: 'pa:ss' });
    expect(credentialsFromEnv({})).toBeUndefined();
    expect(() => credentialsFromEnv({ NOTARY_AUTH: Buffer.from('nocolon').toString('base64') })).toThrow(RemoteError);
    expect(parseChallenges(['Bearer realm="https://auth.example/token",service="notary",scope="registry:catalog:*"', 'Basic realm="x"', 'Negotiate abc'])).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'notary', scope: 'registry:catalog:*' } },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
    expect(parseErrorBody(fixture('http-errors/404-metadata-not-found.json'))?.serverCode).toBe('METADATA_NOT_FOUND');
    expect(parseErrorBody(Buffer.from('<html>'))).toBeUndefined();
  });

  it('refuses to send a password to a plain-http realm when the trust server uses TLS', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-remote-'));
    try {
      const pki = ensureDevPki(dir);
      const sim = await serve({ tls: { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) } });
      sim.hook = (_req, res) => {
        res.statusCode = 401;
        res.setHeader('WWW-Authenticate', 'Bearer realm="http://127.0.0.1:1/token",service="x"');
        res.end();
        return true;
      };
      const r = remote({ url: sim.url, caFile: pki.caCert, auth: { username: 'alice', password: 's3cret' } });
      const err = await rejection(r.getMetadata(sim.gun, 'root', 100));
      expect(err.code).toBe('AUTH');
      expect(err.message).toMatch(/plain-http token realm/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TLS', () => {
  let dir: string;
  let pki: ReturnType<typeof ensureDevPki>;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-remote-tls-'));
    pki = ensureDevPki(dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('trusts the server through the configured CA file only (it replaces the system roots)', async () => {
    const sim = await serve({ tls: { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) } });
    expect(await remote({ url: sim.url, caFile: pki.caCert }).ping()).toEqual({ auth: 'none' });
    const untrusted = await rejection(remote({ url: sim.url }).ping());
    expect(untrusted.code).toBe('NETWORK');
    expect(await remote({ url: sim.url, insecureSkipVerify: true }).ping()).toEqual({ auth: 'none' });
  });

  it('presents a client certificate when the server requires one', async () => {
    const sim = await serve({
      tls: { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey), ca: fs.readFileSync(pki.caCert), requireClientCert: true },
    });
    const withCert = remote({ url: sim.url, caFile: pki.caCert, clientCertFile: pki.clientCert, clientKeyFile: pki.clientKey });
    expect((await withCert.getMetadata(sim.gun, 'root', 1 << 20))!.equals(sim.root.bytes)).toBe(true);
    const without = await rejection(remote({ url: sim.url, caFile: pki.caCert }).getMetadata(sim.gun, 'root', 1 << 20));
    expect(without.code).toBe('NETWORK');
    expect(() => new Remote({ url: sim.url, clientCertFile: pki.clientCert })).toThrow(/together/);
  });
});

it('rejects server URLs that are not http(s) or carry credentials', () => {
  expect(() => new Remote({ url: 'ftp://x' })).toThrow(RemoteError);
  expect(() => new Remote({ url: 'https://u:p@x' })).toThrow(/NOTARY_AUTH/);
  expect(() => new Remote({ url: 'not a url' })).toThrow(RemoteError);
});
