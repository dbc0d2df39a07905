/**
 * Interop of our client: GrpcKeyService (what vouch's server uses) against the real
 * notary-signer (Debian's 0.7 package, memory storage) over mutual TLS. Keys are created,
 * described and used; the pending-key rule matches ours; DeleteGunKeys, which notary-signer
 * does not implement, is a logged no-op.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ensureDevPki, DevPki } from '../../scripts/devpki';
import { GrpcKeyService } from '../../signer/client';
import { KeyAlgorithm } from '../../signer/api';
import { PublicKeyMsg } from '../../signer/protos';
import { verifySignature } from '../../tuf/keys';
import { describeWith } from '../helpers/interop';
import { startNotarySigner } from '../helpers/notary';
import { stopAll } from '../helpers/proc';
import { keyService, mtlsCredentials, rawClient, unary } from '../signer/harness';

const GUN = 'example.com/vouch/client-interop';

describeWith(['notary-signer'], 'GrpcKeyService against the real notary-signer', () => {
  let dir: string;
  let pki: DevPki;
  let port: number;
  let keys: GrpcKeyService;
  const warnings: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-client-notary-signer-'));
    pki = ensureDevPki(path.join(dir, 'pki'));
    port = (await startNotarySigner({ dir, pki, level: 'debug' })).port;
    keys = keyService(pki, port, undefined, { logger: { warn: (m) => warnings.push(m) } });
  });

  afterAll(async () => {
    await keys?.close();
    await stopAll();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds both health services SERVING', async () => {
    await expect(keys.health()).resolves.toBeUndefined();
  });

  it('creates, describes and signs with ecdsa and ed25519 keys; signatures verify', async () => {
    for (const algorithm of ['ecdsa', 'ed25519'] as KeyAlgorithm[]) {
      const key = await keys.createKey(GUN, 'timestamp', algorithm);
      expect(key.keytype).toBe(algorithm);
      const info = await keys.getKeyInfo(key.id);
      // notary-signer does not tell the GUN
      expect(info).toEqual({ key, role: 'timestamp', gun: '' });
      const msg = Buffer.from(`{"signed":{"algorithm":"${algorithm}"}}`);
      const sig = await keys.sign(key.id, msg);
      expect(verifySignature(key, algorithm === 'ecdsa' ? 'ecdsa' : 'eddsa', msg, sig)).toBe(true);
    }
  });

  it('maps an unknown key to null', async () => {
    expect(await keys.getKeyInfo('0'.repeat(64))).toBeNull();
  });

  it("gets notary-signer's own error for an unsupported algorithm, as ours gives it", async () => {
    const km = rawClient('keyManagement', port, mtlsCredentials(pki.caCert, pki.serverCert, pki.serverKey));
    const r = await unary<PublicKeyMsg>(km, 'CreateKey', { algorithm: 'rsa', gun: GUN, role: 'timestamp' });
    km.close();
    expect(r.err?.code).toBe(grpc.status.UNKNOWN);
    expect(r.err?.details).toBe('algorithm rsa not supported for create key');
  });

  it('treats the missing DeleteGunKeys as nothing to do, with a warning', async () => {
    await expect(keys.deleteGunKeys(GUN)).resolves.toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/does not implement DeleteGunKeys .*example\.com\/vouch\/client-interop/);
  });
});
