/**
 * `vouch` against the real Notary 0.7 stack (Debian's binaries): notary-server with a remote
 * notary-signer (mutual TLS, ECDSA online keys, memory storage; spec Appendix B) and the real
 * `notary` client.
 *
 * - vouch runs the whole lifecycle (init, add/addhash/remove, publish, list, lookup, verify,
 *   sign, pipeline verify, delegations incl. threshold 2, witness, every key rotation, delete
 *   --remote) and the real notary client reads every state it publishes;
 * - a repository notary publishes is read by vouch;
 * - one trust dir is shared: notary publishes what vouch staged (signing with vouch's ed25519 key
 *   files) and vouch publishes what notary staged (with notary's key files).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureDevPki, DevPki } from '../../scripts/devpki';
import { FIXTURES } from '../helpers/fixtures';
import { describeWith } from '../helpers/interop';
import { httpsGet } from '../helpers/net';
import { notaryClientPassphrases, startNotarySigner, startNotaryServer } from '../helpers/notary';
import { run, stopAll } from '../helpers/proc';

const MAIN = path.resolve(__dirname, '../../dist/cli/main.js');
const PASSPHRASES = notaryClientPassphrases('interop');

type Result = { code: number | null; stdout: string; stderr: string };

describeWith(['notary', 'notary-server', 'notary-signer'], 'vouch with the real notary-server, notary-signer and notary client', () => {
  let dir: string;
  let pki: DevPki;
  let url: string;
  const sha = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');

  const env = (extra: Record<string, string> = {}) => {
    const e: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: dir, ...PASSPHRASES, ...extra };
    return e;
  };
  const vouchIn = (trust: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Result> =>
    run('node', [MAIN, '-s', url, '--tlscacert', pki.caCert, '-d', path.join(dir, trust), ...args], { cwd: dir, env: env(opts.env), input: opts.input, timeoutMs: 60000 });
  const notaryIn = (trust: string, args: string[], opts: { input?: string } = {}): Promise<Result> =>
    run('notary', ['-s', url, '--tlscacert', pki.caCert, '-d', path.join(dir, trust), ...args], { cwd: dir, env: env(), input: opts.input, timeoutMs: 60000 });
  const ok = (r: Result) => {
    if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  const file = (name: string, content: string | Buffer) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  };

  /** GET a metadata file straight from the server (what every client downloads). */
  const getMeta = async (gun: string, name: string): Promise<{ status: number; json: any }> => {
    const res = await httpsGet(`${url}/v2/${gun}/_trust/tuf/${name}.json`, fs.readFileSync(pki.caCert));
    const body = res.body.toString('utf8');
    return { status: res.status, json: res.status === 200 ? JSON.parse(body) : body };
  };

  const rowsOf = (listing: string) =>
    listing
      .split('\n')
      .filter((l) => l && !l.startsWith('NAME') && !l.startsWith('----'))
      .map((l) => l.trim().split(/\s{2,}/));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-cli-interop-'));
    pki = ensureDevPki(path.join(dir, 'pki'));
    const signer = await startNotarySigner({ dir, pki });
    url = (await startNotaryServer({ dir, pki, signer: { port: signer.port } })).url;
  }, 60000);

  afterAll(async () => {
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('a repository vouch creates and maintains', () => {
    const GUN = 'example.com/vouch/app';
    const payload = Buffer.from('hello from vouch\n');
    const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
    let payloadFile: string;

    it('init -p publishes root v1 with a root certificate, targets v2 and a client-signed snapshot (ed25519 keys) that the server accepts', async () => {
      payloadFile = file('payload.txt', payload);
      ok(await vouchIn('vt', ['init', GUN, '-p']));
      const root = await getMeta(GUN, 'root');
      expect(root.status).toBe(200);
      expect(root.json.signed.version).toBe(1);
      const keyOf = (role: string) => root.json.signed.keys[root.json.signed.roles[role].keyids[0]];
      expect(keyOf('root').keytype).toBe('ecdsa-x509');
      expect(keyOf('targets').keytype).toBe('ed25519');
      expect(keyOf('snapshot').keytype).toBe('ed25519');
      // the timestamp key comes from the real signer (key_algorithm ecdsa)
      expect(keyOf('timestamp').keytype).toBe('ecdsa');
      expect((await getMeta(GUN, 'targets')).json.signed.version).toBe(2);
      expect((await getMeta(GUN, 'snapshot')).json.signed.version).toBe(2);
      // the real notary client trusts it on first use; so does a second vouch trust dir, which
      // keeps this root v1 as its anchor for the rotations below
      ok(await notaryIn('nt-fresh-1', ['list', GUN]));
      ok(await vouchIn('vt-reader', ['list', GUN]));
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'vt-reader/tuf', GUN, 'metadata/root.json'), 'utf8')).signed.version).toBe(1);
    });

    it('add, addhash and remove stage changes that publish signs; both clients list the same targets', async () => {
      ok(await vouchIn('vt', ['add', GUN, 'hello', payloadFile]));
      ok(await vouchIn('vt', ['addhash', GUN, 'by-hash', '29', '--sha256', sha('twenty-nine bytes of content!')]));
      // -p publishes at once (with what was staged before); --output json reports both in one document
      const added = JSON.parse(ok(await vouchIn('vt', ['--output', 'json', 'add', GUN, 'to-remove', payloadFile, '-p'])).stdout);
      expect(added).toMatchObject({ target: 'to-remove', staged: true, publish: { published: true, appliedChanges: 3 } });
      expect(added.publish.uploaded.map((u: { role: string }) => u.role).sort()).toEqual(['snapshot', 'targets']);
      ok(await vouchIn('vt', ['remove', GUN, 'to-remove', '-p']));
      const ours = ok(await vouchIn('vt', ['list', GUN])).stdout;
      const theirs = ok(await notaryIn('nt', ['list', GUN])).stdout;
      expect(rowsOf(ours)).toEqual([
        ['by-hash', sha('twenty-nine bytes of content!'), '29', 'targets'],
        ['hello', sha(payload), String(payload.length), 'targets'],
      ]);
      expect(rowsOf(theirs)).toEqual(rowsOf(ours));
      const json = JSON.parse(ok(await vouchIn('vt', ['--output', 'json', 'list', GUN])).stdout);
      expect(json.targets.map((t: { name: string }) => t.name)).toEqual(['by-hash', 'hello']);
    });

    it('lookup and verify agree with notary; a tampered payload is refused with exit 3', async () => {
      expect(ok(await vouchIn('vt', ['lookup', GUN, 'hello'])).stdout.trim()).toBe(`hello sha256:${sha(payload)} ${payload.length}`);
      expect(ok(await notaryIn('nt', ['lookup', GUN, 'hello'])).stdout.trim()).toBe(`hello sha256:${sha(payload)} ${payload.length}`);
      expect(ok(await vouchIn('vt', ['verify', GUN, 'hello', '-i', payloadFile])).stdout).toBe(payload.toString());
      expect(ok(await vouchIn('vt', ['verify', GUN, 'hello'], { input: payload.toString() })).stdout).toBe(payload.toString());
      ok(await notaryIn('nt', ['verify', GUN, 'hello', '-i', payloadFile, '-q']));
      const tampered = file('tampered.txt', 'hello from someone else\n');
      const bad = await vouchIn('vt', ['verify', GUN, 'hello', '-i', tampered, '-q']);
      expect(bad.code).toBe(3);
      expect(bad.stderr).toMatch(/expects/);
      expect((await vouchIn('vt', ['lookup', GUN, 'missing'])).code).toBe(4);
    });

    it('sign publishes a tag into targets; pipeline verify accepts exactly that digest and size, and says what it expected otherwise', async () => {
      const digest = `sha256:${sha(manifest)}`;
      ok(await vouchIn('vt', ['sign', `${GUN}:v1`, '--digest', digest, '--size', String(manifest.length)]));
      expect(ok(await vouchIn('vt', ['verify', `${GUN}:v1`, '--digest', digest, '--size', String(manifest.length)])).code).toBe(0);
      const wrongDigest = await vouchIn('vt', ['verify', `${GUN}:v1`, '--digest', `sha256:${sha('other')}`]);
      expect(wrongDigest.code).toBe(3);
      expect(wrongDigest.stderr).toContain(`signed for ${digest} size ${manifest.length}`);
      const wrongSize = await vouchIn('vt', ['--output', 'json', 'verify', `${GUN}:v1`, '--digest', digest, '--size', '1']);
      expect(wrongSize.code).toBe(3);
      expect(JSON.parse(wrongSize.stdout).error.detail.expected).toEqual({ digest, size: manifest.length, role: 'targets' });
      expect((await vouchIn('vt', ['verify', `${GUN}:nope`, '--digest', digest])).code).toBe(4);
      // the real notary client sees the tag as Docker would store it: sha256 only, manifest size
      expect(ok(await notaryIn('nt', ['lookup', GUN, 'v1'])).stdout.trim()).toBe(`v1 sha256:${sha(manifest)} ${manifest.length}`);
    });

    it('delegations from a generated key, a certificate and a public key; sign then goes into targets/releases, for both clients', async () => {
      ok(await vouchIn('vt', ['key', 'generate', 'ecdsa', '--role', 'targets/releases', '-o', path.join(dir, 'releases')]));
      ok(await vouchIn('vt', ['key', 'import', path.join(dir, 'releases-key.pem')]));
      ok(await vouchIn('vt', ['delegation', 'add', GUN, 'targets/releases', path.join(dir, 'releases.pem'), '--all-paths']));
      // a certificate (openssl-made, as in the fixtures) and an ed25519 PUBLIC KEY, with paths
      const ed = crypto.generateKeyPairSync('ed25519');
      const edPub = file('qa-ed25519.pem', ed.publicKey.export({ format: 'pem', type: 'spki' }) as string);
      ok(await vouchIn('vt', ['delegation', 'add', GUN, 'targets/qa', path.join(FIXTURES, 'keys/delegation/releases.crt'), edPub, '--paths', 'qa-,test-', '-p']));
      const digest = `sha256:${sha(manifest)}`;
      const signed = JSON.parse(ok(await vouchIn('vt', ['--output', 'json', 'sign', `${GUN}:v2`, '--digest', digest, '--size', String(manifest.length)])).stdout);
      expect(signed.role).toBe('targets/releases');
      expect(signed.uploaded.map((u: { role: string }) => u.role).sort()).toEqual(['snapshot', 'targets/releases']);
      const ours = rowsOf(ok(await vouchIn('vt', ['list', GUN])).stdout);
      expect(ours).toContainEqual(['v2', sha(manifest), String(manifest.length), 'targets/releases']);
      expect(rowsOf(ok(await notaryIn('nt', ['list', GUN])).stdout)).toEqual(ours);
      ok(await vouchIn('vt', ['verify', `${GUN}:v2`, '--digest', digest]));
      const dl = ok(await notaryIn('nt', ['delegation', 'list', GUN])).stdout;
      expect(dl).toMatch(/targets\/releases\s+"" <all paths>\s+[0-9a-f]{64}\s+1/);
      expect(dl).toMatch(/targets\/qa/);
      const vdl = JSON.parse(ok(await vouchIn('vt', ['--output', 'json', 'delegation', 'list', GUN])).stdout);
      const qa = vdl.delegations.find((d: { role: string }) => d.role === 'targets/qa');
      // canonical IDs, as notary lists them: the certificate shows as the bare key's ID
      expect(qa.keyIds).toContain('3fe9d02257be6e707104ebd7da194c573e61a50acc6c06d3d51c5f898f42f72a');
      expect(qa.paths).toEqual(['qa-', 'test-']);
    });

    it('a delegation with threshold 2 is accepted by the server and resolved by the real notary client', async () => {
      for (const n of ['t2a', 't2b']) {
        ok(await vouchIn('vt', ['key', 'generate', n === 't2a' ? 'ed25519' : 'ecdsa', '--role', 'targets/two', '-o', path.join(dir, n)]));
        ok(await vouchIn('vt', ['key', 'import', path.join(dir, `${n}-key.pem`)]));
      }
      ok(await vouchIn('vt', ['delegation', 'add', GUN, 'targets/two', path.join(dir, 't2a.pem'), path.join(dir, 't2b.pem'), '--all-paths', '--threshold', '2', '-p']));
      ok(await vouchIn('vt', ['sign', `${GUN}:two`, '--digest', `sha256:${sha('two')}`, '--size', '3', '--role', 'targets/two']));
      const two = await getMeta(GUN, 'targets/two');
      expect(two.json.signatures).toHaveLength(2);
      const top = await getMeta(GUN, 'targets');
      expect(top.json.signed.delegations.roles.find((r: { name: string }) => r.name === 'targets/two').threshold).toBe(2);
      expect(ok(await notaryIn('nt-fresh-2', ['lookup', GUN, 'two'])).stdout.trim()).toBe(`two sha256:${sha('two')} 3`);
    });

    it('witness re-signs a role without content changes (version + 1)', async () => {
      const before = (await getMeta(GUN, 'targets/releases')).json.signed;
      ok(await vouchIn('vt', ['witness', GUN, 'targets/releases', '-p']));
      const after = (await getMeta(GUN, 'targets/releases')).json.signed;
      expect(after.version).toBe(before.version + 1);
      expect(after.targets).toEqual(before.targets);
      ok(await notaryIn('nt', ['list', GUN]));
    });

    it('every key rotation publishes a root the server accepts, and both clients (cached and fresh) follow it', async () => {
      const rotations: [string[], (root: any) => void][] = [
        [['snapshot', '-r'], (r) => expect(r.signed.keys[r.signed.roles.snapshot.keyids[0]].keytype).toBe('ecdsa')],
        [['snapshot'], (r) => expect(r.signed.keys[r.signed.roles.snapshot.keyids[0]].keytype).toBe('ed25519')],
        [['targets'], (r) => expect(r.signed.keys[r.signed.roles.targets.keyids[0]].keytype).toBe('ed25519')],
        [['timestamp', '-r'], (r) => expect(r.signed.keys[r.signed.roles.timestamp.keyids[0]].keytype).toBe('ecdsa')],
        [['root', '-y'], (r) => expect(r.signatures).toHaveLength(2)],
      ];
      for (const [args, check] of rotations) {
        const before = (await getMeta(GUN, 'root')).json;
        const role = args[0] as string;
        ok(await vouchIn('vt', ['key', 'rotate', GUN, ...args]));
        const after = (await getMeta(GUN, 'root')).json;
        expect(after.signed.version).toBe(before.signed.version + 1);
        expect(after.signed.roles[role].keyids).not.toEqual(before.signed.roles[role].keyids);
        check(after);
        ok(await vouchIn('vt', ['list', GUN]));
        ok(await notaryIn('nt', ['list', GUN]));
      }
      // the new root is signed by the old and the new root key; the old certificate stays in keys
      const root = (await getMeta(GUN, 'root')).json;
      expect(Object.values(root.signed.keys).filter((k: any) => k.keytype === 'ecdsa-x509').length).toBeGreaterThanOrEqual(2);
      ok(await notaryIn('nt-fresh-3', ['list', GUN]));
      // a vouch client that trusted the first root walks the chain to the rotated one
      ok(await vouchIn('vt-reader', ['list', GUN]));
      // targets still sign after the targets key changed
      ok(await vouchIn('vt', ['sign', `${GUN}:after-rotation`, '--digest', `sha256:${sha('x')}`, '--size', '1', '--role', 'targets']));
      expect(ok(await notaryIn('nt', ['lookup', GUN, 'after-rotation'])).code).toBe(0);
    });

    it('root and targets thresholds of 2 (rotating to two keys each) are accepted by the server and read by notary', async () => {
      for (const n of ['r2a', 'r2b']) ok(await vouchIn('vt', ['key', 'generate', 'ecdsa', '--role', 'root', '-o', path.join(dir, n)]));
      for (const n of ['tg2a', 'tg2b']) ok(await vouchIn('vt', ['key', 'generate', 'ed25519', '--role', 'targets', '-o', path.join(dir, n)]));
      ok(await vouchIn('vt', ['key', 'rotate', GUN, 'targets', '-k', path.join(dir, 'tg2a-key.pem'), '-k', path.join(dir, 'tg2b-key.pem'), '--threshold', '2']));
      ok(await vouchIn('vt', ['key', 'rotate', GUN, 'root', '-y', '-k', path.join(dir, 'r2a-key.pem'), '-k', path.join(dir, 'r2b-key.pem'), '--threshold', '2']));
      const root = (await getMeta(GUN, 'root')).json;
      expect(root.signed.roles.root).toMatchObject({ threshold: 2 });
      expect(root.signed.roles.root.keyids).toHaveLength(2);
      expect(root.signed.roles.targets).toMatchObject({ threshold: 2 });
      ok(await vouchIn('vt', ['add', GUN, 'after-thresholds', payloadFile, '-p']));
      expect((await getMeta(GUN, 'targets')).json.signatures).toHaveLength(2);
      ok(await notaryIn('nt', ['lookup', GUN, 'after-thresholds']));
      ok(await notaryIn('nt-fresh-4', ['lookup', GUN, 'after-thresholds']));
    });

    it('delete --remote removes the trust data from the server and the local cache, keeping the keys', async () => {
      const keysBefore = fs.readdirSync(path.join(dir, 'vt/private')).sort();
      ok(await vouchIn('vt', ['delete', GUN, '--remote']));
      expect((await getMeta(GUN, 'root')).status).toBe(404);
      expect(fs.existsSync(path.join(dir, 'vt/tuf', GUN, 'metadata'))).toBe(false);
      expect(fs.readdirSync(path.join(dir, 'vt/private')).sort()).toEqual(keysBefore);
      expect((await vouchIn('vt', ['list', GUN])).code).toBe(4);
      expect((await notaryIn('nt-fresh-5', ['list', GUN])).code).not.toBe(0);
    });
  });

  describe('signing thousands of tags in one publish', () => {
    it('sign --batch adds 3000 tags with progress, in one upload the server accepts and notary reads', async () => {
      const GUN = 'example.com/vouch/many';
      const lines = Array.from({ length: 3000 }, (_, i) => `tag-${i} sha256:${sha(`manifest ${i}`)} ${100 + i}`);
      const batch = file('batch.txt', `# tag digest size\n${lines.join('\n')}\n`);
      const started = Date.now();
      const r = ok(await vouchIn('vt-many', ['sign', GUN, '--batch', batch]));
      expect(Date.now() - started).toBeLessThan(30000);
      expect(r.stdout).toContain(`Signed 3000 tags of ${GUN} into targets`);
      // progress on stderr (not a terminal: occasional lines, ending at 100%)
      expect(r.stderr).toMatch(/adding tags: 3000\/3000 \(100%\)/);
      const targets = (await getMeta(GUN, 'targets')).json;
      expect(Object.keys(targets.signed.targets)).toHaveLength(3000);
      expect(ok(await notaryIn('nt-many', ['lookup', GUN, 'tag-2999'])).stdout.trim()).toBe(`tag-2999 sha256:${sha('manifest 2999')} 3099`);
      ok(await vouchIn('vt-many', ['verify', `${GUN}:tag-1234`, '--digest', `sha256:${sha('manifest 1234')}`, '--size', '1334']));
    });
  });

  describe('a repository the real notary publishes is read by vouch', () => {
    const GUN = 'example.com/notary/made';
    const hello = Buffer.from('published by notary\n');
    const release = Buffer.from('release one\n');

    beforeAll(async () => {
      const helloFile = file('n-hello.txt', hello);
      const releaseFile = file('n-release.txt', release);
      ok(await notaryIn('nt-pub', ['init', GUN, '-p']));
      ok(await notaryIn('nt-pub', ['add', GUN, 'hello', helloFile, '-p']));
      ok(await notaryIn('nt-pub', ['delegation', 'add', GUN, 'targets/releases', path.join(FIXTURES, 'keys/delegation/releases.crt'), '--all-paths', '-p']));
      ok(await notaryIn('nt-pub', ['key', 'import', path.join(FIXTURES, 'keys/delegation/releases.key'), '-r', 'targets/releases']));
      ok(await notaryIn('nt-pub', ['add', GUN, 'release-1', releaseFile, '-r', 'targets/releases', '-p']));
    }, 60000);

    it('list, lookup and verify see what notary shows', async () => {
      const theirs = rowsOf(ok(await notaryIn('nt-pub', ['list', GUN])).stdout);
      const ours = rowsOf(ok(await vouchIn('vt-read', ['list', GUN])).stdout);
      expect(ours).toEqual(theirs);
      expect(ours).toEqual([
        ['hello', sha(hello), String(hello.length), 'targets'],
        ['release-1', sha(release), String(release.length), 'targets/releases'],
      ]);
      expect(ok(await vouchIn('vt-read', ['lookup', GUN, 'release-1'])).stdout.trim()).toBe(`release-1 sha256:${sha(release)} ${release.length}`);
      ok(await vouchIn('vt-read', ['verify', GUN, 'hello', '-i', path.join(dir, 'n-hello.txt'), '-q']));
      ok(await vouchIn('vt-read', ['verify', `${GUN}:release-1`, '--digest', `sha256:${sha(release)}`, '--size', String(release.length)]));
      expect(rowsOf(ok(await vouchIn('vt-read', ['list', GUN, '-r', 'targets/releases'])).stdout)[0]).toEqual(['hello', sha(hello), String(hello.length), 'targets']);
      const dl = JSON.parse(ok(await vouchIn('vt-read', ['--output', 'json', 'delegation', 'list', GUN])).stdout);
      expect(dl.delegations).toEqual([{ role: 'targets/releases', paths: [''], keyIds: ['3fe9d02257be6e707104ebd7da194c573e61a50acc6c06d3d51c5f898f42f72a'], threshold: 1 }]);
    });

    it("reads notary's config.json (-c): server URL, root_ca relative to the file, and trust pinning of the root certificate", async () => {
      const rootId = (await getMeta(GUN, 'root')).json.signed.roles.root.keyids[0] as string;
      const cfgDir = path.join(dir, 'cfg');
      fs.mkdirSync(cfgDir, { recursive: true });
      fs.copyFileSync(pki.caCert, path.join(cfgDir, 'root-ca.crt'));
      const config = (pin: string) =>
        JSON.stringify({ remote_server: { url, root_ca: 'root-ca.crt' }, trust_pinning: { certs: { [GUN]: [pin] } } });
      fs.writeFileSync(path.join(cfgDir, 'pinned-right.json'), config(rootId));
      fs.writeFileSync(path.join(cfgDir, 'pinned-wrong.json'), config('0'.repeat(64)));
      const viaConfig = (cfg: string, trust: string) =>
        run('node', [MAIN, '-c', path.join(cfgDir, cfg), '-d', path.join(dir, trust), 'list', GUN], { cwd: dir, env: env(), timeoutMs: 60000 });
      const wrong = await viaConfig('pinned-wrong.json', 'vt-pin-wrong');
      expect(wrong.code).toBe(3);
      expect(fs.existsSync(path.join(dir, 'vt-pin-wrong/tuf', GUN, 'metadata/root.json'))).toBe(false);
      expect(rowsOf(ok(await viaConfig('pinned-right.json', 'vt-pin-right')).stdout).map((r) => r[0])).toEqual(['hello', 'release-1']);
    });

    it('vouch publishes to the notary-made repository with keys from the trust dir notary wrote', async () => {
      // notary's trust dir: ECDSA keys in notary's own PKCS#8 files
      ok(await vouchIn('nt-pub', ['sign', `${GUN}:from-vouch`, '--digest', `sha256:${sha('m')}`, '--size', '1']));
      expect(ok(await notaryIn('nt-pub', ['lookup', GUN, 'from-vouch'])).stdout.trim()).toBe(`from-vouch sha256:${sha('m')} 1`);
      // signed into targets/releases, whose key notary imported into its trust dir
      const r = (await getMeta(GUN, 'targets/releases')).json;
      expect(Object.keys(r.signed.targets)).toContain('from-vouch');
    });
  });

  describe('one trust dir shared by vouch and notary', () => {
    it('vouch publishes changes notary staged (notary-written changelist and keys)', async () => {
      const GUN = 'example.com/shared/by-notary';
      const f = file('s1.txt', 'shared one\n');
      ok(await notaryIn('shared', ['init', GUN]));
      ok(await notaryIn('shared', ['add', GUN, 's1', f]));
      ok(await notaryIn('shared', ['delegation', 'add', GUN, 'targets/releases', path.join(FIXTURES, 'keys/delegation/releases.crt'), '--all-paths']));
      const status = JSON.parse(ok(await vouchIn('shared', ['--output', 'json', 'status', GUN])).stdout);
      expect(status.changes.map((c: { type: string; scope: string }) => `${c.type}:${c.scope}`)).toEqual(['target:targets', 'delegation:targets/releases', 'delegation:targets/releases']);
      ok(await vouchIn('shared', ['publish', GUN]));
      expect(JSON.parse(ok(await vouchIn('shared', ['--output', 'json', 'status', GUN])).stdout).changes).toEqual([]);
      expect(rowsOf(ok(await notaryIn('shared', ['list', GUN])).stdout)).toEqual([['s1', sha('shared one\n'), '11', 'targets']]);
      expect(ok(await notaryIn('shared', ['delegation', 'list', GUN])).stdout).toMatch(/targets\/releases/);
    });

    it('notary publishes changes vouch staged, signing with the ed25519 key files vouch wrote', async () => {
      const GUN = 'example.com/shared/by-vouch';
      const f = file('s2.txt', 'shared two\n');
      ok(await vouchIn('shared', ['init', GUN]));
      ok(await vouchIn('shared', ['add', GUN, 's2', f]));
      ok(await vouchIn('shared', ['addhash', GUN, 's2-hash', '3', '--sha256', sha('abc'), '--sha512', crypto.createHash('sha512').update('abc').digest('hex')]));
      // notary lists the key files vouch wrote, with their role (it shortens long GUNs)
      const ours = JSON.parse(ok(await vouchIn('shared', ['--output', 'json', 'key', 'list'])).stdout).keys;
      const targetsKey = ours.find((k: { role: string; gun: string }) => k.role === 'targets' && k.gun === GUN);
      expect(targetsKey).toBeDefined();
      expect(ok(await notaryIn('shared', ['key', 'list'])).stdout).toMatch(new RegExp(`^targets\\s+\\S*by-vouch\\s+${targetsKey.keyId}\\s`, 'm'));
      expect(ok(await notaryIn('shared', ['status', GUN])).stdout).toMatch(/create\s+targets\s+target\s+s2/);
      ok(await notaryIn('shared', ['publish', GUN]));
      const root = (await getMeta(GUN, 'root')).json;
      expect(root.signed.keys[root.signed.roles.targets.keyids[0]].keytype).toBe('ed25519');
      // notary signed targets v2 with our ed25519 key, and the snapshot with our ed25519 snapshot key
      const targets = (await getMeta(GUN, 'targets')).json;
      expect(targets.signatures[0].method).toBe('eddsa');
      expect(rowsOf(ok(await vouchIn('shared', ['list', GUN])).stdout)).toEqual([
        ['s2', sha('shared two\n'), '11', 'targets'],
        ['s2-hash', sha('abc'), '3', 'targets'],
      ]);
    });

    it('a key vouch generates into the trust dir is listed by notary with its role', async () => {
      const out = JSON.parse(ok(await vouchIn('shared', ['--output', 'json', 'key', 'generate', 'ecdsa', '--role', 'root'])).stdout);
      const listing = ok(await notaryIn('shared', ['key', 'list'])).stdout;
      expect(listing).toMatch(new RegExp(`^root\\s+${out.keyId}\\s`, 'm'));
    });
  });
});
