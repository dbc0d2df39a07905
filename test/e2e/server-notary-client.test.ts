/**
 * The real notary 0.7 client against our server, started as a user starts it (vouch-signer and
 * vouch-server from dist/ with config files, TLS from the dev PKI): the whole life of a
 * repository, checklist row 46 and issue 3's "done when" list.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseMetadata, parsePublicKey } from '../../tuf';
import { describeWith } from '../helpers/interop';
import { notaryClientPassphrases } from '../helpers/notary';
import { run } from '../helpers/proc';
import { Stack, startStack } from '../server/stack';
import { keyService } from '../signer/harness';

const GUN = 'example.com/vouch-e2e/app';
const PASSPHRASES = notaryClientPassphrases('e2e');

describeWith(['notary', 'openssl'], 'the real notary client against vouch-server', () => {
  let stack: Stack;
  let work: string;
  const payload = Buffer.from('hello from the vouch end-to-end test\n');
  const payloadSha = crypto.createHash('sha256').update(payload).digest('hex');

  const notary = async (trustDir: string, args: string[], input?: string) => {
    const r = await run('notary', ['-s', stack.url, '--tlscacert', stack.pki.caCert, '-d', path.join(work, trustDir), ...args], {
      env: { ...process.env, ...PASSPHRASES },
      cwd: work,
      timeoutMs: 60000,
      ...(input !== undefined ? { input } : {}),
    });
    return r;
  };
  /** run and require success, with the output in the failure message */
  const ok = async (trustDir: string, args: string[], input?: string) => {
    const r = await notary(trustDir, args, input);
    if (r.code !== 0) throw new Error(`notary ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}\nserver:\n${stack.server.output().slice(-3000)}`);
    return r.stdout + r.stderr;
  };
  const version = async (role: string, kind: 'root' | 'targets' | 'snapshot' | 'timestamp') => {
    const res = await stack.get(`/v2/${GUN}/_trust/tuf/${role}.json`);
    expect(res.status).toBe(200);
    return parseMetadata(res.body, kind).body.version;
  };
  const timestampKeyId = async () => parsePublicKey(JSON.parse((await stack.get(`/v2/${GUN}/_trust/tuf/timestamp.key`)).body.toString())).id;

  beforeAll(async () => {
    stack = await startStack();
    work = stack.dir;
    fs.writeFileSync(path.join(work, 'payload.txt'), payload);
  }, 90000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('answers the ping with {}', async () => {
    const res = await stack.get('/v2/');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('{}');
  });

  it('init -p publishes a new repository (root, targets, client snapshot; server timestamp)', async () => {
    await ok('trust', ['init', GUN, '-p']);
    expect(await version('root', 'root')).toBe(1);
    expect(await version('timestamp', 'timestamp')).toBe(1);
    const ts = parseMetadata((await stack.get(`/v2/${GUN}/_trust/tuf/timestamp.json`)).body, 'timestamp');
    expect(ts.signatures[0]?.method).toBe('ecdsa');
  });

  it('add and addhash publish targets; list, lookup and verify read them back', async () => {
    await ok('trust', ['add', GUN, 'hello', 'payload.txt', '-p']);
    await ok('trust', ['addhash', GUN, 'v1.0', '29', '--sha256', '9be8dca9978b667e589a2b70873242aa1325da4d7559d64371e62c370348bea5', '-p']);
    const list = await ok('trust', ['list', GUN]);
    expect(list).toMatch(new RegExp(`hello\\s+${payloadSha}\\s+${payload.length}\\s+targets`));
    expect(list).toMatch(/v1\.0\s+9be8dca9978b667e589a2b70873242aa1325da4d7559d64371e62c370348bea5\s+29\s+targets/);
    expect(await ok('trust', ['lookup', GUN, 'hello'])).toContain(`hello sha256:${payloadSha} ${payload.length}`);
    const verify = await run('notary', ['-s', stack.url, '--tlscacert', stack.pki.caCert, '-d', path.join(work, 'trust'), 'verify', GUN, 'hello'], {
      input: payload.toString(),
      env: { ...process.env, ...PASSPHRASES },
    });
    expect(verify.code).toBe(0);
    expect(verify.stdout).toBe(payload.toString());
    const tampered = await run('notary', ['-s', stack.url, '--tlscacert', stack.pki.caCert, '-d', path.join(work, 'trust'), 'verify', GUN, 'hello'], {
      input: 'not the payload\n',
      env: { ...process.env, ...PASSPHRASES },
    });
    expect(tampered.code).not.toBe(0);
  });

  it('remove publishes the removal', async () => {
    await ok('trust', ['remove', GUN, 'v1.0', '-p']);
    const list = await ok('trust', ['list', GUN]);
    expect(list).not.toContain('v1.0');
    expect(list).toContain('hello');
  });

  it('delegation add, then a publish signed with the delegation key (key made with openssl)', async () => {
    const key = path.join(work, 'releases.key');
    const cert = path.join(work, 'releases.crt');
    for (const args of [
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key],
      ['req', '-x509', '-new', '-key', key, '-sha256', '-days', '365', '-subj', '/CN=releases-signer', '-out', cert],
    ]) {
      const r = await run('openssl', args);
      expect(r.code).toBe(0);
    }
    await ok('trust', ['delegation', 'add', GUN, 'targets/releases', cert, '--all-paths', '-p']);
    expect(await ok('trust', ['delegation', 'list', GUN])).toContain('targets/releases');
    await ok('trust', ['key', 'import', key, '-r', 'targets/releases']);
    await ok('trust', ['add', GUN, 'release-1', 'payload.txt', '-r', 'targets/releases', '-p']);
    expect(await ok('trust', ['list', GUN])).toMatch(/release-1\s+[0-9a-f]{64}\s+\d+\s+targets\/releases/);
    expect(await version('targets/releases', 'targets')).toBe(1);
  });

  it('a second delegation with a key from notary key generate, restricted to a path', async () => {
    // the key goes into the client's key store; its public half comes from the stored file
    const out = await ok('trust', ['key', 'generate', 'ecdsa', '--role', 'ci']);
    const keyId = /keyID: ([0-9a-f]{64})/.exec(out)?.[1];
    expect(keyId).toBeDefined();
    const stored = fs.readFileSync(path.join(work, 'trust', 'private', `${keyId}.key`), 'utf8');
    expect(stored).toContain('role: ci');
    const pem = stored.replace(/^[a-z]+: .*\n/gm, '').replace(/-----\n\n/, '-----\n');
    const priv = crypto.createPrivateKey({ key: pem, format: 'pem', passphrase: PASSPHRASES.NOTARY_DELEGATION_PASSPHRASE });
    fs.writeFileSync(path.join(work, 'ci.pem'), crypto.createPublicKey(priv).export({ format: 'pem', type: 'spki' }));
    await ok('trust', ['delegation', 'add', GUN, 'targets/ci', path.join(work, 'ci.pem'), '--paths', 'ci/', '-p']);
    await ok('trust', ['add', GUN, 'ci/build-7', 'payload.txt', '-r', 'targets/ci', '-p']);
    expect(await ok('trust', ['list', GUN])).toMatch(/ci\/build-7\s+[0-9a-f]{64}\s+\d+\s+targets\/ci/);
  });

  it('witness re-signs a delegation without changes', async () => {
    const before = await version('targets/releases', 'targets');
    await ok('trust', ['witness', GUN, 'targets/releases', '-p']);
    expect(await version('targets/releases', 'targets')).toBe(before + 1);
  });

  it('key rotate timestamp -r moves to a new server key', async () => {
    const before = await timestampKeyId();
    const rootBefore = await version('root', 'root');
    await ok('trust', ['key', 'rotate', GUN, 'timestamp', '-r']);
    expect(await version('root', 'root')).toBe(rootBefore + 1);
    const after = await timestampKeyId();
    expect(after).not.toBe(before);
    const ts = parseMetadata((await stack.get(`/v2/${GUN}/_trust/tuf/timestamp.json`)).body, 'timestamp');
    expect(ts.signatures.map((s) => s.keyid)).toEqual([after]);
    expect(await ok('trust', ['list', GUN])).toContain('hello');
  });

  it('key rotate snapshot -r hands the snapshot to the server, and publishes keep working', async () => {
    await ok('trust', ['key', 'rotate', GUN, 'snapshot', '-r']);
    const snapshotKey = parsePublicKey(JSON.parse((await stack.get(`/v2/${GUN}/_trust/tuf/snapshot.key`)).body.toString()));
    const snap = parseMetadata((await stack.get(`/v2/${GUN}/_trust/tuf/snapshot.json`)).body, 'snapshot');
    expect(snap.signatures.map((s) => s.keyid)).toEqual([snapshotKey.id]);
    await ok('trust', ['add', GUN, 'after-snapshot-rotation', 'payload.txt', '-p']);
    expect(await ok('trust', ['list', GUN])).toContain('after-snapshot-rotation');
  });

  it('key rotate targets and key rotate root', async () => {
    await ok('trust', ['key', 'rotate', GUN, 'targets']);
    const rootBefore = await version('root', 'root');
    await ok('trust', ['key', 'rotate', GUN, 'root'], 'yes\n');
    const rootAfter = await version('root', 'root');
    expect(rootAfter).toBe(rootBefore + 1);
    // every root version stays available to clients walking the rotation chain
    for (let v = 1; v <= rootAfter; v++) expect((await stack.get(`/v2/${GUN}/_trust/tuf/${v}.root.json`)).status).toBe(200);
    await ok('trust', ['add', GUN, 'after-root-rotation', 'payload.txt', '-p']);
    expect(await ok('trust', ['list', GUN])).toContain('after-root-rotation');
  });

  it('a second client with a fresh trust dir trusts on first use and sees the same targets', async () => {
    const first = await ok('trust', ['list', GUN]);
    const fresh = await ok('trust-fresh', ['list', GUN]);
    const rows = (s: string) => s.split('\n').filter((l) => /[0-9a-f]{64}/.test(l)).sort();
    expect(rows(fresh)).toEqual(rows(first));
    expect(rows(fresh).length).toBeGreaterThanOrEqual(5);
    expect(fs.existsSync(path.join(work, 'trust-fresh', 'tuf', GUN, 'metadata', 'root.json'))).toBe(true);
  });

  it('delete --remote removes the repository from the server, and its online keys from the signer', async () => {
    const keyId = await timestampKeyId();
    const signer = keyService(stack.pki, stack.signerPort!);
    try {
      expect(await signer.getKeyInfo(keyId)).not.toBeNull();
      await ok('trust', ['delete', GUN, '--remote']);
      expect(await signer.getKeyInfo(keyId)).toBeNull();
    } finally {
      await signer.close();
    }
    expect((await stack.get(`/v2/${GUN}/_trust/tuf/root.json`)).status).toBe(404);
    const feed = JSON.parse((await stack.get(`/v2/${GUN}/_trust/changefeed?records=-1&change_id=-1`)).body.toString());
    expect(feed.records[0]).toMatchObject({ GUN, Version: 0, SHA256: '', Category: 'deletion' });
    const gone = await notary('trust-third', ['list', GUN]);
    expect(gone.code).not.toBe(0);
    expect(gone.stdout + gone.stderr).toMatch(/does not have trust data|not found|does not exist/i);
  });

  it('reports its storage and signer healthy, and unhealthy once the signer stops', async () => {
    const healthy = await stack.get('/_notary_server/health');
    expect(healthy.status).toBe(200);
    expect(healthy.body.toString()).toBe('{}');
    await stack.signer?.stop();
    const res = await stack.get('/_notary_server/health');
    expect(res.status).toBe(503);
    expect(Object.keys(JSON.parse(res.body.toString()))).toEqual(['Trust operational']);
  });

  it('wrote structured JSON logs without any passphrase', () => {
    const lines = stack.server.output().split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(10);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(lines.some((l) => /"msg":"request"/.test(l) && /"reqId"/.test(l))).toBe(true);
    // vouch-server and vouch-signer speak vouch-rpc/1, chosen by ALPN (signer/rpc)
    expect(lines.some((l) => /connected to the signer at .* \(vouch-rpc\/1\)/.test(l))).toBe(true);
    expect(lines.some((l) => /connected to the signer at .* \(h2\)/.test(l))).toBe(false);
    for (const p of Object.values(PASSPHRASES)) expect(stack.server.output()).not.toContain(p);
    expect(stack.server.output()).not.toContain('e2e-signer-passphrase-not-secret');
  });
});
