/**
 * Interop: the real notary-server (Debian's 0.7 package, memory storage, trust_service remote)
 * uses OUR signer over mutual TLS for its timestamp and snapshot keys. The real notary client
 * initialises a repository, publishes targets, hands the snapshot key to the server, publishes
 * again; a fresh trust dir then lists and verifies. The served timestamp and snapshot carry
 * signatures by keys our signer holds.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureDevPki, DevPki } from '../../scripts/devpki';
import { GrpcKeyService } from '../../signer/client';
import { parseMetadata } from '../../tuf/metadata';
import { verifyThreshold } from '../../tuf/verify';
import { describeWith } from '../helpers/interop';
import { NotaryServer, notaryCli, startNotaryServer } from '../helpers/notary';
import { Proc, stopAll } from '../helpers/proc';
import { keyService, startTestSigner } from '../signer/harness';

const GUN = 'example.com/vouch/notary-server-interop';

describeWith(['notary-server', 'notary'], 'the real notary-server signs with vouch-signer', () => {
  let dir: string;
  let pki: DevPki;
  let signer: Proc;
  let server: NotaryServer;
  let serverUrl: string;
  let keys: GrpcKeyService;
  const payload = Buffer.from(`payload ${crypto.randomBytes(8).toString('hex')}\n`);
  const payloadFile = () => path.join(dir, 'payload.bin');

  const { run: notary, ok: expectOk } = notaryCli({
    server: () => serverUrl,
    dir: () => dir,
    label: 'interop',
    logs: () => ({ server: server.proc.output(), signer: signer.output() }),
  });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-signer-notary-server-'));
    pki = ensureDevPki(path.join(dir, 'pki'));
    fs.writeFileSync(payloadFile(), payload);
    let signerPort: number;
    ({ proc: signer, port: signerPort } = await startTestSigner({
      dir,
      pki,
      storage: { backend: 'sqlite', path: path.join(dir, 'signer.db') },
      alias: 'interop',
      passphrase: 'interop signer passphrase',
    }));

    server = await startNotaryServer({ dir, pki, signer: { port: signerPort, hostname: 'localhost' }, tls: false });
    serverUrl = server.url;
    keys = keyService(pki, signerPort);
  });

  afterAll(async () => {
    await keys?.close();
    await stopAll();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes a repository with the real notary client: init, add, server-managed snapshot, add', async () => {
    expectOk(await notary('trust', 'init', GUN, '-p'));
    expectOk(await notary('trust', 'add', GUN, 'v1', payloadFile(), '-p'));
    // hand the snapshot key to the server, i.e. to our signer
    expectOk(await notary('trust', 'key', 'rotate', GUN, 'snapshot', '-r'));
    expectOk(await notary('trust', 'add', GUN, 'v2', payloadFile(), '-p'));
    // the server asked our signer for a timestamp key and a snapshot key, and for signatures
    expect(signer.output()).toMatch(/"rpc":"CreateKey".*"role":"timestamp"/);
    expect(signer.output()).toMatch(/"rpc":"CreateKey".*"role":"snapshot"/);
    expect(signer.output()).toMatch(/"rpc":"Sign"/);
  });

  it('lets a fresh trust dir list and verify what was published', async () => {
    const list = await notary('fresh', 'list', GUN);
    expectOk(list);
    const sha = crypto.createHash('sha256').update(payload).digest('hex');
    expect(list.stdout).toMatch(new RegExp(`v1\\s+${sha}\\s+${payload.length}\\s+targets`));
    expect(list.stdout).toMatch(new RegExp(`v2\\s+${sha}\\s+${payload.length}\\s+targets`));
    expectOk(await notary('fresh', 'verify', GUN, 'v2', '-i', payloadFile(), '-q'));
    const tampered = path.join(dir, 'tampered.bin');
    fs.writeFileSync(tampered, Buffer.concat([payload, Buffer.from('x')]));
    expect((await notary('fresh', 'verify', GUN, 'v2', '-i', tampered, '-q')).code).not.toBe(0);
  });

  it('serves a timestamp and snapshot signed by keys that our signer holds for this GUN', async () => {
    const get = async (role: string) => {
      const res = await fetch(`${serverUrl}/v2/${GUN}/_trust/tuf/${role}.json`);
      expect(res.status).toBe(200);
      return Buffer.from(await res.arrayBuffer());
    };
    const root = parseMetadata(await get('root'), 'root');
    for (const role of ['timestamp', 'snapshot'] as const) {
      const md = parseMetadata(await get(role), role);
      const roleKeys = root.body.roles.get(role);
      expect(roleKeys).toBeDefined();
      const valid = verifyThreshold(md, root.body.keys, roleKeys!, role);
      for (const id of valid) {
        const info = await keys.getKeyInfo(id);
        expect(info).toMatchObject({ role, gun: GUN });
        expect(info?.key.keytype).toBe('ecdsa');
      }
      expect(valid.size).toBeGreaterThan(0);
    }
  });

  it("answers notary-server's periodic health checks of both services", async () => {
    await signer.waitFor(/"service":"grpc\.health\.v1\.Health\.KeyManagement"/, 25000);
    await signer.waitFor(/"service":"grpc\.health\.v1\.Health\.Signer"/, 25000);
    const res = await fetch(`${serverUrl}/_notary_server/health`);
    expect(res.status).toBe(200);
  });
});
