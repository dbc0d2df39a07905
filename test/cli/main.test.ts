/**
 * The `vouch` process itself (dist/cli/main.js, built by `npm test`'s pretest): documented exit
 * codes, one line of error text (a stack only with --debug), JSON documents with --output json,
 * passphrases that never hang without a terminal, and the commands that work without a server.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodePrivateKeyPem } from '../../cli/keystore';
import { run } from '../helpers/proc';

const MAIN = path.resolve(__dirname, '../../dist/cli/main.js');
const GUN = 'example.com/cli/offline';
const PASS = { NOTARY_ROOT_PASSPHRASE: 'root-passphrase', NOTARY_TARGETS_PASSPHRASE: 'targets-passphrase', NOTARY_DELEGATION_PASSPHRASE: 'delegation-passphrase' };

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-main-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function vouch(args: string[], opts: { env?: Record<string, string>; input?: string; trust?: string } = {}) {
  return run('node', [MAIN, '-d', path.join(dir, opts.trust ?? 'trust'), '-s', 'https://127.0.0.1:1', ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, ...(opts.env ?? {}) },
    input: opts.input ?? '',
    timeoutMs: 30000,
  });
}

describe('usage', () => {
  it('help and version exit 0 and document the exit codes and the pipeline verify', async () => {
    const h = await vouch(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/3 {2}verification failed \/ not trusted/);
    const v = await vouch(['verify', '--help']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/pipeline form: verify <gun>:<tag> --digest sha256:<hex>/);
    expect((await vouch(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    [['no-such-command']],
    [['add', GUN]],
    [['--output', 'yaml', 'status', GUN]],
    [['addhash', GUN, 't', 'ten', '--sha256', 'a'.repeat(64)]],
    [['addhash', GUN, 't', '10', '--sha256', 'abc']],
    [['addhash', GUN, 't', '10']],
    [['status', 'a/../b']],
    [['add', GUN, 't', 'missing-file.bin']],
    [['add', GUN, 't', 'missing-file.bin', '-r', 'Targets/Bad']],
    [['verify', 'no-tag-here', '--digest', 'sha256:' + 'a'.repeat(64)]],
    [['sign', `${GUN}:v1`, '--digest', 'md5:abc', '--size', '1']],
    [['reset', GUN]],
  ])('%j exits 2 with one line of explanation', async (args) => {
    const r = await vouch(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().length).toBeGreaterThan(0);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('passphrases', () => {
  it('with no passphrase variable and no terminal, fails at once naming the variables (exit 6), writing no key', async () => {
    const started = Date.now();
    const r = await vouch(['key', 'generate', 'ecdsa'], { trust: 'nopass' });
    expect(r.code).toBe(6);
    expect(Date.now() - started).toBeLessThan(10000);
    expect(r.stderr).toMatch(/stdin is not a terminal: set VOUCH_ROOT_PASSPHRASE or NOTARY_ROOT_PASSPHRASE/);
    expect(fs.existsSync(path.join(dir, 'nopass/private')) ? fs.readdirSync(path.join(dir, 'nopass/private')) : []).toEqual([]);
  });

  it('never prints a passphrase, even with --debug', async () => {
    const r = await vouch(['-D', 'key', 'generate', 'ecdsa', '--role', 'targets/x'], { env: PASS, trust: 'secret' });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('delegation-passphrase');
  });
});

describe('server errors', () => {
  it('an unreachable server is exit 5, one line; --output json gives an error document; --debug adds the stack', async () => {
    const plain = await vouch(['list', GUN]);
    expect(plain.code).toBe(5);
    expect(plain.stderr.trim().split('\n').filter((l) => l.startsWith('* fatal'))).toHaveLength(1);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const json = await vouch(['--output', 'json', 'list', GUN]);
    expect(json.code).toBe(5);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'NETWORK', exitCode: 5 });
    const debug = await vouch(['-D', 'list', GUN]);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('publish of a repository never initialised needs the server first (exit 5 when it is down)', async () => {
    expect((await vouch(['publish', GUN], { env: PASS })).code).toBe(5);
  });
});

describe('staging without a server', () => {
  it('add, addhash, remove and witness write notary changelist files; status lists them; reset removes them', async () => {
    const payload = path.join(dir, 'payload.bin');
    fs.writeFileSync(payload, 'payload\n');
    const custom = path.join(dir, 'custom.json');
    fs.writeFileSync(custom, '{"b":1,"a":"x"}');
    expect((await vouch(['add', GUN, 'one', payload, '--custom', custom])).stdout).toBe(`Addition of target "one" to repository "${GUN}" staged for next publish.\n`);
    expect((await vouch(['addhash', GUN, 'two', '29', '--sha256', 'a'.repeat(64), '-r', 'targets/releases'])).code).toBe(0);
    expect((await vouch(['remove', GUN, 'three'])).stdout).toBe(`Removal of three from ${GUN} staged for next publish.\n`);
    expect((await vouch(['witness', GUN, 'targets', 'targets/releases'])).code).toBe(0);
    const files = fs.readdirSync(path.join(dir, 'trust/tuf', GUN, 'changelist')).sort();
    expect(files).toHaveLength(5);
    for (const f of files) expect(f).toMatch(/^\d{20}_[0-9a-f-]{36}\.change$/);
    expect(fs.readFileSync(path.join(dir, 'trust/tuf', GUN, 'changelist', files[2] as string), 'utf8')).toBe('{"action":"delete","role":"targets","type":"target","path":"three","data":null}');

    const status = await vouch(['status', GUN]);
    expect(status.stdout).toMatch(/#\s+ACTION\s+SCOPE\s+TYPE\s+PATH/);
    expect(status.stdout).toMatch(/1\s+create\s+targets\/releases\s+target\s+two/);
    const json = JSON.parse((await vouch(['--output', 'json', 'status', GUN])).stdout);
    expect(json.changes.map((c: { type: string; path: string }) => `${c.type}:${c.path}`)).toEqual(['target:one', 'target:two', 'target:three', 'witness:', 'witness:']);

    expect((await vouch(['reset', GUN, '-n', '1,3'])).code).toBe(0);
    expect(JSON.parse((await vouch(['--output', 'json', 'status', GUN])).stdout).changes.map((c: { path: string }) => c.path)).toEqual(['one', 'three', '']);
    expect((await vouch(['reset', GUN, '-n', '9'])).code).toBe(2);
    expect((await vouch(['reset', GUN, '--all'])).code).toBe(0);
    expect((await vouch(['status', GUN])).stdout).toBe(`No unpublished changes for ${GUN}\n`);
  });

  it('delete without --remote removes the local metadata and changelist, not the keys', async () => {
    await vouch(['add', GUN, 'x', path.join(dir, 'payload.bin')]);
    const r = await vouch(['delete', GUN]);
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(dir, 'trust/tuf', GUN))).toBe(false);
  });
});

describe('keys without a server', () => {
  it('generate, list, export, import, passwd and remove', async () => {
    const env = PASS;
    const gen = JSON.parse((await vouch(['--output', 'json', 'key', 'generate', 'ed25519', '--role', 'targets/releases'], { env, trust: 'keys' })).stdout);
    expect(gen).toMatchObject({ algorithm: 'ed25519', role: 'targets/releases' });
    const root = JSON.parse((await vouch(['--output', 'json', 'key', 'generate'], { env, trust: 'keys' })).stdout);
    expect(root).toMatchObject({ algorithm: 'ecdsa', role: 'root' });
    expect((await vouch(['key', 'generate', 'ed25519', '--role', 'root'], { env, trust: 'keys' })).code).toBe(2);

    const list = await vouch(['key', 'list'], { env, trust: 'keys' });
    expect(list.stdout).toMatch(/ROLE\s+GUN\s+KEY ID\s+LOCATION/);
    expect(list.stdout).toMatch(new RegExp(`root\\s+${root.keyId}\\s`));

    const exported = path.join(dir, 'exported.pem');
    expect((await vouch(['key', 'export', '--key', gen.keyId, '-o', exported], { env, trust: 'keys' })).code).toBe(0);
    expect(fs.readFileSync(exported, 'utf8')).toMatch(new RegExp(`path: ${gen.keyId}`));
    expect((await vouch(['key', 'import', exported], { env, trust: 'keys2' })).code).toBe(0);
    const list2 = JSON.parse((await vouch(['--output', 'json', 'key', 'list'], { env, trust: 'keys2' })).stdout);
    expect(list2.keys).toEqual([expect.objectContaining({ keyId: gen.keyId, role: 'targets/releases', encrypted: true })]);

    const keyFile = path.join(dir, 'keys2/private', `${gen.keyId}.key`);
    const before = fs.readFileSync(keyFile, 'utf8');
    // a wrong passphrase in the environment fails at once (VOUCH_ wins over NOTARY_) and changes nothing
    const wrong = await vouch(['key', 'passwd', gen.keyId], { env: { ...env, VOUCH_DELEGATION_PASSPHRASE: 'not-the-passphrase' }, trust: 'keys2' });
    expect(wrong.code).toBe(6);
    expect(wrong.stderr).toMatch(/VOUCH_DELEGATION_PASSPHRASE does not decrypt/);
    expect(fs.readFileSync(keyFile, 'utf8')).toBe(before);
    // passwd re-encrypts (fresh salt and IV) with the passphrase the source gives for a new key
    expect((await vouch(['key', 'passwd', gen.keyId], { env, trust: 'keys2' })).code).toBe(0);
    expect(fs.readFileSync(keyFile, 'utf8')).not.toBe(before);
    expect(decodePrivateKeyPem(fs.readFileSync(keyFile, 'utf8'), 'delegation-passphrase').key.public.id).toBe(gen.keyId);

    expect((await vouch(['key', 'remove', gen.keyId], { env, trust: 'keys2' })).code).toBe(2);
    expect((await vouch(['key', 'remove', gen.keyId], { env, trust: 'keys2', input: 'yes\n' })).code).toBe(0);
    expect(fs.existsSync(keyFile)).toBe(false);
    expect((await vouch(['key', 'remove', gen.keyId, '-y'], { env, trust: 'keys2' })).code).toBe(4);
  });
});
