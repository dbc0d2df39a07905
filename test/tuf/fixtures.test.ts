/**
 * Real trust data made by the real notary 0.7 client and server: every file parses, every
 * signature, hash and length verifies, and our serialisation is byte-identical.
 * The fixtures' timestamps expire on 2026-12-07, so the clock is pinned.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  canonicalKeyId,
  certificateKeyFromPem,
  checkFileMeta,
  checkNotExpired,
  matchesSchema,
  Metadata,
  parseJson,
  parseMetadata,
  parsePublicKey,
  Root,
  serializeMetadata,
  Snapshot,
  Targets,
  Timestamp,
  verifyRoot,
  verifyThreshold,
} from '../../tuf';
import { FIXTURES, FIXTURE_APP_GUN as APP, FIXTURE_NOW as NOW, FIXTURE_SERVER_SNAPSHOT_GUN as SERVER_SNAPSHOT } from '../helpers/fixtures';


const read = (rel: string) => fs.readFileSync(path.join(FIXTURES, rel));

function metadataFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(FIXTURES, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.json')) out.push(rel);
    }
  };
  for (const d of ['app', 'server-snapshot']) walk(d);
  return out.sort();
}

/** Verify a whole repository folder top-down as a client would, with the given root. */
function verifyRepository(dir: string, gun: string, trusted?: Root) {
  const root = parseMetadata(read(`${dir}/root.json`), 'root');
  verifyRoot(root, { gun, trusted, now: NOW, checkExpiry: true });
  const role = (name: string) => {
    const r = root.body.roles.get(name);
    if (!r) throw new Error(`no role ${name}`);
    return r;
  };

  const timestampBytes = read(`${dir}/timestamp.json`);
  const timestamp: Timestamp = parseMetadata(timestampBytes, 'timestamp');
  verifyThreshold(timestamp, root.body.keys, role('timestamp'), 'timestamp');
  checkNotExpired(timestamp, 'timestamp', NOW);

  const snapshotBytes = read(`${dir}/snapshot.json`);
  checkFileMeta(snapshotBytes, timestamp.body.snapshot, 'snapshot');
  const snapshot: Snapshot = parseMetadata(snapshotBytes, 'snapshot');
  verifyThreshold(snapshot, root.body.keys, role('snapshot'), 'snapshot');
  checkNotExpired(snapshot, 'snapshot', NOW);

  const rootMeta = snapshot.body.meta.get('root');
  expect(rootMeta).toBeDefined();
  checkFileMeta(root.bytes, rootMeta!, 'root');

  const targetsBytes = read(`${dir}/targets.json`);
  checkFileMeta(targetsBytes, snapshot.body.meta.get('targets')!, 'targets');
  const targets: Targets = parseMetadata(targetsBytes, 'targets');
  verifyThreshold(targets, root.body.keys, role('targets'), 'targets');
  checkNotExpired(targets, 'targets', NOW);

  const delegated: Targets[] = [];
  for (const d of targets.body.delegations) {
    const file = `${dir}/${d.name}.json`;
    if (!fs.existsSync(path.join(FIXTURES, file))) continue;
    const bytes = read(file);
    checkFileMeta(bytes, snapshot.body.meta.get(d.name)!, d.name);
    const md: Targets = parseMetadata(bytes, 'targets');
    verifyThreshold(md, targets.body.delegationKeys, d, d.name);
    checkNotExpired(md, d.name, NOW);
    delegated.push(md);
  }
  return { root, timestamp, snapshot, targets, delegated };
}

