/**
 * The trust service without HTTP: plain values in and out, a real SQLite store, and key
 * services that misbehave. Whatever a key holder returns is verified before it is stored.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { generatePrivateKey, parseMetadata, signRaw } from '../../../tuf';
import * as metadata from '../../../tuf/metadata';
import { LocalKeyService } from '../../../signer/local';
import { KeyService } from '../../../signer/api';
import { ServerError, ValidationError } from '../../../server/errors';
import { PublishRequest, TrustService } from '../../../server/service';
import { SqliteStore } from '../../../server/storage/sqlite';
import { RepoSim, SwitchableKeyService, targetMeta } from '../helpers';

/** Signs with the wrong key: signatures that cannot verify against the key it reports. */
class LyingKeyService extends LocalKeyService {
  override async sign(_keyId: string, message: Buffer): Promise<Buffer> {
    return signRaw(generatePrivateKey('ed25519'), message).sig;
  }
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-service-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function setup(keys: KeyService) {
  const store = SqliteStore.open(path.join(dir, `s${++n}.db`), { watchIntervalMs: 0 });
  const service = new TrustService({ store, keys, keyAlgorithm: 'ed25519', log: pino({ level: 'silent' }) });
  const sim = new RepoSim(`example.com/service/${n}`);
  sim.timestampKey = await service.publicKey(sim.gun, 'timestamp');
  sim.serverSnapshotKey = await service.publicKey(sim.gun, 'snapshot');
  sim.snapshotKey = null;
  const request = new PublishRequest();
  request.addPart('root', sim.root(1).bytes);
  request.addPart('targets.json', sim.targets(1, { a: targetMeta('a') }).bytes);
  return { store, service, sim, request };
}

describe('TrustService', () => {
  it('publishes and serves current, versioned and hashed files', async () => {
    const { store, service, sim, request } = await setup(new LocalKeyService());
    await service.publish(sim.gun, request);
    const ts = await service.current(sim.gun, 'timestamp');
    expect(ts?.validUntil).toBeGreaterThan(Date.now());
    const snap = await service.current(sim.gun, 'snapshot');
    expect(parseMetadata(snap!.file.bytes, 'snapshot').body.version).toBe(1);
    expect((await service.byVersion(sim.gun, 'root', 1))?.version).toBe(1);
    expect(await service.byVersion(sim.gun, 'root', 0)).toBeNull();
    expect((await service.byChecksum(sim.gun, 'snapshot', snap!.file.sha256.toUpperCase()))?.sha256).toBe(snap!.file.sha256);
    expect(await service.byChecksum(sim.gun, 'snapshot', 'abc')).toBeNull();
    await store.close();
  });

  it('tells what a publish stored and what `current` answers right after it, without reading it back', async () => {
    const { store, service, sim, request } = await setup(new LocalKeyService());
    const first = await service.publish(sim.gun, request);
    expect(first.stored.map((f) => `${f.role} v${f.version}`)).toEqual(['root v1', 'targets v1', 'snapshot v1', 'timestamp v1']);
    expect(first.changes.map((c) => c.version)).toEqual([1]);
    const next = new PublishRequest();
    next.addPart('targets', sim.targets(2, { b: targetMeta('b') }).bytes);
    const second = await service.publish(sim.gun, next);
    expect(second.stored.map((f) => `${f.role} v${f.version}`)).toEqual(['targets v2', 'snapshot v2', 'timestamp v2']);
    // the root the publish was checked against is current too
    expect([...second.current.keys()].sort()).toEqual(['root', 'snapshot', 'targets', 'timestamp']);
    for (const [role, answer] of second.current) {
      expect(answer).toEqual(await service.current(sim.gun, role));
    }
    for (const f of second.stored) expect(f).toEqual(await store.getByVersion(sim.gun, f.role, f.version));
    await store.close();
  });

  it('parses a stored root, parent targets or previous snapshot once, not on every publish', async () => {
    const keys = new LocalKeyService();
    const { store, service, sim, request } = await setup(keys);
    const releases = generatePrivateKey('ecdsa');
    await service.publish(sim.gun, request);
    const parses = jest.spyOn(metadata, 'parseMetadata');
    const parsed = (kind: string) => parses.mock.calls.filter((c) => c[1] === kind).length;
    const publishTargets = async (on: TrustService, version: number) => {
      const next = new PublishRequest();
      next.addPart('targets', sim.targets(version, {}, [{ name: 'targets/releases', key: releases }]).bytes);
      parses.mockClear();
      await on.publish(sim.gun, next);
    };
    try {
      // what a publish stored is kept parsed: the next one parses neither root nor snapshot
      await publishTargets(service, 2);
      expect(parsed('root')).toBe(0);
      expect(parsed('snapshot')).toBe(0);
      // a delegation finds its parent targets parsed
      const rel = new PublishRequest();
      rel.addPart('targets/releases', sim.delegation('targets/releases', 1, { r: targetMeta('r') }).bytes);
      parses.mockClear();
      await service.publish(sim.gun, rel);
      expect(parsed('targets')).toBe(0);
      // a server that did not store them parses each once
      const other = new TrustService({ store, keys, keyAlgorithm: 'ed25519', log: pino({ level: 'silent' }) });
      await publishTargets(other, 3);
      expect(parsed('root')).toBe(1);
      expect(parsed('snapshot')).toBe(1);
      await publishTargets(other, 4);
      expect(parsed('root')).toBe(0);
      expect(parsed('snapshot')).toBe(0);
    } finally {
      parses.mockRestore();
      await store.close();
    }
  });

  it('refuses to store metadata a lying key service signed (500, nothing stored)', async () => {
    const { store, service, sim, request } = await setup(new LyingKeyService());
    await expect(service.publish(sim.gun, request)).rejects.toMatchObject({ code: 'UNKNOWN' });
    expect(await store.getCurrent(sim.gun, 'root')).toBeNull();
    await store.close();
  });

  it('names the missing snapshot key when the client holds it and sent no snapshot', async () => {
    const { store, service, sim } = await setup(new LocalKeyService());
    sim.serverSnapshotKey = null;
    sim.snapshotKey = generatePrivateKey('ecdsa');
    const request = new PublishRequest();
    request.addPart('root', sim.root(1).bytes);
    request.addPart('targets', sim.targets(1).bytes);
    const err = await service.publish(sim.gun, request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).detail).toEqual({
      Name: 'ErrBadHierarchy',
      Error: { Missing: 'snapshot', Msg: 'no snapshot was included in update and server does not hold current snapshot key for repository' },
    });
    await store.close();
  });

  it('turns a key service failure on key creation into 500 UNKNOWN with {} detail', async () => {
    const broken: KeyService = Object.assign(new LocalKeyService(), {
      createKey: async () => {
        throw new Error('signer unreachable');
      },
    });
    const store = SqliteStore.open(path.join(dir, 'broken.db'), { watchIntervalMs: 0 });
    const service = new TrustService({ store, keys: broken, keyAlgorithm: 'ecdsa', log: pino({ level: 'silent' }) });
    const err = await service.publicKey('example.com/x', 'timestamp').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'UNKNOWN', detail: {} });
    await store.close();
  });

  it('hands out the root-named key that the key service holds, not a new one', async () => {
    const keys = new LocalKeyService();
    const { store, service, sim, request } = await setup(keys);
    await service.publish(sim.gun, request);
    const again = await service.publicKey(sim.gun, 'timestamp');
    expect(again.id).toBe(sim.timestampKey?.id);
    const rotated = await service.rotateKey(sim.gun, 'timestamp');
    expect(rotated.id).not.toBe(sim.timestampKey?.id);
    expect((await service.publicKey(sim.gun, 'timestamp')).id).toBe(sim.timestampKey?.id);
    await store.close();
  });
});

