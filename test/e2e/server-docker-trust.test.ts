/**
 * `docker trust` (the docker CLI, no engine) against our server started as a user starts it:
 * `docker trust key generate`, `signer add` (which initialises the repository with a
 * server-managed snapshot, as Docker does), `inspect`, and `revoke`.
 *
 * What the CLI needs without an engine: DOCKER_CONTENT_TRUST_SERVER=https://host:port (https
 * only), the server's CA at $DOCKER_CONFIG/tls/<host:port of the trust server>/ca.crt, the
 * passphrases in DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE and
 * DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE, and a registry-style repository name
 * (`127.0.0.1:5000/team/app`); no registry is contacted by these commands. A signed tag is
 * made with the notary client on Docker's trust dir, since `docker trust sign` needs an engine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseMetadata } from '../../tuf';
import { describeWith } from '../helpers/interop';
import { run } from '../helpers/proc';
import { Stack, startStack } from '../server/stack';

const REPO = '127.0.0.1:5000/team/app';
const ROOT_PASS = 'docker-e2e-root-passphrase';
const REPO_PASS = 'docker-e2e-repository-passphrase';
const DIGEST = '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881';

describeWith(['docker', 'notary'], 'docker trust against vouch-server', () => {
  let stack: Stack;
  let dockerConfig: string;
  let env: NodeJS.ProcessEnv;

  const docker = async (args: string[]) => {
    const r = await run('docker', args, { env, cwd: dockerConfig, timeoutMs: 60000 });
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}\nserver:\n${stack.server.output().slice(-3000)}`);
    return r.stdout + r.stderr;
  };
  const inspect = async () => JSON.parse(await docker(['trust', 'inspect', REPO]))[0];

  beforeAll(async () => {
    stack = await startStack();
    dockerConfig = path.join(stack.dir, 'docker');
    const tlsDir = path.join(dockerConfig, 'tls', `127.0.0.1:${stack.port}`);
    fs.mkdirSync(tlsDir, { recursive: true });
    fs.copyFileSync(stack.pki.caCert, path.join(tlsDir, 'ca.crt'));
    env = {
      ...process.env,
      DOCKER_CONFIG: dockerConfig,
      DOCKER_CONTENT_TRUST_SERVER: stack.url,
      DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE: ROOT_PASS,
      DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: REPO_PASS,
      // no engine anywhere: make sure nothing tries one
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    };
  }, 90000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('docker trust key generate writes a signer key', async () => {
    const out = await docker(['trust', 'key', 'generate', 'alice', '--dir', dockerConfig]);
    expect(out).toMatch(/Successfully generated and loaded private key/);
    expect(fs.readFileSync(path.join(dockerConfig, 'alice.pub'), 'utf8')).toContain('PUBLIC KEY');
  });

  it('docker trust signer add initialises the repository with a server-managed snapshot', async () => {
    const out = await docker(['trust', 'signer', 'add', '--key', path.join(dockerConfig, 'alice.pub'), 'alice', REPO]);
    expect(out).toContain(`Successfully initialized "${REPO}"`);
    expect(out).toContain(`Successfully added signer: alice to ${REPO}`);
    // Docker never uploads a snapshot: the server signed it with its own key
    const snapKey = JSON.parse((await stack.get(`/v2/${REPO}/_trust/tuf/snapshot.key`)).body.toString());
    const snap = parseMetadata((await stack.get(`/v2/${REPO}/_trust/tuf/snapshot.json`)).body, 'snapshot');
    expect(snap.signatures).toHaveLength(1);
    expect(snapKey.keytype).toBe('ecdsa');
    // the delegations are declared in targets; their files only appear with the first signed tag
    expect([...snap.body.meta.keys()].sort()).toEqual(['root', 'targets']);
    const targets = parseMetadata((await stack.get(`/v2/${REPO}/_trust/tuf/targets.json`)).body, 'targets');
    expect(targets.body.delegations.map((d) => d.name).sort()).toEqual(['targets/alice', 'targets/releases']);
  });

  it('docker trust inspect shows the signer and the administrative keys', async () => {
    const info = await inspect();
    expect(info.Name).toBe(REPO);
    expect(info.SignedTags).toEqual([]);
    expect(info.Signers.map((s: { Name: string }) => s.Name)).toEqual(['alice']);
    expect(info.AdministrativeKeys.map((k: { Name: string }) => k.Name).sort()).toEqual(['Repository', 'Root']);
    const pretty = await docker(['trust', 'inspect', '--pretty', REPO]);
    expect(pretty).toMatch(/alice\s+[0-9a-f]{12}/);
  });

  it('shows a tag signed into the signer\'s roles (signed with the notary client on Docker\'s trust dir)', async () => {
    const r = await run(
      'notary',
      ['-s', stack.url, '--tlscacert', stack.pki.caCert, '-d', path.join(dockerConfig, 'trust'), 'addhash', REPO, 'v1', '1234', '--sha256', DIGEST, '-r', 'targets/releases', '-r', 'targets/alice', '-p'],
      { env: { ...env, NOTARY_DELEGATION_PASSPHRASE: REPO_PASS, NOTARY_TARGETS_PASSPHRASE: REPO_PASS, NOTARY_ROOT_PASSPHRASE: ROOT_PASS } },
    );
    expect(r.code).toBe(0);
    const info = await inspect();
    expect(info.SignedTags).toEqual([{ SignedTag: 'v1', Digest: DIGEST, Signers: ['alice'] }]);
  });

  it('docker trust revoke removes the tag\'s signature', async () => {
    const out = await docker(['trust', 'revoke', '--yes', `${REPO}:v1`]);
    expect(out).toContain(`Successfully deleted signature for ${REPO}:v1`);
    const info = await inspect();
    expect(info.SignedTags).toEqual([]);
    expect(info.Signers.map((s: { Name: string }) => s.Name)).toEqual(['alice']);
  });

  it('a second signer can be added to the existing repository', async () => {
    await docker(['trust', 'key', 'generate', 'bob', '--dir', dockerConfig]);
    const out = await docker(['trust', 'signer', 'add', '--key', path.join(dockerConfig, 'bob.pub'), 'bob', REPO]);
    expect(out).toContain(`Successfully added signer: bob to ${REPO}`);
    expect(out).not.toContain('Initializing');
    const info = await inspect();
    expect(info.Signers.map((s: { Name: string }) => s.Name).sort()).toEqual(['alice', 'bob']);
  });
});
