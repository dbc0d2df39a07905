/**
 * Images against a real OCI registry: Debian's docker-registry (distribution 2.8) on loopback,
 * with small images pushed through its API by test/helpers/registry.ts. The registry client
 * resolves tags to the manifest digest Docker Content Trust signs, for single-arch images and
 * multi-arch indexes, over plain http (loopback), TLS, bearer-token and basic auth.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_EXPIRY_MS, expiryFrom, generatePrivateKey, parseMetadata, signMetadata, targetsSigned } from '../../tuf';
import { compareDigest, imageTargetMeta, resolveImage, trustedDigest } from '../../cli/images';
import { MEDIA_TYPES, RegistryClientOptions, RegistryError, parseImageReference, resolveManifest } from '../../cli/registry';
import { describeWith } from '../helpers/interop';
import { run, stopAll } from '../helpers/proc';
import { TestRegistry, pushImage, startRegistry } from '../helpers/registry';

async function rejection(p: Promise<unknown>): Promise<RegistryError> {
  const e = await p.then(
    () => {
      throw new Error('expected a RegistryError, but it resolved');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RegistryError);
  return e as RegistryError;
}

describeWith(['docker-registry'], 'images against a real docker-registry', () => {
  let home: string;
  let plain: TestRegistry;
  let token: TestRegistry;
  let basic: TestRegistry;
  /** options that never read the machine's own ~/.docker or VOUCH_* variables */
  const isolated = (o: RegistryClientOptions = {}): RegistryClientOptions => ({ env: {}, homeDir: home, ...o });

  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-images-home-'));
    [plain, token, basic] = await Promise.all([
      startRegistry(),
      startRegistry({ tls: true, auth: { $case: 'token', users: { alice: 'alice-password' }, publicRepos: ['public/base'] } }),
      startRegistry({ tls: true, auth: { $case: 'htpasswd', users: { bob: 'bob-password' } } }),
    ]);
  }, 60000);

  afterAll(async () => {
    await Promise.all([plain, token, basic].filter(Boolean).map((r) => r.stop()));
    await stopAll();
    fs.rmSync(home, { recursive: true, force: true });
  });

  describe('anonymous registry over plain http on loopback', () => {
    it('resolves a single-arch OCI image to its manifest digest and size, named as DCT names it', async () => {
      const pushed = await pushImage(plain, 'team/app', 'v1');
      const image = await resolveImage(`${plain.domain}/team/app:v1`, isolated());
      expect(image.gun).toBe(`${plain.domain}/team/app`);
      expect(image.tag).toBe('v1');
      expect(image.digest).toBe(pushed.digest);
      expect(image.size).toBe(pushed.bytes.length);
      expect(image.mediaType).toBe(MEDIA_TYPES.ociManifest);
    });

    it('resolves a Docker schema 2 image', async () => {
      const pushed = await pushImage(plain, 'team/docker-style', 'v1', { format: 'docker' });
      const image = await resolveImage(`${plain.domain}/team/docker-style:v1`, isolated());
      expect(image.digest).toBe(pushed.digest);
      expect(image.mediaType).toBe(MEDIA_TYPES.dockerManifest);
    });

    it('resolves a multi-arch OCI index to the index digest (what gets signed), not a platform manifest', async () => {
      const pushed = await pushImage(plain, 'team/multi', 'v1', { platforms: ['linux/amd64', 'linux/arm64', 'linux/s390x'] });
      expect(pushed.manifests).toHaveLength(3);
      const image = await resolveImage(`${plain.domain}/team/multi:v1`, isolated());
      expect(image.digest).toBe(pushed.digest);
      expect(image.size).toBe(pushed.size);
      expect(image.mediaType).toBe(MEDIA_TYPES.ociIndex);
      expect(pushed.manifests.map((m) => m.digest)).not.toContain(image.digest);
      // each platform manifest is reachable by its digest, and verified against it
      for (const child of pushed.manifests) {
        const got = await resolveManifest(parseImageReference(`${plain.domain}/team/multi@${child.digest}`), isolated());
        expect(got).toEqual({ digest: child.digest, size: child.size, mediaType: MEDIA_TYPES.ociManifest });
      }
    });

    it('resolves a Docker manifest list', async () => {
      const pushed = await pushImage(plain, 'team/multi-docker', 'v1', { platforms: ['linux/amd64', 'linux/arm/v7'], format: 'docker' });
      const image = await resolveImage(`${plain.domain}/team/multi-docker:v1`, isolated());
      expect(image.digest).toBe(pushed.digest);
      expect(image.mediaType).toBe(MEDIA_TYPES.dockerManifestList);
    });

    it('a tag re-pushed with other content yields a new digest, and the signed one no longer matches', async () => {
      const ref = `${plain.domain}/team/moving:release`;
      await pushImage(plain, 'team/moving', 'release');
      const before = await resolveImage(ref, isolated());

      // sign it as DCT would: target name = tag, hashes = manifest digest, length = manifest size
      const key = generatePrivateKey('ecdsa');
      const targets = signMetadata(
        'targets',
        targetsSigned({ targets: { [before.tag]: imageTargetMeta(before) }, version: 1, expires: expiryFrom(Date.now(), DEFAULT_EXPIRY_MS.targets) }),
        [{ key }],
      );
      const signed = parseMetadata(targets.bytes, 'targets').body.targets.get('release');
      if (!signed) throw new Error('signed target missing');
      expect(trustedDigest(signed).digest).toBe(before.digest);
      expect(compareDigest(signed, before)).toEqual({ $case: 'match', digest: before.digest, size: before.size });

      const repushed = await pushImage(plain, 'team/moving', 'release');
      const after = await resolveImage(ref, isolated());
      expect(after.digest).toBe(repushed.digest);
      expect(after.digest).not.toBe(before.digest);
      const verdict = compareDigest(signed, after);
      expect(verdict.$case).toBe('mismatch');
      if (verdict.$case === 'mismatch') {
        expect(verdict.message).toContain(before.digest);
        expect(verdict.message).toContain(after.digest);
      }
    });

    it('an unknown tag or repository is a clear NOT_FOUND naming the reference', async () => {
      await pushImage(plain, 'team/known', 'v1');
      const noTag = await rejection(resolveImage(`${plain.domain}/team/known:never-pushed`, isolated()));
      expect(noTag.code).toBe('NOT_FOUND');
      expect(noTag.message).toContain(`${plain.domain}/team/known:never-pushed not found`);
      const noRepo = await rejection(resolveImage(`${plain.domain}/team/unknown:v1`, isolated()));
      expect(noRepo.code).toBe('NOT_FOUND');
    });

    it('a tag pinned to a digest resolves only while the tag still points there', async () => {
      const first = await pushImage(plain, 'team/pinned', 'v1');
      const ok = await resolveImage(`${plain.domain}/team/pinned:v1@${first.digest}`, isolated());
      expect(ok.digest).toBe(first.digest);
      const second = await pushImage(plain, 'team/pinned', 'v1');
      const e = await rejection(resolveImage(`${plain.domain}/team/pinned:v1@${first.digest}`, isolated()));
      expect(e.code).toBe('DIGEST_MISMATCH');
      expect(e.message).toContain(second.digest);
      expect(e.message).toContain(first.digest);
    });

    it('a localhost name reaches the same registry and keeps its own GUN', async () => {
      const pushed = await pushImage(plain, 'team/byname', 'v1');
      const port = plain.domain.split(':')[1];
      const image = await resolveImage(`localhost:${port}/team/byname:v1`, isolated());
      expect(image.gun).toBe(`localhost:${port}/team/byname`);
      expect(image.digest).toBe(pushed.digest);
    });
  });

  describe('registry with bearer-token auth over TLS', () => {
    const alice = (o: RegistryClientOptions = {}) => isolated({ caFile: token.caFile, env: { VOUCH_REGISTRY_USER: 'alice', VOUCH_REGISTRY_PASSWORD: 'alice-password' }, ...o });

    it('refuses the registry certificate without its CA, and does not fall back to plain http', async () => {
      const before = token.tokenServer?.requests.length;
      const e = await rejection(resolveImage(`${token.domain}/team/app:v1`, isolated({ env: { VOUCH_REGISTRY_USER: 'alice', VOUCH_REGISTRY_PASSWORD: 'alice-password' } })));
      expect(e.code).toBe('TLS');
      expect(e.message).toMatch(/--registry-cacert/);
      expect(token.tokenServer?.requests.length).toBe(before);
    });

    it('with credentials: fetches a pull token with Basic auth and resolves the tag', async () => {
      const pushed = await pushImage(token, 'team/app', 'v1', { platforms: ['linux/amd64', 'linux/arm64'] });
      const before = token.tokenServer?.requests.length ?? 0;
      const image = await resolveImage(`${token.domain}/team/app:v1`, alice());
      expect(image.digest).toBe(pushed.digest);
      expect(image.mediaType).toBe(MEDIA_TYPES.ociIndex);
      const seen = token.tokenServer?.requests.slice(before) ?? [];
      expect(seen.length).toBeGreaterThan(0);
      for (const r of seen) {
        expect(r).toMatchObject({ account: 'alice', basicUser: 'alice', scope: 'repository:team/app:pull', service: 'vouch-test-registry', status: 200 });
      }
    });

    it('with credentials from docker config.json (DOCKER_CONFIG auths entry)', async () => {
      const pushed = await pushImage(token, 'team/from-config', 'v1');
      const dir = path.join(home, 'docker-config');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(
        path.join(dir, 'config.json'),
        JSON.stringify({ auths: { [`https://${token.domain}`]: { auth: Buffer.from('alice:alice-password').toString('base64') } } }),
      );
      const image = await resolveImage(`${token.domain}/team/from-config:v1`, isolated({ caFile: token.caFile, env: { DOCKER_CONFIG: dir } }));
      expect(image.digest).toBe(pushed.digest);
    });

    it('without credentials: a private repository is refused with a message naming what to set', async () => {
      await pushImage(token, 'team/private', 'v1');
      const before = token.tokenServer?.requests.length ?? 0;
      const e = await rejection(resolveImage(`${token.domain}/team/private:v1`, isolated({ caFile: token.caFile })));
      expect(e.code).toBe('UNAUTHORIZED');
      expect(e.message).toMatch(/requires credentials.*VOUCH_REGISTRY_USER/);
      const seen = token.tokenServer?.requests.slice(before) ?? [];
      expect(seen.length).toBeGreaterThan(0);
      for (const r of seen) expect(r).toMatchObject({ account: null, basicUser: null, scope: 'repository:team/private:pull' });
    });

    it('without credentials: a public repository resolves with an anonymous token', async () => {
      const pushed = await pushImage(token, 'public/base', 'stable');
      const image = await resolveImage(`${token.domain}/public/base:stable`, isolated({ caFile: token.caFile }));
      expect(image.digest).toBe(pushed.digest);
    });

    it('with a wrong password: the token server refuses and the error says whose credentials', async () => {
      const e = await rejection(
        resolveImage(`${token.domain}/team/app:v1`, alice({ env: { VOUCH_REGISTRY_USER: 'alice', VOUCH_REGISTRY_PASSWORD: 'not-her-password' } })),
      );
      expect(e.code).toBe('UNAUTHORIZED');
      expect(e.message).toMatch(/token server .* refused the credentials of "alice" from VOUCH_REGISTRY_USER/);
      expect(e.message).not.toContain('not-her-password');
    });
  });

  describe('registry with htpasswd basic auth over TLS', () => {
    it('resolves with credentials and refuses without or with wrong ones', async () => {
      const pushed = await pushImage(basic, 'team/app', 'v1');
      const ref = `${basic.domain}/team/app:v1`;
      const image = await resolveImage(ref, isolated({ caFile: basic.caFile, credentials: { username: 'bob', password: 'bob-password', source: 'test' } }));
      expect(image.digest).toBe(pushed.digest);

      const anonymous = await rejection(resolveImage(ref, isolated({ caFile: basic.caFile })));
      expect(anonymous.code).toBe('UNAUTHORIZED');
      expect(anonymous.message).toMatch(/requires credentials/);

      const wrong = await rejection(resolveImage(ref, isolated({ caFile: basic.caFile, credentials: { username: 'bob', password: 'nope', source: 'test' } })));
      expect(wrong.code).toBe('UNAUTHORIZED');
      expect(wrong.message).toMatch(/refused "bob"/);
    });
  });
});