describe('the timestamp of a publish that uploads the snapshot', () => {
  /** A repository whose client holds the snapshot key, first publish done. */
  async function clientSnapshotRepo(keys: SwitchableKeyService) {
    const store = SqliteStore.open(path.join(dir, `s${++n}.db`), { watchIntervalMs: 0 });
    const service = new TrustService({ store, keys, keyAlgorithm: 'ed25519', log: pino({ level: 'silent' }) });
    const sim = new RepoSim(`example.com/service/${n}`);
    sim.timestampKey = await service.publicKey(sim.gun, 'timestamp');
    const root = sim.root(1);
    const targets = sim.targets(1, { a: targetMeta('a') });
    const first = new PublishRequest();
    first.addPart('root', root.bytes);
    first.addPart('targets', targets.bytes);
    first.addPart('snapshot', sim.snapshot(1, { root, targets }).bytes);
    await service.publish(sim.gun, first);
    /** the next publish: targets v2 (signed by `targetsKey`, default the right one) and its snapshot */
    const next = (targetsKey?: ReturnType<typeof generatePrivateKey>) => {
      const t2 = sim.targets(2, { b: targetMeta('b') }, [], targetsKey ? { key: targetsKey } : {});
      const request = new PublishRequest();
      request.addPart('targets', t2.bytes);
      request.addPart('snapshot', sim.snapshot(2, { root, targets: t2 }).bytes);
      return request;
    };
    return { store, service, sim, next };
  }

  it('is signed once, over the uploaded snapshot, while the upload is checked', async () => {
    const keys = new SwitchableKeyService();
    const { store, service, sim, next } = await clientSnapshotRepo(keys);
    const request = next();
    const calls = keys.signCalls;
    const published = await service.publish(sim.gun, request);
    expect(keys.signCalls - calls).toBe(1);
    expect(published.stored.map((f) => `${f.role} v${f.version}`)).toEqual(['targets v2', 'snapshot v2', 'timestamp v2']);
    const ts = parseMetadata((await store.getCurrent(sim.gun, 'timestamp'))!.bytes, 'timestamp');
    expect(ts.body.snapshot.length).toBe(request.snapshot!.bytes.length);
    expect(ts.body.snapshot.hashes.sha256?.toString('hex')).toBe(crypto.createHash('sha256').update(request.snapshot!.bytes).digest('hex'));
    await store.close();
  });

  it('is dropped unstored when the upload fails validation', async () => {
    const keys = new SwitchableKeyService();
    const { store, service, sim, next } = await clientSnapshotRepo(keys);
    const before = await store.getCurrent(sim.gun, 'timestamp');
    const calls = keys.signCalls;
    await expect(service.publish(sim.gun, next(generatePrivateKey('ecdsa')))).rejects.toMatchObject({ validation: 'ErrBadTargets' });
    // the signer was asked early; what it signed went nowhere
    expect(keys.signCalls - calls).toBe(1);
    expect(await store.getCurrent(sim.gun, 'timestamp')).toEqual(before);
    expect((await store.getCurrent(sim.gun, 'targets'))?.version).toBe(1);
    await store.close();
  });

  it('reports the upload\'s error when the signer fails too, and 500 UNKNOWN when only the signer fails', async () => {
    const keys = new SwitchableKeyService();
    const { store, service, sim, next } = await clientSnapshotRepo(keys);
    keys.down = true;
    const invalid = await service.publish(sim.gun, next(generatePrivateKey('ecdsa'))).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(ValidationError);
    expect((invalid as ValidationError).validation).toBe('ErrBadTargets');
    const valid = await service.publish(sim.gun, next()).catch((e: unknown) => e);
    expect(valid).toBeInstanceOf(ServerError);
    expect(valid).not.toBeInstanceOf(ValidationError);
    expect((valid as ServerError).code).toBe('UNKNOWN');
    expect((await store.getCurrent(sim.gun, 'targets'))?.version).toBe(1);
    await store.close();
  });
});
