/**
 * Attacks on the client's update workflow, one test per attack, each named for it (the TUF
 * threat model: rollback, freeze, mix-and-match, endless data, arbitrary software, fast-forward,
 * rotation), driven by the repository simulator over real HTTP through the real `Remote`.
 *
 * Several attacks assume the server itself is hostile and holds the timestamp and snapshot keys,
 * as a notary server does: it can then sign any snapshot and timestamp, and the client must
 * still refuse what the offline keys (root, targets, delegations) did not sign.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { findTarget, listTargets, TargetError, verifyTargetBytes, verifyTargetDigest } from '../../cli/client';
import { REMOTE_LIMITS } from '../../cli/remote';
import { fileMetaOf, generatePrivateKey, JsonObject, Metadata, PrivateKey, serializeMetadata, withFields } from '../../tuf';
import { cachedVersion, closeAll, DAY, Harness, harness, requestsSince } from './client/harness';
import { RepositorySimulator } from './simulator';

afterEach(closeAll);

/** What a server holding the snapshot and timestamp keys can do: serve `bytes` as `role`. */
function serveWithServerKeys(h: Harness, role: string, bytes: Buffer): void {
  h.sim.serve(RepositorySimulator.hashName(role, bytes), bytes);
  const meta = { ...(h.sim.snapshot.signed.meta as JsonObject), [role]: fileMetaOf(bytes) };
  h.sim.publishSnapshot(meta);
  h.sim.publishTimestamp();
}

/** The current targets with an `evil` target added, at `version`, signed by `signers` alone. */
function forgeTargets(h: Harness, version: number, signers: PrivateKey[]): Metadata {
  const current = h.sim.targetsFiles.get('targets')!;
  return h.sim.signDocument('targets', withFields(current.signed, { version, targets: { evil: fileMetaOf(Buffer.from('malware')) } }), signers);
}

/** Publish once more with a new target, so every role has a second version. */
function publishAgain(h: Harness, role = 'targets'): void {
  h.sim.addTarget(role, `t${Math.random()}`, crypto.randomBytes(8));
  h.sim.publish();
}

describe('rollback attacks', () => {
  it('rejects a timestamp older than the cached one (timestamp rollback)', async () => {
    const h = await harness();
    await h.update();
    const old = h.sim.timestamp;
    publishAgain(h);
    await h.update();
    h.sim.serve('timestamp', old.bytes);
    await h.refusedWith('VERSION', 'timestamp');
    expect(cachedVersion(h, 'timestamp')).toBe(2);
  });

  it('rejects a new timestamp that names an older snapshot (snapshot rollback)', async () => {
    const h = await harness();
    await h.update();
    const old = h.sim.snapshot;
    publishAgain(h);
    await h.update();
    h.sim.publishTimestamp(old.bytes);
    await h.refusedWith('VERSION', 'snapshot');
    expect(cachedVersion(h, 'snapshot')).toBe(2);
  });

  it('rejects a new snapshot that names an older targets file (targets rollback)', async () => {
    const h = await harness();
    await h.update();
    const old = h.sim.targetsFiles.get('targets')!;
    publishAgain(h);
    await h.update();
    serveWithServerKeys(h, 'targets', old.bytes);
    await h.refusedWith('VERSION', 'targets');
    expect(cachedVersion(h, 'targets')).toBe(2);
  });

  it('rejects a new snapshot that names an older delegation file (delegation rollback)', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addDelegation('targets', 'targets/releases');
        sim.addTarget('targets/releases', 'r1', 'one');
      },
    });
    await h.update();
    const old = h.sim.targetsFiles.get('targets/releases')!;
    publishAgain(h, 'targets/releases');
    await h.update();
    serveWithServerKeys(h, 'targets/releases', old.bytes);
    // a rollback is fatal even for a delegation (only expiry and threshold failures are skipped)
    await h.refusedWith('VERSION', 'targets/releases');
  });

  it('rejects a root older than the cached one (root rollback)', async () => {
    const h = await harness();
    await h.update();
    const oldRoot = h.sim.root;
    const oldTimestamp = h.sim.timestamp;
    // root version 2 with the same keys (a routine re-signing)
    h.sim.touch('root');
    h.sim.publish();
    await h.update();
    expect(cachedVersion(h, 'root')).toBe(2);
    // the server replays the whole version-1 repository
    h.sim.serve('root', oldRoot.bytes);
    h.sim.serve('timestamp', oldTimestamp.bytes);
    await h.refusedWith('VERSION', 'root');
    expect(cachedVersion(h, 'root')).toBe(2);
  });
});

