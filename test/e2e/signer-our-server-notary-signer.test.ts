/**
 * Interop the other way round: OUR server (dist/server/main.js, trust_service remote) keeps its
 * online keys in the real notary-signer (Debian's 0.7 package, memory storage) over mutual TLS,
 * through GrpcKeyService. The real notary client initialises, publishes (with a server-managed
 * snapshot), and a fresh trust dir lists and verifies; deleting the repository works although
 * notary-signer cannot delete keys by GUN.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureDevPki, DevPki } from '../../scripts/devpki';
import { parseMetadata } from '../../tuf/metadata';
import { verifyThreshold } from '../../tuf/verify';
import { describeWith } from '../helpers/interop';
import { freePort, httpsGet } from '../helpers/net';
import { NotarySigner, notaryCli, remoteTrustService, startNotarySigner } from '../helpers/notary';
import { Proc, startProcess, stopAll } from '../helpers/proc';
import { keyService } from '../signer/harness';

const SERVER_MAIN = path.resolve(__dirname, '../../dist/server/main.js');
const GUN = 'example.com/vouch/our-server-notary-signer';

describeWith(['notary-signer', 'notary'], 'our server signs with the real notary-signer', () => {
  let dir: string;
  let pki: DevPki;
  let signer: NotarySigner;
  let server: Proc;
  let serverUrl: string;
  let signerPort: number;
  const payload = Buffer.from(`payload ${crypto.randomBytes(8).toString('hex')}\n`);
  const payloadFile = () => path.join(dir, 'payload.bin');

  const { run: notary, ok: expectOk } = notaryCli({
    server: () => serverUrl,
    dir: () => dir,
    caCert: () => pki.caCert,
    label: 'interop',
    logs: () => ({ server: server.output(), signer: signer.proc.output() }),
  });

  beforeAll(async () => {
    if (!fs.existsSync(SERVER_MAIN)) throw new Error(`${SERVER_MAIN} missing: run npm run build first`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-server-notary-signer-'));
    pki = ensureDevPki(path.join(dir, 'pki'));
    fs.writeFileSync(payloadFile(), payload);

    signer = await startNotarySigner({ dir, pki, level: 'debug' });
    signerPort = signer.port;

    const httpPort = await freePort();
    serverUrl = `https://localhost:${httpPort}`;
    const serverConfig = path.join(dir, 'server.json');
    fs.writeFileSync(
      serverConfig,
      JSON.stringify({
        server: { http_addr: `127.0.0.1:${httpPort}`, tls_cert_file: pki.serverCert, tls_key_file: pki.serverKey },
        trust_service: remoteTrustService(pki, signerPort, 'localhost'),
        storage: { backend: 'sqlite', path: path.join(dir, 'server.db') },
        logging: { level: 'info' },
      }),
    );
    server = startProcess(process.execPath, [SERVER_MAIN, '--config', serverConfig]);
    await server.waitFor(/vouch-server listening/, 30000);
  });

  afterAll(async () => {
    await stopAll();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes with the real notary client: init, add, server-managed snapshot, add', async () => {
    expectOk(await notary('trust', 'init', GUN, '-p'));
    expectOk(await notary('trust', 'add', GUN, 'v1', payloadFile(), '-p'));
    expectOk(await notary('trust', 'key', 'rotate', GUN, 'snapshot', '-r'));
    expectOk(await notary('trust', 'add', GUN, 'v2', payloadFile(), '-p'));
  });

  it('lets a fresh trust dir list and verify what was published', async () => {
    const list = await notary('fresh', 'list', GUN);
    expectOk(list);
    const sha = crypto.createHash('sha256').update(payload).digest('hex');
    expect(list.stdout).toMatch(new RegExp(`v1\\s+${sha}\\s+${payload.length}\\s+targets`));
    expect(list.stdout).toMatch(new RegExp(`v2\\s+${sha}\\s+${payload.length}\\s+targets`));
    expectOk(await notary('fresh', 'verify', GUN, 'v1', '-i', payloadFile(), '-q'));
  });

  it('speaks gRPC (h2) with the real notary-signer, which knows no vouch-rpc/1', () => {
    expect(server.output()).toMatch(/connected to the signer at .* \(h2\)/);
    expect(server.output()).not.toMatch(/\(vouch-rpc\/1\)/);
  });

  it('serves a timestamp and snapshot signed by keys the real notary-signer holds', async () => {
    const keys = keyService(pki, signerPort, { cert: pki.clientCert, key: pki.clientKey });
    try {
      const ca = fs.readFileSync(pki.caCert);
      const get = async (role: string) => {
        const res = await httpsGet(`${serverUrl}/v2/${GUN}/_trust/tuf/${role}.json`, ca);
        if (res.status !== 200) throw new Error(`GET ${role}.json: ${res.status}`);
        return res.body;
      };
      const root = parseMetadata(await get('root'), 'root');
      for (const role of ['timestamp', 'snapshot'] as const) {
        const md = parseMetadata(await get(role), role);
        const valid = verifyThreshold(md, root.body.keys, root.body.roles.get(role)!, role);
        expect(valid.size).toBeGreaterThan(0);
        for (const id of valid) {
          const info = await keys.getKeyInfo(id);
          expect(info?.role).toBe(role);
          expect(info?.key.keytype).toBe('ecdsa');
        }
      }
    } finally {
      await keys.close();
    }
  });

  it('deletes the repository; the missing DeleteGunKeys of notary-signer is only a warning', async () => {
    expectOk(await notary('trust', 'delete', GUN, '--remote'));
    await server.waitFor(/does not implement DeleteGunKeys/, 10000);
    const gone = await notary('gone', 'list', GUN);
    expect(gone.code).not.toBe(0);
  });
});
