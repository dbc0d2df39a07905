/**
 * The update workflow (spec 5.6) against the repository simulator over real HTTP: first contact,
 * the cache, download order and names, delegations, the cached-timestamp fallback, offline mode.
 * Attacks have their own file (test/cli/attacks.test.ts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FirstUseInfo, findTarget, listTargets } from '../../../cli/client';
import { canonicalKeyId, generatePrivateKey, JsonObject } from '../../../tuf';
import { cachedVersion, closeAll, DAY, harness, requestsSince } from './harness';

afterEach(closeAll);

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('first contact', () => {
  it('trusts the served root on first use, reports its fingerprint once and caches the exact bytes (0600 files, 0700 dirs)', async () => {
    const h = await harness();
    const seen: [string, FirstUseInfo][] = [];
    const repo = await h.update({ onFirstUse: (fp, info) => seen.push([fp, info]) });
    const rootCert = h.sim.rootKeys[0]!.cert;
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]).toBe(rootCert.id);
    expect(seen[0]![1]).toEqual({ gun: h.sim.gun, keyIds: [rootCert.id], canonicalIds: [canonicalKeyId(rootCert)], version: 1, mode: 'tofu' });
    expect(repo.root.bytes.equals(h.sim.root.bytes)).toBe(true);

    const meta = h.cache.metadataDir(h.sim.gun);
    for (const role of ['root', 'timestamp', 'snapshot', 'targets']) {
      const file = path.join(meta, `${role}.json`);
      expect(fs.readFileSync(file)).toEqual(role === 'root' ? h.sim.root.bytes : role === 'timestamp' ? h.sim.timestamp.bytes : role === 'snapshot' ? h.sim.snapshot.bytes : h.sim.targetsFiles.get('targets')!.bytes);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    }
    let dir = meta;
    while (dir.startsWith(h.trustDir) && dir !== h.trustDir) {
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      dir = path.dirname(dir);
    }

    // the second update uses the cached root: no first-use report, no root download
    const mark = h.sim.requests.length;
    await h.update({ onFirstUse: (fp, info) => seen.push([fp, info]) });
    expect(seen).toHaveLength(1);
    expect(requestsSince(h, mark).some((r) => r.includes('root'))).toBe(false);
  });

  it('says the repository does not exist when the server has no root for the GUN', async () => {
    const h = await harness({ noPublish: true });
    const err = await h.refused();
    expect(err.code).toBe('REPOSITORY_NOT_FOUND');
    expect(fs.existsSync(h.cache.metadataDir(h.sim.gun))).toBe(false);
  });
});

describe('download order and names', () => {
  it('fetches timestamp by name, then snapshot, targets and delegations by hash, pre-order depth-first in array order', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addDelegation('targets', 'targets/a');
        sim.addDelegation('targets', 'targets/b');
        sim.addDelegation('targets/a', 'targets/a/x');
        sim.addTarget('targets/a/x', 'deep', 'deep');
        sim.addTarget('targets/b', 'b', 'b');
      },
    });
    const mark = h.sim.requests.length;
    const repo = await h.update();
    const hashed = (role: string) => `/v2/${h.sim.gun}/_trust/tuf/${role}.${sha256((role === 'snapshot' ? h.sim.snapshot : h.sim.targetsFiles.get(role)!).bytes)}.json`;
    expect(requestsSince(h, mark)).toEqual([
      '/v2/',
      `/v2/${h.sim.gun}/_trust/tuf/root.json`,
      `/v2/${h.sim.gun}/_trust/tuf/timestamp.json`,
      hashed('snapshot'),
      hashed('targets'),
      hashed('targets/a'),
      hashed('targets/a/x'),
      hashed('targets/b'),
    ]);
    expect([...repo.targets.keys()]).toEqual(['targets', 'targets/a', 'targets/a/x', 'targets/b']);
    // delegations are cached as nested paths
    expect(fs.readFileSync(path.join(h.cache.metadataDir(h.sim.gun), 'targets/a/x.json')).equals(h.sim.targetsFiles.get('targets/a/x')!.bytes)).toBe(true);
  });

  it('re-uses cached files whose bytes the new metadata still names and downloads only what changed', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addDelegation('targets', 'targets/releases');
        sim.addTarget('targets/releases', 'r1', 'one');
      },
    });
    await h.update();
    h.sim.addTarget('targets/releases', 'r2', 'two');
    h.sim.publish();
    const mark = h.sim.requests.length;
    const repo = await h.update();
    const fetched = requestsSince(h, mark);
    expect(fetched.some((r) => r.includes('/targets.'))).toBe(false);
    expect(fetched.some((r) => r.includes('/targets/releases.'))).toBe(true);
    expect(findTarget(repo, 'r2')?.role).toBe('targets/releases');
    expect(cachedVersion(h, 'targets/releases')).toBe(2);
  });

  it('skips a delegation that has no snapshot entry (its file does not exist yet)', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addTarget('targets', 'v1', 'one');
        sim.addDelegation('targets', 'targets/empty');
      },
    });
    // a snapshot that lists only root and targets, as for a delegation never signed into
    const meta = h.sim.snapshot.signed.meta as JsonObject;
    h.sim.publishSnapshot({ root: meta.root as JsonObject, targets: meta.targets as JsonObject });
    h.sim.publishTimestamp();
    const mark = h.sim.requests.length;
    const repo = await h.update();
    expect(requestsSince(h, mark).some((r) => r.includes('targets/empty'))).toBe(false);
    expect([...repo.targets.keys()]).toEqual(['targets']);
  });
});

describe('delegations that do not verify', () => {
  it('skips an expired delegation and its subtree with a warning, and keeps it aside for witness', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addTarget('targets', 'top', 'top');
        sim.addDelegation('targets', 'targets/old');
        sim.addDelegation('targets/old', 'targets/old/child');
        sim.addTarget('targets/old', 'stale', 'stale');
        sim.addTarget('targets/old/child', 'grandchild', 'g');
        sim.setExpires('targets/old', sim.now - DAY);
      },
    });
    const mark = h.sim.requests.length;
    const repo = await h.update();
    expect(repo.targets.has('targets/old')).toBe(false);
    expect(repo.invalid.has('targets/old')).toBe(true);
    expect(repo.warnings.some((w) => w.includes('targets/old') && /expired/.test(w))).toBe(true);
    expect(requestsSince(h, mark).some((r) => r.includes('targets/old/child'))).toBe(false);
    expect(findTarget(repo, 'stale')).toBeNull();
    expect(findTarget(repo, 'grandchild')).toBeNull();
    expect(findTarget(repo, 'top')?.role).toBe('targets');
    // an invalid delegation is not cached
    expect(h.cache.read(h.sim.gun, 'targets/old')).toBeNull();
  });

  it('skips a delegation signed by a key its parent does not name, with a warning', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addTarget('targets', 'v1', 'one');
        sim.addDelegation('targets', 'targets/releases');
        sim.addTarget('targets/releases', 'r1', 'one');
      },
    });
    const state = h.sim.roles.get('targets/releases')!;
    state.signers = [generatePrivateKey('ecdsa')];
    state.dirty = true;
    h.sim.publish();
    const repo = await h.update();
    expect(repo.targets.has('targets/releases')).toBe(false);
    expect(repo.warnings.some((w) => w.includes('targets/releases') && /threshold/.test(w))).toBe(true);
    expect(listTargets(repo).map((t) => t.name)).toEqual(['v1']);
  });

  it('fails when the server lacks a delegation the snapshot lists (404 is fatal)', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addDelegation('targets', 'targets/releases');
        sim.addTarget('targets/releases', 'r1', 'one');
      },
    });
    const releases = h.sim.targetsFiles.get('targets/releases')!;
    h.sim.served.delete(`targets/releases.${sha256(releases.bytes)}`);
    await h.refusedWith('MISSING', 'targets/releases');
  });
});

describe('when the server is unavailable', () => {
  it('uses a still-valid cached timestamp when the server answers 500, with a warning', async () => {
    const h = await harness();
    await h.update();
    h.sim.serve('timestamp', (_req, res) => {
      res.statusCode = 500;
      res.end('{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}');
    });
    const repo = await h.update();
    expect(repo.timestamp.bytes.equals(h.sim.timestamp.bytes)).toBe(true);
    expect(repo.warnings.some((w) => /cached timestamp/.test(w))).toBe(true);
  });

  it('uses a still-valid cached timestamp when the server has none (404)', async () => {
    const h = await harness();
    await h.update();
    h.sim.served.delete('timestamp');
    const repo = await h.update();
    expect(repo.timestamp.body.version).toBe(h.sim.timestampVersion);
  });

  it('refuses an expired cached timestamp when no new one can be fetched', async () => {
    const h = await harness();
    await h.update();
    h.sim.served.delete('timestamp');
    await h.refusedWith('EXPIRED', 'timestamp', { now: h.sim.now + 15 * DAY });
  });

  it('works offline from a complete cache when the ping fails, and says so', async () => {
    const h = await harness();
    await h.update();
    h.sim.pingStatus = 503;
    const mark = h.sim.requests.length;
    const repo = await h.update();
    expect(repo.offline).toBe(true);
    expect(repo.warnings.some((w) => /cannot be reached/.test(w))).toBe(true);
    expect(requestsSince(h, mark)).toEqual(['/v2/']);
    expect(listTargets(repo).map((t) => t.name)).toEqual(['v1']);
  });

  it('works offline when asked, without any request', async () => {
    const h = await harness();
    await h.update();
    await h.sim.stop();
    const repo = await h.update({ offline: true });
    expect(repo.offline).toBe(true);
    expect(findTarget(repo, 'v1')).not.toBeNull();
  });

  it('fails offline when nothing is cached', async () => {
    const h = await harness();
    await h.sim.stop();
    const err = await h.refused();
    expect(err.code).toBe('OFFLINE');
  });

  it('fails offline when the cache is stale (a newer snapshot cannot be fetched)', async () => {
    const h = await harness();
    await h.update();
    const err = await h.refused({ offline: true, now: h.sim.now + 15 * DAY });
    expect(err.code).toBe('EXPIRED');
  });
});

describe('token authentication', () => {
  const auth = { username: 'reader', password: 'reader-pass' };

  it('updates through a Docker token server with Basic credentials, one pull-scoped token', async () => {
    const h = await harness({ start: { auth }, remote: { auth } });
    const repo = await h.update();
    expect(listTargets(repo).map((t) => t.name)).toEqual(['v1']);
    expect(h.sim.tokenRequests).toEqual([`?account=reader&scope=${encodeURIComponent(`repository:${h.sim.gun}:pull`)}&service=notary-sim`]);
  });

  it('reports UNAUTHORIZED without credentials, so that the caller can ask for them', async () => {
    const h = await harness({ start: { auth } });
    const err = await h.refused();
    expect(err.code).toBe('UNAUTHORIZED');
    expect(h.cache.read(h.sim.gun, 'root')).toBeNull();
  });
});

describe('the cached root is the anchor', () => {
  it('refuses to re-trust the server when the cached root is corrupt', async () => {
    const h = await harness();
    await h.update();
    const file = h.cache.file(h.sim.gun, 'root');
    const bytes = fs.readFileSync(file);
    const at = bytes.length - 5;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 1, at);
    fs.writeFileSync(file, bytes);
    const err = await h.refused();
    expect(err.code).toBe('CACHE');
    // the corrupt anchor was not silently replaced by the server's root
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
  });

  it('reports a deleted repository to writing commands (requireRemote) even with a cache', async () => {
    const h = await harness();
    await h.update();
    h.sim.served.clear();
    const err = await h.refused({ requireRemote: true });
    expect(err.code).toBe('REPOSITORY_NOT_FOUND');
  });

  it('warns about roles within six months of expiry', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addTarget('targets', 'v1', 'x');
        sim.setExpires('targets', sim.now + 30 * DAY);
      },
    });
    const repo = await h.update();
    expect(repo.warnings).toContain('targets metadata is nearing expiry, you should re-sign the role metadata');
    expect(repo.warnings.some((w) => w.startsWith('snapshot'))).toBe(false);
  });
});