describe('freeze attacks', () => {
  it('rejects an expired timestamp (freeze)', async () => {
    const h = await harness();
    await h.update();
    h.sim.setExpires('timestamp', h.sim.now - DAY);
    h.sim.publishTimestamp();
    await h.refusedWith('EXPIRED', 'timestamp');
  });

  it('rejects an expired snapshot (freeze)', async () => {
    const h = await harness();
    h.sim.setExpires('snapshot', h.sim.now - DAY);
    h.sim.publishSnapshot();
    h.sim.publishTimestamp();
    await h.refusedWith('EXPIRED', 'snapshot');
  });

  it('rejects an expired top-level targets file (freeze)', async () => {
    const h = await harness();
    h.sim.setExpires('targets', h.sim.now - DAY);
    h.sim.publish();
    await h.refusedWith('EXPIRED', 'targets');
  });

  it('rejects an expired root on first contact (freeze)', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addTarget('targets', 'v1', 'x');
        sim.setExpires('root', sim.now - DAY);
      },
    });
    await h.refusedWith('EXPIRED', 'root');
  });

  it('rejects a cached root that has expired when the server offers nothing newer (freeze)', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addTarget('targets', 'v1', 'x');
        sim.setExpires('root', sim.now + 30 * DAY);
      },
    });
    await h.update();
    // the server keeps everything else fresh but never re-signs root
    h.sim.now += 31 * DAY;
    h.sim.touch('targets');
    h.sim.publish();
    await h.refusedWith('EXPIRED', 'root', { now: h.sim.now });
  });
});

describe('mix-and-match attacks', () => {
  it('rejects a snapshot whose hash differs from the one the timestamp names (mix-and-match)', async () => {
    const h = await harness();
    const s1 = h.sim.snapshot;
    h.sim.publish(); // snapshot version 2, same layout
    const s2 = h.sim.snapshot;
    expect(s1.bytes.length).toBe(s2.bytes.length);
    // a validly signed, older snapshot served where the timestamp's hash points
    h.sim.serve(RepositorySimulator.hashName('snapshot', s2.bytes), s1.bytes);
    await h.refusedWith('HASH', 'snapshot');
  });

  it('rejects a targets file whose hash differs from the one the snapshot names (mix-and-match)', async () => {
    const h = await harness();
    const t1 = h.sim.targetsFiles.get('targets')!;
    h.sim.touch('targets');
    h.sim.publish();
    const t2 = h.sim.targetsFiles.get('targets')!;
    expect(t1.bytes.length).toBe(t2.bytes.length);
    h.sim.serve(RepositorySimulator.hashName('targets', t2.bytes), t1.bytes);
    await h.refusedWith('HASH', 'targets');
  });
});

