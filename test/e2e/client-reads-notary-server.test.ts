/**
 * The vouch client (read side) against the real notary-server 0.7 (memory storage, local trust
 * service, plain HTTP on a free port), reading a repository that the real notary client
 * published: targets, a delegation signed with an imported key, then a server-managed snapshot
 * key rotation and a root rotation, which the vouch client follows from its cached state.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MetadataCache } from '../../cli/cache';
import { findTarget, listTargets, updateRepository, verifyTargetBytes } from '../../cli/client';
import { Remote } from '../../cli/remote';
import { buildCertificate, KU, parseMetadata, pemEncode } from '../../tuf';
import { describeWith } from '../helpers/interop';
import { NotaryServer, notaryClientPassphrases, startNotaryServer } from '../helpers/notary';
import { run } from '../helpers/proc';

const GUN = 'example.com/vouch-client/app';
const PASSPHRASES = notaryClientPassphrases('client-e2e');

describeWith(['notary', 'notary-server'], 'the vouch client reads what the real notary client published to the real notary-server', () => {
  let work: string;
  let server: NotaryServer;
  let url: string;
  let remote: Remote;
  let cache: MetadataCache;
  const payload = Buffer.from('published by the real notary client\n');
  const release = Buffer.from('a release signed through a delegation\n');

  const notary = async (args: string[], input?: string) => {
    const r = await run('notary', ['-s', url, '-d', path.join(work, 'notary-trust'), ...args], {
      env: { ...process.env, ...PASSPHRASES },
      cwd: work,
      timeoutMs: 60000,
      ...(input !== undefined ? { input } : {}),
    });
    if (r.code !== 0) throw new Error(`notary ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}\nserver:\n${server.proc.output().slice(-3000)}`);
    return r.stdout + r.stderr;
  };
  const served = async (role: string) => (await remote.getMetadata(GUN, role, 4 << 20)) as Buffer;
  const update = () => updateRepository({ gun: GUN, remote, cache });

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-client-e2e-'));
    server = await startNotaryServer({ dir: work, tls: false });
    url = server.url;

    fs.writeFileSync(path.join(work, 'payload.txt'), payload);
    fs.writeFileSync(path.join(work, 'release.txt'), release);
    // a delegation key and certificate, as `openssl req -x509` would make them
    const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const now = Date.now();
    const cert = buildCertificate({
      subjectCN: 'releases-signer',
      subjectKey: key,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 365 * 86400_000),
      keyUsage: KU.digitalSignature,
    });
    fs.writeFileSync(path.join(work, 'releases.crt'), pemEncode('CERTIFICATE', cert));
    fs.writeFileSync(path.join(work, 'releases.key'), key.export({ format: 'pem', type: 'pkcs8' }).toString());

    await notary(['init', GUN, '-p']);
    await notary(['add', GUN, 'hello', 'payload.txt', '-p']);
    await notary(['addhash', GUN, 'v1.0', '29', '--sha256', '9be8dca9978b667e589a2b70873242aa1325da4d7559d64371e62c370348bea5', '-p']);
    await notary(['delegation', 'add', GUN, 'targets/releases', 'releases.crt', '--all-paths', '-p']);
    await notary(['key', 'import', 'releases.key', '-r', 'targets/releases']);
    await notary(['add', GUN, 'release-1', 'release.txt', '-r', 'targets/releases', '-p']);

    remote = new Remote({ url });
    cache = new MetadataCache(path.join(work, 'vouch-trust'));
  }, 180000);

  afterAll(async () => {
    remote?.close();
    await server?.proc.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('lists exactly what `notary list` lists, with the same digests, sizes and roles', async () => {
    const repo = await update();
    const ours = listTargets(repo).map((t) => `${t.name} ${t.meta.hashes.sha256!.toString('hex')} ${t.meta.length} ${t.role}`);
    const theirs = (await notary(['list', GUN]))
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((cols) => cols.length === 4 && /^[0-9a-f]{64}$/.test(cols[1]!))
      .map((cols) => cols.join(' '))
      .sort();
    expect(ours).toEqual(theirs);
    expect(ours).toHaveLength(3);
    expect(findTarget(repo, 'release-1')?.role).toBe('targets/releases');
    expect(() => verifyTargetBytes(findTarget(repo, 'hello')!, payload)).not.toThrow();
    expect(() => verifyTargetBytes(findTarget(repo, 'release-1')!, release)).not.toThrow();
    expect(repo.warnings).toEqual([]);
    // the cache holds the server's exact bytes
    for (const role of ['root', 'timestamp', 'targets', 'targets/releases']) {
      expect(cache.read(GUN, role)!.equals(await served(role))).toBe(true);
    }
  });

  it("follows notary's snapshot key rotation to the server and its root rotation from the cached state", async () => {
    const before = await update();
    expect(before.root.body.version).toBe(1);
    await notary(['key', 'rotate', GUN, 'snapshot', '-r']);
    await notary(['key', 'rotate', GUN, 'root'], 'yes\n');
    const serverRoot = parseMetadata(await served('root'), 'root');
    expect(serverRoot.body.version).toBeGreaterThanOrEqual(3);

    const after = await update();
    expect(after.root.bytes.equals(await served('root'))).toBe(true);
    expect(cache.read(GUN, 'root')!.equals(after.root.bytes)).toBe(true);
    // the snapshot is now signed by the server's key, which the new root names
    expect(after.snapshot.signatures[0]!.keyid).toBe(after.root.body.roles.get('snapshot')!.keyids[0]);
    expect(after.root.body.roles.get('snapshot')!.keyids).not.toEqual(before.root.body.roles.get('snapshot')!.keyids);
    expect(listTargets(after).map((t) => t.name)).toEqual(['hello', 'release-1', 'v1.0']);
  });

  it('is refused a repository the server does not have', async () => {
    await expect(updateRepository({ gun: 'example.com/vouch-client/none', remote, cache })).rejects.toMatchObject({ code: 'REPOSITORY_NOT_FOUND' });
  });
});