describeWith(['docker-registry', 'docker'], "Docker's own client agrees on the digest", () => {
  let registry: TestRegistry;
  let dockerConfig: string;
  beforeAll(async () => {
    dockerConfig = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-docker-config-'));
    registry = await startRegistry();
  }, 60000);
  afterAll(async () => {
    await registry?.stop();
    await stopAll();
    fs.rmSync(dockerConfig, { recursive: true, force: true });
  });

  /** `docker manifest inspect -v` (no engine needed): the descriptor(s) Docker resolves for a reference */
  async function dockerDescriptors(ref: string): Promise<{ digest: string; size: number; mediaType: string }[]> {
    const out = await run('docker', ['manifest', 'inspect', '--insecure', '-v', ref], {
      env: { ...process.env, DOCKER_CONFIG: dockerConfig, DOCKER_CLI_EXPERIMENTAL: 'enabled' },
      timeoutMs: 60000,
    });
    if (out.code !== 0) throw new Error(`docker manifest inspect ${ref}: ${out.stderr}`);
    const parsed = JSON.parse(out.stdout) as unknown;
    const entries = (Array.isArray(parsed) ? parsed : [parsed]) as { Descriptor: { digest: string; size: number; mediaType: string } }[];
    return entries.map((e) => ({ digest: e.Descriptor.digest, size: e.Descriptor.size, mediaType: e.Descriptor.mediaType }));
  }

  it.each(['oci', 'docker'] as const)('a single-arch %s image: same digest, size and media type as docker resolves', async (format) => {
    await pushImage(registry, `interop/${format}`, 'v1', { format });
    const ref = `${registry.domain}/interop/${format}:v1`;
    const ours = await resolveImage(ref, { env: {}, homeDir: dockerConfig });
    expect(await dockerDescriptors(ref)).toEqual([{ digest: ours.digest, size: ours.size, mediaType: ours.mediaType }]);
  });

  it('a multi-arch index: docker lists exactly the platform manifests of the index we resolved', async () => {
    const pushed = await pushImage(registry, 'interop/multi', 'v1', { platforms: ['linux/amd64', 'linux/arm64'] });
    const ref = `${registry.domain}/interop/multi:v1`;
    const ours = await resolveImage(ref, { env: {}, homeDir: dockerConfig });
    expect(ours.digest).toBe(pushed.digest);
    const theirs = await dockerDescriptors(ref);
    expect(theirs.map((d) => d.digest).sort()).toEqual(pushed.manifests.map((m) => m.digest).sort());
    for (const child of theirs) {
      const byDigest = await resolveManifest(parseImageReference(`${registry.domain}/interop/multi@${child.digest}`), { env: {}, homeDir: dockerConfig });
      expect(byDigest).toEqual({ digest: child.digest, size: child.size, mediaType: child.mediaType });
    }
  });
});