describe('endless data attacks', () => {
  it('refuses a timestamp larger than 1 MiB by its Content-Length (endless data)', async () => {
    const h = await harness();
    h.sim.serve('timestamp', Buffer.alloc(REMOTE_LIMITS.maxTimestampBytes + 1, 0x20));
    await h.refusedWith('TOO_LARGE', 'timestamp');
  });

  it('stops reading an endless timestamp stream at 1 MiB (endless data)', async () => {
    const h = await harness();
    let sent = 0;
    let streams = 0;
    let closedStreams = 0;
    h.sim.serve('timestamp', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      streams++;
      let closed = false;
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      // no Content-Length: chunked, and it never ends on its own (stops at 256 MiB as a safety net)
      const pump = () => {
        if (closed || sent >= 256 * 1024 * 1024) return;
        sent += chunk.length;
        if (res.write(chunk)) setImmediate(pump);
        else res.once('drain', pump);
      };
      res.on('close', () => {
        closed = true;
        closedStreams++;
      });
      pump();
    });
    const started = Date.now();
    await h.refusedWith('TOO_LARGE', 'timestamp');
    expect(Date.now() - started).toBeLessThan(20_000);
    // the client hung up on every stream long before the server ran out of data
    for (let i = 0; i < 100 && closedStreams < streams; i++) await new Promise((r) => setTimeout(r, 50));
    expect(streams).toBeGreaterThan(0);
    expect(closedStreams).toBe(streams);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses a snapshot longer than the length the timestamp names (endless data)', async () => {
    const h = await harness();
    const s = h.sim.snapshot;
    // still valid JSON with valid signatures, only longer
    h.sim.serve(RepositorySimulator.hashName('snapshot', s.bytes), Buffer.concat([s.bytes, Buffer.alloc(100, 0x20)]));
    await h.refusedWith('TOO_LARGE', 'snapshot');
  });

  it('refuses a targets file longer than the length the snapshot names (endless data)', async () => {
    const h = await harness();
    const t = h.sim.targetsFiles.get('targets')!;
    h.sim.serve(RepositorySimulator.hashName('targets', t.bytes), Buffer.concat([t.bytes, Buffer.alloc(100, 0x20)]));
    await h.refusedWith('TOO_LARGE', 'targets');
  });

  it('refuses a huge root on first contact (endless data)', async () => {
    const h = await harness();
    h.sim.serve('root', Buffer.alloc(REMOTE_LIMITS.maxRootBytes + 1, 0x20));
    await h.refusedWith('TOO_LARGE', 'root');
    expect(h.cache.read(h.sim.gun, 'root')).toBeNull();
  });
});

describe('arbitrary software attacks', () => {
  it('rejects targets signed by a key the root does not name (arbitrary software)', async () => {
    const h = await harness();
    await h.update();
    const rogue = generatePrivateKey('ed25519');
    const forged = forgeTargets(h, 99, [rogue]);
    serveWithServerKeys(h, 'targets', forged.bytes);
    await h.refusedWith('SIGNATURE', 'targets');
    expect(cachedVersion(h, 'targets')).toBe(1);
  });

  it('rejects targets signed by one key when the threshold is 2 (arbitrary software)', async () => {
    const h = await harness({ thresholds: { targets: 2 } });
    // the honest repository carries both signatures
    expect(h.sim.targetsFiles.get('targets')!.signatures).toHaveLength(2);
    await h.update();
    const forged = forgeTargets(h, 2, [h.sim.keys.targets[0]!]);
    serveWithServerKeys(h, 'targets', forged.bytes);
    await h.refusedWith('SIGNATURE', 'targets');
  });

  it("rejects one key's signature listed twice to fake a threshold of 2 (arbitrary software)", async () => {
    const h = await harness({ thresholds: { targets: 2 } });
    await h.update();
    const forged = forgeTargets(h, 2, [h.sim.keys.targets[0]!]);
    const duplicated = RepositorySimulator.duplicateFirstSignature(forged);
    expect((JSON.parse(duplicated.toString()) as { signatures: unknown[] }).signatures).toHaveLength(2);
    serveWithServerKeys(h, 'targets', duplicated);
    await h.refusedWith('SIGNATURE', 'targets');
  });

  it("rejects a first root whose one signature is listed twice to fake a root threshold of 2 (arbitrary software)", async () => {
    const h = await harness({ thresholds: { root: 2 } });
    const oneSigned: Metadata = h.sim.signDocument('root', h.sim.root.signed, [h.sim.rootKeys[0]!]);
    h.sim.serve('root', RepositorySimulator.duplicateFirstSignature(oneSigned));
    await h.refusedWith('SIGNATURE', 'root');
    expect(h.cache.read(h.sim.gun, 'root')).toBeNull();
  });

  it('rejects a timestamp signed by a key the root does not name (arbitrary software)', async () => {
    const h = await harness();
    await h.update();
    h.sim.keys.timestamp = [generatePrivateKey('ed25519')]; // not published in a new root
    h.sim.publishTimestamp();
    await h.refusedWith('SIGNATURE', 'timestamp');
  });
});

