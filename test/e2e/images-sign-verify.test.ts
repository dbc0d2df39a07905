/**
 * `vouch sign|verify|digest <registry>/<repo>:<tag>` end to end, no Docker engine anywhere:
 * Debian's docker-registry on loopback (plain http, and TLS with bearer-token auth), small images
 * pushed through its API by test/helpers/registry.ts, our server and signer as real processes
 * (dist/, mutual TLS, SQLite), and the vouch CLI as a process. The real `notary` client and
 * `docker trust inspect` (DOCKER_CONTENT_TRUST_SERVER = our server) read what vouch signed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseMetadata } from '../../tuf';
import { describeWith } from '../helpers/interop';
import { notaryClientPassphrases } from '../helpers/notary';
import { run } from '../helpers/proc';
import { DOCKER, OCI, PushedImage, TestRegistry, pushImage, startRegistry } from '../helpers/registry';
import { Stack, startStack } from '../server/stack';

const MAIN = path.resolve(__dirname, '../../dist/cli/main.js');
const PASSPHRASES = notaryClientPassphrases('images-e2e');
const ALICE = { user: 'alice', password: 'alice-registry-password' };

type Result = { code: number | null; stdout: string; stderr: string };

const hexOf = (digest: string) => digest.replace(/^sha256:/, '');

describeWith(['docker-registry', 'notary', 'docker'], 'vouch sign/verify/digest by image reference, against a real registry and our server', () => {
  let stack: Stack;
  let plain: TestRegistry;
  let token: TestRegistry;
  let dir: string;

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({ PATH: process.env.PATH ?? '', HOME: dir, ...PASSPHRASES, ...extra });
  const vouch = (args: string[], opts: { env?: Record<string, string>; trust?: string } = {}): Promise<Result> =>
    run('node', [MAIN, '-s', stack.url, '--tlscacert', stack.pki.caCert, '-d', path.join(dir, opts.trust ?? 'trust'), ...args], {
      cwd: dir,
      env: env(opts.env),
      timeoutMs: 60000,
    });
  const ok = (r: Result): Result => {
    if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\nserver:\n${stack.server.output().slice(-3000)}`);
    return r;
  };
  const json = (r: Result) => JSON.parse(ok(r).stdout);
  const notary = (args: string[]): Promise<Result> =>
    run('notary', ['-s', stack.url, '--tlscacert', stack.pki.caCert, '-d', path.join(dir, 'notary-trust'), ...args], { cwd: dir, env: env(), timeoutMs: 60000 });

  /** The signed target for a tag as the server serves it (hex sha256 and length), or undefined. */
  const served = async (gun: string, role: string, tag: string): Promise<{ sha256: string; length: number } | undefined> => {
    const res = await stack.get(`/v2/${gun}/_trust/tuf/${role}.json`);
    if (res.status !== 200) return undefined;
    const t = parseMetadata(res.body, 'targets').body.targets.get(tag);
    return t ? { sha256: t.hashes.sha256?.toString('hex') ?? '', length: t.length } : undefined;
  };

  /** What the registry says the tag is now, asked without vouch's client. */
  const registryDigest = async (registry: TestRegistry, repo: string, tag: string): Promise<string> => {
    const res = await registry.api('HEAD', `/v2/${repo}/manifests/${tag}`, { repo, headers: { Accept: [OCI.manifest, OCI.index, DOCKER.manifest, DOCKER.index].join(', ') } });
    expect(res.status).toBe(200);
    return String(res.headers['docker-content-digest']);
  };

  /** `docker trust inspect` with DOCKER_CONTENT_TRUST_SERVER = our server (no engine, no registry contacted). */
  const dockerTrustInspect = async (gun: string) => {
    const dockerConfig = path.join(dir, 'docker');
    const tlsDir = path.join(dockerConfig, 'tls', `127.0.0.1:${stack.port}`);
    fs.mkdirSync(tlsDir, { recursive: true });
    fs.copyFileSync(stack.pki.caCert, path.join(tlsDir, 'ca.crt'));
    const r = await run('docker', ['trust', 'inspect', gun], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, DOCKER_CONFIG: dockerConfig, DOCKER_CONTENT_TRUST_SERVER: stack.url, DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
      timeoutMs: 60000,
    });
    if (r.code !== 0) throw new Error(`docker trust inspect failed (${r.code}): ${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout)[0];
  };

  beforeAll(async () => {
    [stack, plain, token] = await Promise.all([
      startStack(),
      startRegistry(),
      startRegistry({ tls: true, auth: { $case: 'token', users: { [ALICE.user]: ALICE.password } } }),
    ]);
    dir = path.join(stack.dir, 'images');
    fs.mkdirSync(dir);
  }, 90000);

  afterAll(async () => {
    await Promise.all([plain?.stop(), token?.stop()]);
    await stack?.stop();
  });

  describe('a single-arch image on a plain-http loopback registry', () => {
    let gun: string;
    let ref: string;
    let v1: PushedImage;

    beforeAll(async () => {
      gun = `${plain.domain}/team/app`;
      ref = `${gun}:v1`;
      v1 = await pushImage(plain, 'team/app', 'v1');
    });

    it('sign resolves the manifest digest and size from the registry and publishes them as Docker does, initialising the repository with a server-held snapshot', async () => {
      const doc = json(await vouch(['--output', 'json', 'sign', ref]));
      expect(doc).toMatchObject({ gun, role: 'targets', initialized: true });
      expect(doc.signed).toEqual([{ tag: 'v1', digest: v1.digest, size: v1.size, mediaType: OCI.manifest, reference: ref }]);
      // the client never uploads a snapshot: the server signed it with its own key
      expect(doc.uploaded.map((u: { role: string }) => u.role).sort()).toEqual(['root', 'targets']);
      expect(await served(gun, 'targets', 'v1')).toEqual({ sha256: hexOf(v1.digest), length: v1.bytes.length });
      const snap = parseMetadata((await stack.get(`/v2/${gun}/_trust/tuf/snapshot.json`)).body, 'snapshot');
      expect(snap.signatures).toHaveLength(1);
      expect(snap.body.meta.has('targets')).toBe(true);
    });

    it('verify exits 0 when the registry serves the signed digest', async () => {
      const r = ok(await vouch(['verify', ref]));
      expect(r.stdout).toBe(`${ref} is trusted: ${v1.digest} (${v1.size} bytes, role targets)\n`);
      const doc = json(await vouch(['--output', 'json', 'verify', ref]));
      expect(doc).toEqual({ gun, tag: 'v1', trusted: true, digest: v1.digest, size: v1.size, role: 'targets', mediaType: OCI.manifest });
      const quiet = ok(await vouch(['verify', '-q', ref]));
      expect(quiet.stdout).toBe('');
    });

    it('digest prints the signed digest, which equals the registry\'s, and the reference that pulls exactly it', async () => {
      const fromRegistry = await registryDigest(plain, 'team/app', 'v1');
      expect(fromRegistry).toBe(v1.digest);
      const r = ok(await vouch(['digest', ref]));
      expect(r.stdout).toBe(`${fromRegistry}\n${gun}@${fromRegistry}\n`);
      expect(json(await vouch(['--output', 'json', 'digest', ref]))).toEqual({ gun, tag: 'v1', digest: fromRegistry, size: v1.size, role: 'targets', pinned: `${gun}@${fromRegistry}` });
      // a reference pinning the signed digest agrees; pinning another digest is not trusted
      expect(ok(await vouch(['digest', `${ref}@${v1.digest}`])).stdout.split('\n')[0]).toBe(v1.digest);
      const other = `sha256:${'0'.repeat(64)}`;
      const pinnedOther = await vouch(['digest', `${ref}@${other}`]);
      expect(pinnedOther.code).toBe(3);
      expect(pinnedOther.stderr).toContain(v1.digest);
    });

    it('the real notary client lists the signed tag with the same digest and size', async () => {
      const r = await notary(['list', gun]);
      expect(r.code).toBe(0);
      const rows = r.stdout.split('\n').filter((l) => /^\S/.test(l) && !/^(NAME|-)/.test(l)).map((l) => l.trim().split(/\s+/));
      expect(rows).toContainEqual(['v1', hexOf(v1.digest), String(v1.size), 'targets']);
    });

    it('docker trust inspect (docker CLI against our server, no engine) shows the signed tag with the same digest', async () => {
      const info = await dockerTrustInspect(gun);
      expect(info.Name).toBe(gun);
      expect(info.SignedTags).toEqual([{ SignedTag: 'v1', Digest: hexOf(v1.digest), Signers: ['Repo Admin'] }]);
    });

    it('an unsigned tag of a signed repository is a clear error for verify and digest (exit 4), whatever the registry serves', async () => {
      await pushImage(plain, 'team/app', 'unsigned');
      const v = await vouch(['verify', `${gun}:unsigned`]);
      expect(v.code).toBe(4);
      expect(v.stderr).toBe(`* fatal: not trusted: ${gun}:unsigned is not signed (no target unsigned in targets/releases or targets)\n`);
      const d = await vouch(['digest', `${gun}:unsigned`]);
      expect(d.code).toBe(4);
      expect(d.stdout).toBe('');
      // a repository never signed at all: the trust server has nothing for it
      await pushImage(plain, 'team/never-signed', 'v1');
      const never = await vouch(['verify', `${plain.domain}/team/never-signed:v1`]);
      expect(never.code).toBe(4);
      expect(never.stderr).toBe(`* fatal: not trusted: ${plain.domain}/team/never-signed:v1 is not signed (the trust server has no trust data for ${plain.domain}/team/never-signed)\n`);
    });

    it('a tag re-pushed with other content fails verify (exit 3) showing both digests; digest keeps the signed one; signing again trusts the new one', async () => {
      const v2 = await pushImage(plain, 'team/app', 'v1');
      expect(v2.digest).not.toBe(v1.digest);
      const r = await vouch(['verify', ref]);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`signed digest ${v1.digest} does not match the registry's ${v2.digest}`);
      const doc = JSON.parse((await vouch(['--output', 'json', 'verify', ref])).stdout);
      expect(doc.error).toMatchObject({ code: 'UNTRUSTED', exitCode: 3 });
      expect(doc.error.detail).toMatchObject({
        trusted: false,
        expected: { digest: v1.digest, size: v1.size, role: 'targets' },
        current: { digest: v2.digest, size: v2.size },
      });
      expect(ok(await vouch(['digest', ref])).stdout.split('\n')[0]).toBe(v1.digest);

      ok(await vouch(['sign', ref]));
      expect(await served(gun, 'targets', 'v1')).toEqual({ sha256: hexOf(v2.digest), length: v2.size });
      expect(ok(await vouch(['verify', ref])).stdout).toContain(v2.digest);
      v1 = v2;
    });
  });

  describe('multi-arch images', () => {
    it.each([
      ['an OCI index', 'oci' as const, OCI.index],
      ['a Docker manifest list', 'docker' as const, DOCKER.index],
    ])('%s: the index digest (not a platform manifest) is signed, verified and printed', async (_name, format, mediaType) => {
      const repo = `team/multi-${format}`;
      const gun = `${plain.domain}/${repo}`;
      const pushed = await pushImage(plain, repo, 'v1', { platforms: ['linux/amd64', 'linux/arm64'], format });
      expect(pushed.manifests).toHaveLength(2);
      const doc = json(await vouch(['--output', 'json', 'sign', `${gun}:v1`]));
      expect(doc.signed).toEqual([{ tag: 'v1', digest: pushed.digest, size: pushed.size, mediaType, reference: `${gun}:v1` }]);
      expect(await served(gun, 'targets', 'v1')).toEqual({ sha256: hexOf(pushed.digest), length: pushed.size });
      expect(pushed.manifests.map((m) => m.digest)).not.toContain(pushed.digest);
      expect(json(await vouch(['--output', 'json', 'verify', `${gun}:v1`]))).toMatchObject({ trusted: true, digest: pushed.digest, mediaType });
      expect(ok(await vouch(['digest', `${gun}:v1`])).stdout).toBe(`${pushed.digest}\n${gun}@${pushed.digest}\n`);
      const listed = await notary(['list', gun]);
      expect(listed.stdout).toMatch(new RegExp(`^v1\\s+${hexOf(pushed.digest)}\\s+${pushed.size}\\s+targets\\s*$`, 'm'));
    });
  });

  describe('a repository with a targets/releases delegation', () => {
    it('signs into targets/releases once that delegation exists and its key is here; verify reads releases first; notary and docker agree', async () => {
      const repo = 'team/released';
      const gun = `${plain.domain}/${repo}`;
      const first = await pushImage(plain, repo, 'v1');
      expect(json(await vouch(['--output', 'json', 'sign', `${gun}:v1`])).role).toBe('targets');
      const prefix = path.join(dir, 'releases');
      ok(await vouch(['key', 'generate', 'ecdsa', '--role', 'targets/releases', '-o', prefix]));
      ok(await vouch(['key', 'import', `${prefix}-key.pem`]));
      ok(await vouch(['delegation', 'add', gun, 'targets/releases', `${prefix}.pem`, '--all-paths', '-p']));

      const second = await pushImage(plain, repo, 'v2');
      const doc = json(await vouch(['--output', 'json', 'sign', `${gun}:v2`]));
      expect(doc.role).toBe('targets/releases');
      expect(doc.uploaded.map((u: { role: string }) => u.role)).toContain('targets/releases');
      expect(await served(gun, 'targets/releases', 'v2')).toEqual({ sha256: hexOf(second.digest), length: second.size });
      expect(await served(gun, 'targets', 'v2')).toBeUndefined();
      expect(json(await vouch(['--output', 'json', 'verify', `${gun}:v2`]))).toMatchObject({ trusted: true, digest: second.digest, role: 'targets/releases' });
      expect(json(await vouch(['--output', 'json', 'verify', `${gun}:v1`]))).toMatchObject({ trusted: true, digest: first.digest, role: 'targets' });

      const listed = await notary(['list', gun, '-r', 'targets/releases']);
      expect(listed.stdout).toMatch(new RegExp(`^v2\\s+${hexOf(second.digest)}\\s+${second.size}\\s+targets/releases\\s*$`, 'm'));
      const info = await dockerTrustInspect(gun);
      // Docker names a tag signed only by targets/releases "Repo Admin" too; releases is no signer
      expect(info.SignedTags).toEqual([
        { SignedTag: 'v1', Digest: hexOf(first.digest), Signers: ['Repo Admin'] },
        { SignedTag: 'v2', Digest: hexOf(second.digest), Signers: ['Repo Admin'] },
      ]);
      expect(info.Signers).toEqual([]);
    });
  });

  describe('a TLS registry that needs a bearer token', () => {
    const repo = 'private/app';
    let gun: string;
    let pushed: PushedImage;
    const creds = { VOUCH_REGISTRY_USER: ALICE.user, VOUCH_REGISTRY_PASSWORD: ALICE.password };

    beforeAll(async () => {
      gun = `${token.domain}/${repo}`;
      pushed = await pushImage(token, repo, 'v1');
    });

    it('without credentials, sign fails as an auth failure (exit 5) and publishes nothing', async () => {
      const r = await vouch(['sign', `${gun}:v1`, '--registry-cacert', token.caFile as string]);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/^\* fatal: registry authentication failed: .*requires credentials/);
      expect((await stack.get(`/v2/${gun}/_trust/tuf/root.json`)).status).toBe(404);
    });

    it('without --registry-cacert, the registry\'s certificate is not trusted (exit 5)', async () => {
      const r = await vouch(['sign', `${gun}:v1`], { env: creds });
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/^\* fatal: registry: /);
      expect((await stack.get(`/v2/${gun}/_trust/tuf/root.json`)).status).toBe(404);
    });

    it('with credentials, sign and verify work; the token server saw the user', async () => {
      const before = token.tokenServer?.requests.length ?? 0;
      const doc = json(await vouch(['--output', 'json', 'sign', `${gun}:v1`, '--registry-cacert', token.caFile as string], { env: creds }));
      expect(doc.signed[0]).toMatchObject({ digest: pushed.digest, size: pushed.size });
      expect(await served(gun, 'targets', 'v1')).toEqual({ sha256: hexOf(pushed.digest), length: pushed.size });
      const seen = (token.tokenServer?.requests ?? []).slice(before);
      expect(seen).toContainEqual(expect.objectContaining({ basicUser: ALICE.user, scope: `repository:${repo}:pull`, status: 200 }));

      expect(ok(await vouch(['verify', `${gun}:v1`, '--registry-cacert', token.caFile as string], { env: creds })).stdout).toContain(pushed.digest);
      // a wrong password is refused by the token server: exit 5, never a verification result
      const wrong = await vouch(['verify', `${gun}:v1`, '--registry-cacert', token.caFile as string], { env: { ...creds, VOUCH_REGISTRY_PASSWORD: 'wrong' } });
      expect(wrong.code).toBe(5);
      expect(wrong.stderr).toContain('registry authentication failed');
      // digest needs only the trust server
      expect(ok(await vouch(['digest', `${gun}:v1`])).stdout).toBe(`${pushed.digest}\n${gun}@${pushed.digest}\n`);
    });
  });

  describe('usage', () => {
    it.each([
      [['verify', '127.0.0.1:1/team/App:v1']],
      [['sign', `127.0.0.1:1/team/app@sha256:${'a'.repeat(64)}`]],
      [['verify', '127.0.0.1:1/team/app:v1', '-i', 'file']],
      [['digest', 'http://127.0.0.1:1/team/app:v1']],
    ])('%j exits 2 with one line', async (args) => {
      const r = await vouch(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  });
});
