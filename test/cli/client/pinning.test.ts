/**
 * Trust pinning (spec 5.7): certificate IDs by GUN and `prefix*`, CA bundles by longest prefix,
 * TOFU and disable_tofu, through the real update workflow against the simulator.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTrustPinning, PinningError, rootPinFor, TrustPinConfig } from '../../../cli/client';
import { buildCertificate, makePublicKey, pemEncode, generatePrivateKey, KU } from '../../../tuf';
import { closeAll, DAY, harness } from './harness';

afterEach(closeAll);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-pinning-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

/** A CA, and a root certificate for `gun` issued by it (optionally through an intermediate). */
function caIssued(gun: string, now: number, withIntermediate = false) {
  const caKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const notBefore = new Date(now - DAY);
  const notAfter = new Date(now + 365 * DAY);
  const caDer = buildCertificate({ subjectCN: 'pinned CA', subjectKey: caKey, notBefore, notAfter, isCA: true, keyUsage: KU.certSign | KU.digitalSignature });
  let issuerCN = 'pinned CA';
  let issuerKey = caKey;
  const chain: Buffer[] = [];
  if (withIntermediate) {
    const intKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    chain.push(buildCertificate({ subjectCN: 'intermediate', subjectKey: intKey, issuerCN, issuerKey, notBefore, notAfter, isCA: true, keyUsage: KU.certSign }));
    issuerCN = 'intermediate';
    issuerKey = intKey;
  }
  const key = generatePrivateKey('ecdsa');
  const leaf = buildCertificate({
    subjectCN: gun,
    subjectKey: key.keyObject,
    issuerCN,
    issuerKey,
    notBefore,
    notAfter,
    keyUsage: KU.digitalSignature | KU.keyEncipherment,
    extKeyUsage: [CODE_SIGNING],
  });
  const pem = [leaf, ...chain].map((d) => pemEncode('CERTIFICATE', d)).join('');
  const caFile = path.join(dir, `ca-${crypto.randomBytes(4).toString('hex')}.pem`);
  fs.writeFileSync(caFile, pemEncode('CERTIFICATE', caDer));
  return { signer: { key, cert: makePublicKey('ecdsa-x509', Buffer.from(pem, 'utf8')) }, caFile };
}

const pinning = (p: unknown): TrustPinConfig => parseTrustPinning(p);