describe('fast-forward recovery', () => {
  it('recovers after a timestamp key rotation from a fast-forwarded timestamp version (fast-forward)', async () => {
    const h = await harness();
    // an attacker holding the timestamp key pushed the version far ahead
    h.sim.timestampVersion = 1000;
    h.sim.publishTimestamp();
    await h.update();
    expect(cachedVersion(h, 'timestamp')).toBe(1001);
    // the owner rotates the timestamp key and restarts the timestamp versions
    h.sim.rotateKeys('timestamp');
    h.sim.timestampVersion = 0;
    h.sim.publish();
    expect(h.sim.timestamp.body.version).toBe(1);
    const repo = await h.update();
    expect(repo.root.body.version).toBe(2);
    expect(repo.timestamp.body.version).toBe(1);
    expect(cachedVersion(h, 'timestamp')).toBe(1);
  });

  it('recovers after a snapshot key rotation from a fast-forwarded snapshot version (fast-forward)', async () => {
    const h = await harness();
    h.sim.snapshotVersion = 999;
    h.sim.publishSnapshot();
    h.sim.publishTimestamp();
    await h.update();
    expect(cachedVersion(h, 'snapshot')).toBe(1000);
    h.sim.rotateKeys('snapshot');
    h.sim.snapshotVersion = 0;
    h.sim.publish();
    const repo = await h.update();
    expect(repo.root.body.version).toBe(2);
    expect(repo.snapshot.body.version).toBe(1);
    expect(cachedVersion(h, 'snapshot')).toBe(1);
  });

  it('still refuses the lower version when the key did not change (no recovery without rotation)', async () => {
    const h = await harness();
    h.sim.timestampVersion = 1000;
    h.sim.publishTimestamp();
    await h.update();
    h.sim.timestampVersion = 0;
    h.sim.publishTimestamp();
    await h.refusedWith('VERSION', 'timestamp');
  });
});

describe('root rotation', () => {
  it('rejects a new root that the trusted root did not sign (rotation not cross-signed)', async () => {
    const h = await harness();
    await h.update();
    const trusted = h.sim.root;
    h.sim.rotateRootKeys({ crossSign: false });
    h.sim.publish();
    await h.refusedWith('ROOT_ROTATION', 'root');
    expect(h.cache.read(h.sim.gun, 'root')!.equals(trusted.bytes)).toBe(true);
  });

  it('rejects a new root signed only by the old root key (its own threshold unmet)', async () => {
    const h = await harness();
    await h.update();
    const old = h.sim.rootKeys;
    h.sim.rotateRootKeys({ crossSign: false });
    h.sim.publish();
    const forged = h.sim.signDocument('root', h.sim.root.signed, old);
    // the snapshot names the forged root
    serveWithServerKeys(h, 'root', forged.bytes);
    const err = await h.refused();
    expect(err.code).toBe('ROOT_ROTATION');
    expect(err.message).toMatch(/integrity of roots/);
  });

  it('accepts a cross-signed rotation chain 1 -> 2 -> 3 by walking 2.root.json', async () => {
    const h = await harness();
    await h.update();
    h.sim.rotateRootKeys();
    h.sim.publish();
    const v2 = h.sim.root;
    h.sim.rotateRootKeys();
    h.sim.publish();
    const v3 = h.sim.root;
    // version 3 is not signed by the key of version 1: only the chain connects them
    expect(v3.signatures.map((s) => s.keyid).sort()).toEqual([v2.body.roles.get('root')!.keyids[0], v3.body.roles.get('root')!.keyids[0]].sort());
    const mark = h.sim.requests.length;
    const repo = await h.update();
    expect(repo.root.bytes.equals(v3.bytes)).toBe(true);
    expect(requestsSince(h, mark)).toContain(`/v2/${h.sim.gun}/_trust/tuf/2.root.json`);
    expect(h.cache.read(h.sim.gun, 'root')!.equals(v3.bytes)).toBe(true);
    expect(findTarget(repo, 'v1')).not.toBeNull();
  });

  it('rejects a rotation chain with a link that is not cross-signed', async () => {
    const h = await harness();
    await h.update();
    const trusted = h.sim.root;
    h.sim.rotateRootKeys({ crossSign: false });
    h.sim.publish();
    h.sim.rotateRootKeys();
    h.sim.publish();
    const err = await h.refused();
    expect(err.code).toBe('ROOT_ROTATION');
    expect(err.message).toMatch(/root version 2/);
    expect(h.cache.read(h.sim.gun, 'root')!.equals(trusted.bytes)).toBe(true);
  });
});

