/**
 * A repository made and signed entirely by our TUF core (root certificate, ed25519 and ecdsa
 * keys, a delegation) is accepted by the real notary 0.7 client, served by a tiny static HTTPS
 * server speaking the GET routes the client uses.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DEFAULT_EXPIRY_MS,
  expiryFrom,
  fileMetaJson,
  fileMetaOf,
  generatePrivateKey,
  makeRootCertificateKey,
  Metadata,
  signMetadata,
  snapshotSigned,
  targetsSigned,
  timestampSigned,
} from '../../tuf';
import { ensureDevPki } from '../../scripts/devpki';
import { describeWith } from '../helpers/interop';
import { run } from '../helpers/proc';
import { rootWithOneKeyPerRole } from '../helpers/tuf';

const GUN = 'example.com/vouch/made-by-us';

function buildRepository() {
  const now = Date.now();
  const rootKey = generatePrivateKey('ecdsa');
  const rootCert = makeRootCertificateKey(GUN, rootKey);
  const targetsKey = generatePrivateKey('ed25519');
  const snapshotKey = generatePrivateKey('ecdsa');
  const timestampKey = generatePrivateKey('ed25519');
  const releasesKey = generatePrivateKey('ecdsa');

  const root = signMetadata(
    'root',
    rootWithOneKeyPerRole({
      root: [rootCert],
      targets: targetsKey.public,
      snapshot: snapshotKey.public,
      timestamp: timestampKey.public,
      version: 1,
      expires: expiryFrom(now, DEFAULT_EXPIRY_MS.root),
    }),
    [{ key: rootKey, keyid: rootCert.id }],
  );
  const payload = Buffer.from('hello from vouch\n');
  const targets = signMetadata(
    'targets',
    targetsSigned({
      targets: { 'v1.0': fileMetaOf(payload), 'a&b<c>': fileMetaJson(7, { sha256: crypto.createHash('sha256').update('ampersand').digest() }) },
      delegationKeys: [releasesKey.public],
      delegations: [{ name: 'targets/releases', keyids: [releasesKey.public.id], threshold: 1, paths: [''] }],
      version: 2,
      expires: expiryFrom(now, DEFAULT_EXPIRY_MS.targets),
    }),
    [{ key: targetsKey }],
  );
  const releases = signMetadata(
    'targets',
    targetsSigned({
      targets: { 'release-1': fileMetaJson(18, { sha256: crypto.createHash('sha256').update('release one').digest() }) },
      version: 1,
      expires: expiryFrom(now, DEFAULT_EXPIRY_MS.targets),
    }),
    [{ key: releasesKey }],
  );
  const snapshot = signMetadata(
    'snapshot',
    snapshotSigned({
      meta: { root: fileMetaOf(root.bytes), targets: fileMetaOf(targets.bytes), 'targets/releases': fileMetaOf(releases.bytes) },
      version: 2,
      expires: expiryFrom(now, DEFAULT_EXPIRY_MS.snapshot),
    }),
    [{ key: snapshotKey }],
  );
  const timestamp = signMetadata('timestamp', timestampSigned({ snapshotBytes: snapshot.bytes, version: 1, expires: expiryFrom(now, DEFAULT_EXPIRY_MS.timestamp) }), [
    { key: timestampKey },
  ]);
  return { root, targets, releases, snapshot, timestamp, payload };
}

describeWith(['notary'], 'the real notary client accepts metadata made by our TUF core', () => {
  let dir: string;
  let server: https.Server;
  let url: string;
  let repo: ReturnType<typeof buildRepository>;
  const requests: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-tuf-e2e-'));
    const pki = ensureDevPki(path.join(dir, 'pki'));
    repo = buildRepository();
    const files = new Map<string, Buffer>();
    const add = (role: string, md: Metadata) => {
      files.set(`${role}.json`, md.bytes);
      files.set(`${role}.${crypto.createHash('sha256').update(md.bytes).digest('hex')}.json`, md.bytes);
      files.set(`${md.body.version}.${role}.json`, md.bytes);
    };
    add('root', repo.root);
    add('targets', repo.targets);
    add('targets/releases', repo.releases);
    add('snapshot', repo.snapshot);
    add('timestamp', repo.timestamp);
    const prefix = `/v2/${GUN}/_trust/tuf/`;
    server = https.createServer({ cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) }, (req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.url === '/v2/') {
        res.end('{}');
        return;
      }
      const body = req.url?.startsWith(prefix) ? files.get(req.url.slice(prefix.length)) : undefined;
      if (req.method === 'GET' && body) {
        res.end(body);
        return;
      }
      res.statusCode = 404;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end('{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    url = `https://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const notary = (...args: string[]) => run('notary', ['-s', url, '--tlscacert', path.join(dir, 'pki/ca.crt'), '-d', path.join(dir, 'trust'), ...args], { timeoutMs: 60000 });

  it('lists every target, including the delegated one and HTML-escaped names', async () => {
    const r = await notary('list', GUN);
    expect(r.stderr).not.toMatch(/error|fatal/i);
    expect(r.code).toBe(0);
    const sha = crypto.createHash('sha256').update(repo.payload).digest('hex');
    expect(r.stdout).toMatch(new RegExp(`v1\\.0\\s+${sha}\\s+${repo.payload.length}\\s+targets`));
    expect(r.stdout).toMatch(/release-1\s+[0-9a-f]{64}\s+18\s+targets\/releases/);
    expect(r.stdout).toMatch(/a&b<c>\s+[0-9a-f]{64}\s+7\s+targets/);
    // the client fetched the snapshot and targets by the hashes our metadata names
    expect(requests.some((q) => /snapshot\.[0-9a-f]{64}\.json$/.test(q))).toBe(true);
    expect(requests.some((q) => /targets\.[0-9a-f]{64}\.json$/.test(q))).toBe(true);
  });

  it('verifies a payload against our targets metadata', async () => {
    const input = path.join(dir, 'payload');
    fs.writeFileSync(input, repo.payload);
    const ok = await notary('verify', GUN, 'v1.0', '-i', input, '-q');
    expect(ok.code).toBe(0);
    fs.writeFileSync(input, Buffer.concat([repo.payload, Buffer.from('tampered')]));
    const bad = await notary('verify', GUN, 'v1.0', '-i', input, '-q');
    expect(bad.code).not.toBe(0);
  });

  it('trusted the root on first use and cached our exact bytes', async () => {
    const cached = fs.readFileSync(path.join(dir, 'trust/tuf', GUN, 'metadata/root.json'));
    expect(cached.equals(repo.root.bytes)).toBe(true);
  });
});