describe('trust pinning on first contact', () => {
  it('accepts a root whose certificate ID is pinned for the GUN', async () => {
    const h = await harness();
    const id = h.sim.rootKeys[0]!.cert.id;
    const infos: string[] = [];
    await h.update({ pinning: pinning({ certs: { [h.sim.gun]: [id] } }), onFirstUse: (_fp, info) => infos.push(info.mode) });
    expect(infos).toEqual(['certs']);
  });

  it('refuses a root whose certificate is not the pinned one', async () => {
    const h = await harness();
    const err = await h.refused({ pinning: pinning({ certs: { [h.sim.gun]: ['0'.repeat(64)] } }) });
    expect(err.code).toBe('PINNING');
    expect(h.cache.read(h.sim.gun, 'root')).toBeNull();
  });

  it('uses the longest matching prefix* entry when the GUN has none of its own', async () => {
    const h = await harness();
    const id = h.sim.rootKeys[0]!.cert.id;
    // the shorter wildcard would accept, the longer (more specific) one refuses
    const cfg = pinning({ certs: { 'example.com/*': [id], 'example.com/simulated/*': ['f'.repeat(64)] } });
    expect((await h.refused({ pinning: cfg })).code).toBe('PINNING');
    await h.update({ pinning: pinning({ certs: { 'example.com/*': ['f'.repeat(64)], 'example.com/simulated/*': [id] } }) });
  });

  it('accepts a root certificate issued by the pinned CA, also through an intermediate in the root', async () => {
    for (const withIntermediate of [false, true]) {
      const gun = `example.com/ca-pinned/${withIntermediate ? 'int' : 'direct'}`;
      let caFile = '';
      const h = await harness({
        gun,
        prepare: (sim) => {
          const issued = caIssued(gun, sim.now, withIntermediate);
          caFile = issued.caFile;
          sim.rootKeys = [issued.signer];
          sim.addTarget('targets', 'v1', 'x');
        },
      });
      const modes: string[] = [];
      const repo = await h.update({ pinning: pinning({ ca: { 'example.com/': caFile, 'example.com/ca-pinned/': caFile } }), onFirstUse: (_f, i) => modes.push(i.mode) });
      expect(modes).toEqual(['ca']);
      expect(repo.root.bytes.equals(h.sim.root.bytes)).toBe(true);
    }
  });

  it('refuses a self-signed root when a CA is pinned for its prefix', async () => {
    const h = await harness();
    const other = caIssued('example.com/other', h.sim.now);
    const err = await h.refused({ pinning: pinning({ ca: { 'example.com/': other.caFile } }) });
    expect(err.code).toBe('PINNING');
  });

  it('fails closed when the pinned CA bundle is unreadable or holds no valid CA', async () => {
    const h = await harness();
    expect((await h.refused({ pinning: pinning({ ca: { 'example.com/': path.join(dir, 'missing.pem') } }) })).code).toBe('PINNING');
    const expiredKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const expired = buildCertificate({
      subjectCN: 'old CA',
      subjectKey: expiredKey,
      notBefore: new Date(h.sim.now - 20 * DAY),
      notAfter: new Date(h.sim.now - 10 * DAY),
      isCA: true,
      keyUsage: KU.certSign,
    });
    const file = path.join(dir, 'expired-ca.pem');
    fs.writeFileSync(file, pemEncode('CERTIFICATE', expired));
    const err = await h.refused({ pinning: pinning({ ca: { 'example.com/': file } }) });
    expect(err.code).toBe('PINNING');
    expect(err.message).toMatch(/none is currently valid/);
  });

  it('refuses first contact with disable_tofu and no pin, but uses a cached root as the pin', async () => {
    const h = await harness();
    const noTofu = pinning({ disable_tofu: true });
    const err = await h.refused({ pinning: noTofu });
    expect(err.code).toBe('PINNING');
    expect(h.sim.requests.some((r) => r.includes('root.json'))).toBe(false);
    await h.update();
    // with a cached root, disable_tofu does not matter: the cached root is the pin
    const repo = await h.update({ pinning: noTofu });
    expect(repo.root.body.version).toBe(1);
  });

  it('applies pins again when a cached root has expired and a new one is bootstrapped', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addTarget('targets', 'v1', 'x');
        sim.setExpires('root', sim.now + 10 * DAY);
      },
    });
    await h.update();
    h.sim.setExpires('root', h.sim.now + 3650 * DAY);
    h.sim.publish();
    const later = h.sim.now + 11 * DAY;
    const wrongPin = pinning({ certs: { [h.sim.gun]: ['0'.repeat(64)] } });
    expect((await h.refused({ now: later, pinning: wrongPin })).code).toBe('PINNING');
    const rightPin = pinning({ certs: { [h.sim.gun]: [h.sim.rootKeys[0]!.cert.id] }, disable_tofu: true });
    const repo = await h.update({ now: later, pinning: rightPin });
    expect(repo.root.body.version).toBe(2);
  });
});

describe('the trust_pinning section', () => {
  it('reads notary config keys case-insensitively and validates their shapes', () => {
    const cfg = parseTrustPinning({ Certs: { 'a/b': ['ABC'] }, CA: { 'a/': 'ca.pem' }, Disable_TOFU: true });
    expect([...cfg.certs]).toEqual([['a/b', ['abc']]]);
    expect([...cfg.ca]).toEqual([['a/', 'ca.pem']]);
    expect(cfg.disableTofu).toBe(true);
    expect(parseTrustPinning(undefined).disableTofu).toBe(false);
    expect(() => parseTrustPinning({ certs: { x: [1] } })).toThrow(PinningError);
    expect(() => parseTrustPinning({ ca: { x: 3 } })).toThrow(PinningError);
    expect(() => parseTrustPinning({ disable_tofu: 'yes' })).toThrow(PinningError);
    expect(() => parseTrustPinning([])).toThrow(PinningError);
  });

  it('prefers an exact GUN entry over wildcards, and certs over CAs', () => {
    const cfg = parseTrustPinning({ certs: { 'a/*': ['1'], 'a/b': ['2'] }, ca: { 'a/': '/nonexistent' } });
    expect(rootPinFor(cfg, 'a/b', { firstContact: true, now: Date.now() }).entry).toBe('a/b');
    expect(rootPinFor(cfg, 'a/c', { firstContact: true, now: Date.now() }).entry).toBe('a/*');
    expect(() => rootPinFor(cfg, 'b/c', { firstContact: true, now: Date.now() })).not.toThrow();
    expect(rootPinFor(cfg, 'b/c', { firstContact: true, now: Date.now() }).mode).toBe('tofu');
  });
});