describe('target attacks', () => {
  it('refuses a payload whose hash or size differs from the trusted target (wrong target hash or size)', async () => {
    const payload = Buffer.from('the real release\n');
    const h = await harness({ prepare: (sim) => sim.addTarget('targets', 'release', payload) });
    const repo = await h.update();
    const t = findTarget(repo, 'release')!;
    expect(() => verifyTargetBytes(t, payload)).not.toThrow();

    const tampered = Buffer.from('the evil release\n');
    expect(tampered.length).toBe(payload.length);
    expect(() => verifyTargetBytes(t, tampered)).toThrow(TargetError);
    expect(() => verifyTargetBytes(t, tampered)).toThrow(/expects sha256:/);
    const longer = Buffer.concat([payload, Buffer.from('x')]);
    expect(() => verifyTargetBytes(t, longer)).toThrow(/expects 17 bytes, got 18/);

    const digest = crypto.createHash('sha256').update(payload).digest();
    expect(() => verifyTargetDigest(t, { sha256: digest, length: payload.length })).not.toThrow();
    expect(() => verifyTargetDigest(t, { sha256: digest, length: payload.length + 1 })).toThrow(/expects 17 bytes/);
    expect(() => verifyTargetDigest(t, { sha256: crypto.createHash('sha256').update(tampered).digest() })).toThrow(/expects sha256:/);
    expect(() => verifyTargetDigest(t, {})).toThrow(/no hash to compare/);
  });

  it('ignores targets a delegation signs outside its paths, also through a grandchild', async () => {
    const h = await harness({
      prepare: (sim) => {
        sim.addTarget('targets', 'v1', 'x');
        sim.addDelegation('targets', 'targets/releases', { paths: ['releases/'] });
        sim.addTarget('targets/releases', 'releases/1.0', 'ok');
        sim.addTarget('targets/releases', 'evil', 'outside its paths');
        // the grandchild claims every path; only its paths inside releases/ count
        sim.addDelegation('targets/releases', 'targets/releases/nightly', { paths: ['', 'releases/nightly/'] });
        sim.addTarget('targets/releases/nightly', 'releases/nightly/1', 'ok');
        sim.addTarget('targets/releases/nightly', 'v1', 'shadowing attempt');
        sim.addTarget('targets/releases/nightly', 'other', 'outside');
      },
    });
    const repo = await h.update();
    expect(findTarget(repo, 'evil')).toBeNull();
    expect(findTarget(repo, 'other')).toBeNull();
    expect(findTarget(repo, 'releases/1.0')?.role).toBe('targets/releases');
    expect(findTarget(repo, 'releases/nightly/1')?.role).toBe('targets/releases/nightly');
    expect(findTarget(repo, 'v1')?.role).toBe('targets');
    expect(listTargets(repo).map((t) => `${t.name}@${t.role}`)).toEqual([
      'releases/1.0@targets/releases',
      'releases/nightly/1@targets/releases/nightly',
      'v1@targets',
    ]);
    expect(repo.roles.get('targets/releases/nightly')?.paths).toEqual(['releases/nightly/']);
  });
});

// a document in Go's serialisation can be rebuilt from its parts (sanity of the tamper helpers)
it('the simulator serves exactly the bytes it signed', async () => {
  const h = await harness();
  const t = h.sim.targetsFiles.get('targets')!;
  expect(serializeMetadata(t.signed, t.signatures).equals(t.bytes)).toBe(true);
  const repo = await h.update();
  expect(repo.targets.get('targets')!.bytes.equals(t.bytes)).toBe(true);
});