describe('notary 0.7 fixtures', () => {
  it.each(metadataFiles())('%s parses and re-serialises byte for byte', (rel) => {
    const bytes = read(rel);
    const md: Metadata = parseMetadata(bytes);
    expect(serializeMetadata(md.signed, md.signatures).equals(bytes)).toBe(true);
    expect(md.bytes).toBe(bytes);
  });

  it.each(['app/before-root-rotation', 'app/after-root-rotation'])('%s verifies top-down: signatures, thresholds, hashes, lengths', (dir) => {
    const repo = verifyRepository(dir, APP);
    expect(repo.delegated).toHaveLength(1);
    expect(repo.snapshot.body.meta.size).toBe(3);
  });

  it('server-snapshot GUN (server-held snapshot key) verifies top-down', () => {
    const repo = verifyRepository('server-snapshot', SERVER_SNAPSHOT);
    const snapshotKey = parsePublicKey(parseJson(read('server-snapshot/snapshot.key')));
    const timestampKey = parsePublicKey(parseJson(read('server-snapshot/timestamp.key')));
    expect(repo.root.body.roles.get('snapshot')!.keyids).toEqual([snapshotKey.id]);
    expect(repo.root.body.roles.get('timestamp')!.keyids).toEqual([timestampKey.id]);
    expect(snapshotKey.id.startsWith('502c65aa')).toBe(true);
    expect(timestampKey.id.startsWith('f5a0ea8e')).toBe(true);
  });

  it('the served timestamp.key is the key root lists for timestamp', () => {
    const root = parseMetadata(read('app/before-root-rotation/root.json'), 'root');
    const key = parsePublicKey(parseJson(read('app/before-root-rotation/timestamp.key')));
    expect(root.body.roles.get('timestamp')!.keyids).toEqual([key.id]);
    expect(key.id.startsWith('478993b7')).toBe(true);
  });

  it('lists the listing the fixtures README expects', () => {
    const repo = verifyRepository('app/after-root-rotation', APP);
    const all = new Map<string, { hex: string; length: number; role: string }>();
    for (const [name, m] of repo.targets.body.targets) all.set(name, { hex: m.hashes.sha256!.toString('hex'), length: m.length, role: 'targets' });
    for (const [name, m] of repo.delegated[0]!.body.targets) {
      if (!all.has(name)) all.set(name, { hex: m.hashes.sha256!.toString('hex'), length: m.length, role: 'targets/releases' });
    }
    expect(Object.fromEntries(all)).toEqual({
      hello: { hex: '25476a9274c1fbd87643304f1e322f6533cceae717651a87f257a2a383bac84b', length: 35, role: 'targets' },
      'release-1': { hex: '6f0602131b7705f713d860518e0f4919dd6311844f24cc95da767ea93672ab57', length: 18, role: 'targets/releases' },
      'v1.0': { hex: '9be8dca9978b667e589a2b70873242aa1325da4d7559d64371e62c370348bea5', length: 29, role: 'targets' },
    });
  });

  it('target files match their target hashes and lengths', () => {
    const repo = verifyRepository('app/after-root-rotation', APP);
    checkFileMeta(read('target-files/hello.txt'), repo.targets.body.targets.get('hello')!, 'hello');
    checkFileMeta(read('target-files/release-1.txt'), repo.delegated[0]!.body.targets.get('release-1')!, 'release-1');
    const wrong = Buffer.concat([read('target-files/hello.txt'), Buffer.from('x')]);
    expect(() => checkFileMeta(wrong, repo.targets.body.targets.get('hello')!, 'hello')).toThrow(/bytes, expected/);
  });

  it('root rotation: 2.root.json is trusted from 1.root.json (both thresholds)', () => {
    const v1 = parseMetadata(read('app/after-root-rotation/1.root.json'), 'root');
    const v2 = parseMetadata(read('app/after-root-rotation/2.root.json'), 'root');
    expect(read('app/after-root-rotation/1.root.json').equals(read('app/before-root-rotation/root.json'))).toBe(true);
    expect(read('app/after-root-rotation/2.root.json').equals(read('app/after-root-rotation/root.json'))).toBe(true);
    verifyRoot(v1, { gun: APP, now: NOW, checkExpiry: true });
    verifyRoot(v2, { gun: APP, trusted: v1, now: NOW, checkExpiry: true });
    // the new root keeps the old certificate in keys but only names the new one for root
    expect(v2.body.keys.size).toBe(5);
    expect(v2.body.roles.get('root')!.keyids).toHaveLength(1);
    expect(v2.signatures).toHaveLength(2);
  });

  it('key IDs: certificate IDs in metadata, canonical IDs for key files (README table)', () => {
    const before = parseMetadata(read('app/before-root-rotation/root.json'), 'root');
    const after = parseMetadata(read('app/after-root-rotation/root.json'), 'root');
    const rootKey = (r: Root) => r.body.keys.get(r.body.roles.get('root')!.keyids[0]!)!;
    expect(rootKey(before).id.startsWith('f68ed88b')).toBe(true);
    expect(canonicalKeyId(rootKey(before)).startsWith('d9d5a05b')).toBe(true);
    expect(rootKey(after).id.startsWith('4a4298cf')).toBe(true);
    expect(canonicalKeyId(rootKey(after)).startsWith('952df16d')).toBe(true);
    const files = fs.readdirSync(path.join(FIXTURES, 'keys/client-private')).map((f) => f.replace(/\.key$/, ''));
    expect(files).toContain(canonicalKeyId(rootKey(before)));
    expect(files).toContain(canonicalKeyId(rootKey(after)));
    // targets and snapshot keys are plain ecdsa: canonical ID == TUF ID == file name
    expect(files).toContain(before.body.roles.get('targets')!.keyids[0]);
    expect(files).toContain(before.body.roles.get('snapshot')!.keyids[0]);
  });

  it('the delegation certificate becomes the ecdsa-x509 key targets lists', () => {
    const key = certificateKeyFromPem(read('keys/delegation/releases.crt').toString());
    expect(key.keytype).toBe('ecdsa-x509');
    expect(key.id.startsWith('6dec9492')).toBe(true);
    const targets = parseMetadata(read('app/before-root-rotation/targets.json'), 'targets');
    expect(targets.body.delegationKeys.get(key.id)?.publicB64).toBe(key.publicB64);
    // its private key (openssl PKCS#8) signs in a way the delegation key verifies
    const priv = crypto.createPrivateKey(read('keys/delegation/releases.key'));
    expect(crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' }).toString('base64')).toBe(
      new crypto.X509Certificate(read('keys/delegation/releases.crt')).publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    );
  });

  it("the server's tuf_files table: every served file is listed with its sha256 and length", () => {
    const rows = read('server-state/server-db-tuf_files.tsv')
      .toString()
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    const bySha = new Map(rows.map((r) => [r[3], r]));
    for (const rel of metadataFiles()) {
      const bytes = read(rel);
      const sha = crypto.createHash('sha256').update(bytes).digest('hex');
      const row = bySha.get(sha);
      expect(row).toBeDefined();
      expect(Number(row![4])).toBe(bytes.length);
      const md = parseMetadata(bytes);
      expect(Number(row![2])).toBe(md.body.version);
    }
  });

  it('the real error bodies fit the error envelope schema', () => {
    for (const f of fs.readdirSync(path.join(FIXTURES, 'http-errors'))) {
      expect(matchesSchema('error', parseJson(read(`http-errors/${f}`)))).toBe(true);
    }
  });

  it('rejects a fixture whose timestamp has expired (freeze), with the clock past 2026-12-07', () => {
    const ts = parseMetadata(read('app/before-root-rotation/timestamp.json'), 'timestamp');
    expect(() => checkNotExpired(ts, 'timestamp', Date.parse('2026-12-08T00:00:00Z'))).toThrow(/timestamp expired/);
  });

  it('rejects a fixture root validated for another GUN (CN mismatch)', () => {
    const root = parseMetadata(read('app/before-root-rotation/root.json'), 'root');
    expect(() => verifyRoot(root, { gun: 'example.com/other', now: NOW, checkExpiry: true })).toThrow(/unable to retrieve valid leaf certificates/);
  });

  it('rejects 2.root.json when trusted from an unrelated root', () => {
    const other = parseMetadata(read('server-snapshot/root.json'), 'root');
    const v2 = parseMetadata(read('app/after-root-rotation/2.root.json'), 'root');
    // same GUN name so that only the signatures decide
    expect(() => verifyRoot(v2, { gun: APP, trusted: other, now: NOW, checkExpiry: true })).toThrow();
  });
});
