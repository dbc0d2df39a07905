/**
 * The storage contract (server/storage/types.ts), one suite for every backend. Each test gets a
 * fresh, empty store on a real database; `openAgain` opens a second handle on the same database
 * (another connection, as a second server process would have).
 */
import * as crypto from 'node:crypto';
import { MAX_CHANGE_RECORDS } from '../../server/storage/common';
import { ChangeRecord, NewFile, TufStore, VersionConflictError } from '../../server/storage/types';

export interface ContractStore {
  store: TufStore;
  openAgain(): Promise<TufStore>;
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const file = (role: string, version: number, text = `${role} v${version}`): NewFile => ({
  role,
  version,
  bytes: Buffer.from(text),
});

/** A publish as the server makes it: the roles a client uploads plus a fresh timestamp. */
const publish = (version: number, tag = ''): NewFile[] => [
  file('root', version, `{"root":${version}${tag}}`),
  file('targets', version, `{"targets":${version}${tag}}`),
  file('snapshot', version, `{"snapshot":${version}${tag}}`),
  file('timestamp', version, `{"timestamp":${version}${tag}}`),
];

async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function expectConflict(p: Promise<unknown>, role?: string): Promise<VersionConflictError> {
  const e = await p.then(
    () => {
      throw new Error('expected a VersionConflictError, but the update succeeded');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(VersionConflictError);
  const vc = e as VersionConflictError;
  expect(vc.code).toBe('VERSION_CONFLICT');
  if (role !== undefined) expect(vc.role).toBe(role);
  return vc;
}

export function storageContract(name: string, make: () => Promise<ContractStore>): void {
  describe(`${name}: storage contract`, () => {
    let opened: TufStore[] = [];
    let store: TufStore;
    let openAgain: () => Promise<TufStore>;

    beforeEach(async () => {
      const c = await make();
      store = c.store;
      opened = [store];
      openAgain = async () => {
        const s = await c.openAgain();
        opened.push(s);
        return s;
      };
    });

    afterEach(async () => {
      for (const s of opened) await s.close();
    });

    describe('reads', () => {
      it('returns null for a GUN or role that was never stored', async () => {
        await store.update('example.com/a', [file('root', 1)]);
        expect(await store.getCurrent('example.com/none', 'root')).toBeNull();
        expect(await store.getCurrent('example.com/a', 'targets')).toBeNull();
        expect(await store.getByVersion('example.com/a', 'root', 2)).toBeNull();
        expect(await store.getByChecksum('example.com/a', 'root', sha256(Buffer.from('nope')))).toBeNull();
      });

      it('serves the highest version as current and keeps every older version (history)', async () => {
        const gun = 'example.com/history';
        for (let v = 1; v <= 4; v++) await store.update(gun, publish(v));
        const cur = await store.getCurrent(gun, 'targets');
        expect(cur?.version).toBe(4);
        expect(cur?.bytes.toString()).toBe('{"targets":4}');
        expect(cur?.gun).toBe(gun);
        expect(cur?.role).toBe('targets');
        for (let v = 1; v <= 4; v++) {
          const f = await store.getByVersion(gun, 'targets', v);
          expect(f?.version).toBe(v);
          expect(f?.bytes.toString()).toBe(`{"targets":${v}}`);
        }
      });

      it('finds a file by the SHA-256 of its exact bytes, old versions included', async () => {
        const gun = 'example.com/checksum';
        await store.update(gun, publish(1));
        await store.update(gun, publish(2));
        const old = Buffer.from('{"snapshot":1}');
        const f = await store.getByChecksum(gun, 'snapshot', sha256(old));
        expect(f?.version).toBe(1);
        expect(f?.bytes.equals(old)).toBe(true);
        expect(f?.sha256).toBe(sha256(old));
        // hex case does not matter to the lookup
        expect((await store.getByChecksum(gun, 'snapshot', sha256(old).toUpperCase()))?.version).toBe(1);
      });

      it('does not serve a checksum under another role or another GUN', async () => {
        const same = Buffer.from('{"identical":"bytes"}');
        await store.update('example.com/one', [{ role: 'targets', version: 1, bytes: same }]);
        expect(await store.getByChecksum('example.com/one', 'snapshot', sha256(same))).toBeNull();
        expect(await store.getByChecksum('example.com/other', 'targets', sha256(same))).toBeNull();
        expect((await store.getByChecksum('example.com/one', 'targets', sha256(same)))?.role).toBe('targets');
      });

      it('keeps GUNs and roles apart: same role and version under two GUNs are two files', async () => {
        await store.update('example.com/x', [file('targets', 1, 'x')]);
        await store.update('example.com/y', [file('targets', 1, 'y')]);
        expect((await store.getCurrent('example.com/x', 'targets'))?.bytes.toString()).toBe('x');
        expect((await store.getCurrent('example.com/y', 'targets'))?.bytes.toString()).toBe('y');
      });

      it('matches GUNs and roles exactly, case included', async () => {
        await store.update('example.com/Case', [file('targets/Releases', 1)]);
        expect(await store.getCurrent('example.com/case', 'targets/Releases')).toBeNull();
        expect(await store.getCurrent('example.com/Case', 'targets/releases')).toBeNull();
        expect(await store.getCurrent('example.com/Case', 'targets/Releases')).not.toBeNull();
      });

      it('stores bytes exactly as given, whitespace and all, with their SHA-256 and a creation time', async () => {
        const before = Date.now();
        const bytes = Buffer.from('{ "signed" : {"_type":"Targets"},\n\t"signatures":[] }\r\n');
        await store.update('example.com/exact', [{ role: 'targets', version: 1, bytes }]);
        const f = await store.getCurrent('example.com/exact', 'targets');
        expect(f?.bytes.equals(bytes)).toBe(true);
        expect(f?.sha256).toBe(sha256(bytes));
        expect(f?.createdAt).toBeInstanceOf(Date);
        expect(f!.createdAt.getTime()).toBeGreaterThanOrEqual(before - 2000);
        expect(f!.createdAt.getTime()).toBeLessThanOrEqual(Date.now() + 2000);
      });

      it('answers an update with what it stored, exactly as reads return it afterwards', async () => {
        const gun = 'example.com/stored';
        await store.update(gun, publish(1));
        const batch = [file('targets', 2), file('snapshot', 2), file('timestamp', 2), file('timestamp', 3)];
        const stored = await store.update(gun, batch);
        expect(stored.files.map((f) => [f.role, f.version])).toEqual(batch.map((f) => [f.role, f.version]));
        for (const f of stored.files) {
          // creation time included: a copy served from memory must carry the Last-Modified a read gives
          expect(f).toEqual(await store.getByVersion(gun, f.role, f.version));
          expect(f.sha256).toBe(sha256(f.bytes));
        }
        const feed = await store.changes({ gun, changeId: '0', records: 100 });
        expect(stored.changes).toEqual(feed.slice(1));
        expect(stored.changes.map((c) => c.version)).toEqual([2, 3]);
        // no timestamp, no change record
        expect((await store.update(gun, [file('targets', 3)])).changes).toEqual([]);
      });

      it('round-trips a 5 MiB blob byte-exact', async () => {
        const big = crypto.randomBytes(5 * 1024 * 1024);
        await store.update('example.com/big', [{ role: 'targets', version: 1, bytes: big }]);
        const f = await store.getCurrent('example.com/big', 'targets');
        expect(f?.bytes.length).toBe(big.length);
        expect(f?.bytes.equals(big)).toBe(true);
        expect(f?.sha256).toBe(sha256(big));
        expect((await store.getByChecksum('example.com/big', 'targets', sha256(big)))?.bytes.equals(big)).toBe(true);
      });

      it('round-trips an empty file and every byte value', async () => {
        const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        await store.update('example.com/bytes', [
          { role: 'targets', version: 1, bytes: Buffer.alloc(0) },
          { role: 'snapshot', version: 1, bytes: all },
        ]);
        expect((await store.getCurrent('example.com/bytes', 'targets'))?.bytes.length).toBe(0);
        expect((await store.getCurrent('example.com/bytes', 'snapshot'))?.bytes.equals(all)).toBe(true);
      });

      it('is durable: a second handle on the same database sees every write', async () => {
        await store.update('example.com/durable', publish(1));
        await store.update('example.com/durable', publish(2));
        const again = await openAgain();
        expect((await again.getCurrent('example.com/durable', 'root'))?.version).toBe(2);
        expect((await again.getByVersion('example.com/durable', 'root', 1))?.bytes.toString()).toBe('{"root":1}');
        expect((await again.changes({ changeId: '0', records: 10 })).map((c) => c.version)).toEqual([1, 2]);
      });
    });

    describe('versions only go up', () => {
      it('rejects an equal version with VersionConflictError and keeps the stored file', async () => {
        const gun = 'example.com/equal';
        await store.update(gun, [file('targets', 3, 'original')]);
        await expectConflict(store.update(gun, [file('targets', 3, 'replacement')]), 'targets');
        expect((await store.getByVersion(gun, 'targets', 3))?.bytes.toString()).toBe('original');
      });

      it('rejects a lower version (rollback) with VersionConflictError', async () => {
        const gun = 'example.com/lower';
        await store.update(gun, [file('targets', 5)]);
        await expectConflict(store.update(gun, [file('targets', 4)]), 'targets');
        await expectConflict(store.update(gun, [file('targets', 1)]), 'targets');
        expect(await store.getByVersion(gun, 'targets', 4)).toBeNull();
        expect((await store.getCurrent(gun, 'targets'))?.version).toBe(5);
      });

      it('accepts a version that skips ahead', async () => {
        const gun = 'example.com/skip';
        await store.update(gun, [file('targets', 1)]);
        await store.update(gun, [file('targets', 10)]);
        expect((await store.getCurrent(gun, 'targets'))?.version).toBe(10);
      });

      it('checks each role against its own history', async () => {
        const gun = 'example.com/roles';
        await store.update(gun, [file('root', 1), file('targets', 7)]);
        // root 2 is fine although targets is already at 7; a new delegated role starts at 1
        await store.update(gun, [file('root', 2), file('targets/releases', 1)]);
        expect((await store.getCurrent(gun, 'root'))?.version).toBe(2);
        expect((await store.getCurrent(gun, 'targets/releases'))?.version).toBe(1);
      });

      it('stores a batch atomically: one conflicting file means nothing of the batch is stored', async () => {
        const gun = 'example.com/atomic';
        await store.update(gun, publish(1));
        await store.update(gun, [file('targets', 3)]);
        const seen: string[] = [];
        store.onChange((g) => seen.push(g));
        // root, snapshot and timestamp 2 are fine on their own; targets 2 is below the stored 3
        await expectConflict(store.update(gun, publish(2)), 'targets');
        for (const role of ['root', 'snapshot', 'timestamp']) {
          expect(await store.getByVersion(gun, role, 2)).toBeNull();
          expect((await store.getCurrent(gun, role))?.version).toBe(1);
        }
        // no change record for the timestamp that was not stored, and no change announced
        expect((await store.changes({ changeId: '0', records: 100 })).map((c) => c.version)).toEqual([1]);
        expect(seen).toEqual([]);
      });

      it('rejects a batch that offers one role and version twice, storing nothing', async () => {
        const gun = 'example.com/dup';
        await expectConflict(store.update(gun, [file('targets', 1, 'a'), file('root', 1), file('targets', 1, 'b')]));
        expect(await store.getCurrent(gun, 'targets')).toBeNull();
        expect(await store.getCurrent(gun, 'root')).toBeNull();
      });

      it('accepts two increasing versions of one role in one batch', async () => {
        const gun = 'example.com/two';
        await store.update(gun, [file('targets', 1), file('targets', 2)]);
        expect((await store.getCurrent(gun, 'targets'))?.version).toBe(2);
        expect((await store.getByVersion(gun, 'targets', 1))?.version).toBe(1);
      });

      it('refuses versions that cannot be stored exactly, before writing anything', async () => {
        const gun = 'example.com/badversion';
        for (const v of [-1, 1.5, Number.NaN, 2 ** 53]) {
          await expect(store.update(gun, [file('root', 1), file('targets', v)])).rejects.toThrow(RangeError);
        }
        await expect(store.update(gun, [])).rejects.toThrow(TypeError);
        expect(await store.getCurrent(gun, 'root')).toBeNull();
      });

      it('stores and reads back a large safe version exactly', async () => {
        const v = 2 ** 40 + 3;
        await store.update('example.com/largeversion', [file('targets', v)]);
        expect((await store.getCurrent('example.com/largeversion', 'targets'))?.version).toBe(v);
        expect((await store.getByVersion('example.com/largeversion', 'targets', v))?.version).toBe(v);
      });
    });

    describe('deleteGun', () => {
      it('deletes every version of every role of exactly that GUN, and no other', async () => {
        for (const g of ['example.com/a/b', 'example.com/a/bc', 'example.com/a/b/c', 'example.com/a', 'example.com/a/B']) {
          await store.update(g, publish(1));
          await store.update(g, publish(2));
        }
        expect(await store.deleteGun('example.com/a/b')).toBe(true);
        for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
          expect(await store.getCurrent('example.com/a/b', role)).toBeNull();
          expect(await store.getByVersion('example.com/a/b', role, 1)).toBeNull();
        }
        for (const g of ['example.com/a/bc', 'example.com/a/b/c', 'example.com/a', 'example.com/a/B']) {
          expect((await store.getCurrent(g, 'root'))?.version).toBe(2);
          expect((await store.getByVersion(g, 'root', 1))?.version).toBe(1);
        }
      });

      it('treats SQL wildcard characters in a GUN literally', async () => {
        await store.update('example.com/a_c', [file('root', 1)]);
        await store.update('example.com/abc', [file('root', 1)]);
        await store.update('example.com/a%', [file('root', 1)]);
        await store.update('example.com/axyz', [file('root', 1)]);
        expect(await store.deleteGun('example.com/a_c')).toBe(true);
        expect(await store.deleteGun('example.com/a%')).toBe(true);
        expect(await store.getCurrent('example.com/abc', 'root')).not.toBeNull();
        expect(await store.getCurrent('example.com/axyz', 'root')).not.toBeNull();
      });

      it('returns false and records nothing for a GUN that has no files', async () => {
        await store.update('example.com/kept', publish(1));
        expect(await store.deleteGun('example.com/never')).toBe(false);
        const all = await store.changes({ changeId: '0', records: 100 });
        expect(all.map((c) => c.category)).toEqual(['update']);
      });

      it('lets a deleted GUN start over from version 1', async () => {
        const gun = 'example.com/restart';
        await store.update(gun, publish(1));
        await store.update(gun, publish(2));
        await store.deleteGun(gun);
        await store.update(gun, publish(1, ',"new":true'));
        expect((await store.getCurrent(gun, 'root'))?.bytes.toString()).toBe('{"root":1,"new":true}');
      });
    });

    describe('changefeed (spec 1.7)', () => {
      /** Five updates across three GUNs and a deletion: ids 1..6 in this order. */
      async function history(): Promise<ChangeRecord[]> {
        await store.update('example.com/a', publish(1));
        await store.update('example.com/b', publish(1));
        await store.update('example.com/a', [file('targets', 2), file('snapshot', 2), file('timestamp', 2)]);
        await store.update('example.com/ab', publish(1));
        await store.update('example.com/a', [file('timestamp', 3)]);
        await store.deleteGun('example.com/b');
        const all = await store.changes({ changeId: '0', records: 100 });
        expect(all).toHaveLength(6);
        return all;
      }

      it('records one update per stored timestamp with its version and SHA-256, and none for other roles', async () => {
        await store.update('example.com/feed', [file('root', 1), file('targets', 1)]);
        expect(await store.changes({ changeId: '0', records: 100 })).toEqual([]);
        const ts = Buffer.from('{"signed":{"_type":"Timestamp","version":1}}');
        await store.update('example.com/feed', [{ role: 'timestamp', version: 1, bytes: ts }]);
        const [c, ...rest] = await store.changes({ changeId: '0', records: 100 });
        expect(rest).toEqual([]);
        expect(c).toMatchObject({ gun: 'example.com/feed', version: 1, sha256: sha256(ts), category: 'update' });
        expect(c?.id).toMatch(/^[1-9][0-9]*$/);
        expect(c?.createdAt).toBeInstanceOf(Date);
      });

      it('gives increasing decimal ids, oldest first', async () => {
        const all = await history();
        const ids = all.map((c) => Number(c.id));
        for (const [i, id] of ids.entries()) {
          expect(String(id)).toBe(all[i]?.id);
          if (i > 0) expect(id).toBeGreaterThan(ids[i - 1] as number);
        }
        expect(all.map((c) => [c.gun, c.version, c.category])).toEqual([
          ['example.com/a', 1, 'update'],
          ['example.com/b', 1, 'update'],
          ['example.com/a', 2, 'update'],
          ['example.com/ab', 1, 'update'],
          ['example.com/a', 3, 'update'],
          ['example.com/b', 0, 'deletion'],
        ]);
      });

      it('records a deletion with Version 0 and SHA256 ""', async () => {
        const all = await history();
        expect(all[5]).toMatchObject({ gun: 'example.com/b', version: 0, sha256: '', category: 'deletion' });
      });

      it('pages forward: records > 0 returns up to n changes after change_id (exclusive)', async () => {
        const all = await history();
        const id = (i: number) => all[i]?.id as string;
        expect(await store.changes({ changeId: '', records: 2 })).toEqual(all.slice(0, 2));
        expect(await store.changes({ changeId: '0', records: 2 })).toEqual(all.slice(0, 2));
        expect(await store.changes({ changeId: id(1), records: 2 })).toEqual(all.slice(2, 4));
        expect(await store.changes({ changeId: id(3), records: 100 })).toEqual(all.slice(4));
        expect(await store.changes({ changeId: id(5), records: 100 })).toEqual([]);
      });

      it('pages backward: records < 0 returns the n changes before change_id, oldest first', async () => {
        const all = await history();
        const id = (i: number) => all[i]?.id as string;
        expect(await store.changes({ changeId: id(4), records: -2 })).toEqual(all.slice(2, 4));
        expect(await store.changes({ changeId: id(1), records: -5 })).toEqual(all.slice(0, 1));
        expect(await store.changes({ changeId: id(0), records: -5 })).toEqual([]);
      });

      it('starts from the newest with change_id -1, backwards, results still oldest first', async () => {
        const all = await history();
        expect(await store.changes({ changeId: '-1', records: 2 })).toEqual(all.slice(4));
        expect(await store.changes({ changeId: '-1', records: -3 })).toEqual(all.slice(3));
        expect(await store.changes({ changeId: '-1', records: 100 })).toEqual(all);
      });

      it('reads change_id 0 with negative records as "the last n" (as Notary does)', async () => {
        const all = await history();
        expect(await store.changes({ changeId: '0', records: -2 })).toEqual(all.slice(4));
      });

      it('filters on exact GUN equality', async () => {
        const all = await history();
        const a = await store.changes({ gun: 'example.com/a', changeId: '0', records: 100 });
        expect(a).toEqual(all.filter((c) => c.gun === 'example.com/a'));
        expect(a.map((c) => c.version)).toEqual([1, 2, 3]);
        const b = await store.changes({ gun: 'example.com/b', changeId: '0', records: 100 });
        expect(b.map((c) => c.category)).toEqual(['update', 'deletion']);
        expect(await store.changes({ gun: 'example.com/a', changeId: '-1', records: 1 })).toEqual([all[4]]);
        expect(await store.changes({ gun: 'example.com/a', changeId: all[2]?.id as string, records: -5 })).toEqual([
          all[0],
        ]);
        expect(await store.changes({ gun: 'example.com/', changeId: '0', records: 100 })).toEqual([]);
        expect(await store.changes({ gun: 'example.com/%', changeId: '0', records: 100 })).toEqual([]);
      });

      it('rejects a change_id that is not a 32-bit integer and a records of 0', async () => {
        await history();
        for (const bad of ['abc', '1.5', '1e3', ' 1', '0x10', '2147483648', '99999999999']) {
          await expect(store.changes({ changeId: bad, records: 10 })).rejects.toThrow(RangeError);
        }
        await expect(store.changes({ changeId: '0', records: 0 })).rejects.toThrow(RangeError);
      });

      it(`returns at most ${MAX_CHANGE_RECORDS} records however many are asked for`, async () => {
        await history();
        expect(await store.changes({ changeId: '0', records: 2 ** 31 - 1 })).toHaveLength(6);
        expect(await store.changes({ changeId: '-1', records: -(2 ** 31) })).toHaveLength(6);
      });
    });

    describe('onChange', () => {
      it('fires with the GUN after an update and after a deletion, not after a rejected update', async () => {
        const seen: string[] = [];
        store.onChange((g) => seen.push(g));
        await store.update('example.com/notify', publish(1));
        expect(seen).toEqual(['example.com/notify']);
        await expectConflict(store.update('example.com/notify', publish(1)));
        expect(seen).toEqual(['example.com/notify']);
        await store.deleteGun('example.com/notify');
        expect(seen).toEqual(['example.com/notify', 'example.com/notify']);
        await store.deleteGun('example.com/notify');
        expect(seen).toHaveLength(2);
      });

      it('has the change committed by the time a listener runs', async () => {
        const reads: Array<Promise<number | undefined>> = [];
        store.onChange((g) => reads.push(store.getCurrent(g, 'root').then((f) => f?.version)));
        await store.update('example.com/committed', publish(1));
        await store.update('example.com/committed', publish(2));
        expect(await Promise.all(reads)).toEqual([1, 2]);
      });

      it('keeps a write that a throwing listener was told about', async () => {
        const seen: string[] = [];
        const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
        try {
          store.onChange(() => {
            throw new Error('listener bug');
          });
          store.onChange((g) => seen.push(g));
          await store.update('example.com/throwing', publish(1));
        } finally {
          warn.mockRestore();
        }
        expect(seen).toEqual(['example.com/throwing']);
        expect((await store.getCurrent('example.com/throwing', 'root'))?.version).toBe(1);
      });

      it('reaches a second handle on the same database (another connection), once per change', async () => {
        const other = await openAgain();
        const seenOther: string[] = [];
        const seenSelf: string[] = [];
        other.onChange((g) => seenOther.push(g));
        store.onChange((g) => seenSelf.push(g));
        await store.update('example.com/shared', publish(1));
        await eventually(() => seenOther.includes('example.com/shared'), 'the update to reach the second handle');
        await store.deleteGun('example.com/shared');
        await eventually(() => seenOther.length === 2, 'the deletion to reach the second handle');
        expect(seenOther).toEqual(['example.com/shared', 'example.com/shared']);
        // and back: the first handle hears the second's write
        await other.update('example.com/back', publish(1));
        await eventually(() => seenSelf.includes('example.com/back'), 'the second handle\'s write to reach the first');
        // each handle announced its own writes exactly once (not again when they came back)
        await new Promise((r) => setTimeout(r, 300));
        expect(seenSelf).toEqual(['example.com/shared', 'example.com/shared', 'example.com/back']);
        expect(seenOther).toEqual(['example.com/shared', 'example.com/shared', 'example.com/back']);
      });
    });

    describe('concurrency in one process', () => {
      it('lets exactly one of many concurrent publishes of the same next version win', async () => {
        const gun = 'example.com/race';
        await store.update(gun, publish(1));
        const n = 16;
        const results = await Promise.allSettled(
          Array.from({ length: n }, (_, i) => store.update(gun, publish(2, `,"writer":${i}`))),
        );
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
        }
        // the stored version 2 of every role comes from the one winner
        const w = won[0] as number;
        for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
          expect((await store.getCurrent(gun, role))?.bytes.toString()).toBe(`{"${role}":2,"writer":${w}}`);
        }
        const feed = await store.changes({ gun, changeId: '0', records: 100 });
        expect(feed.map((c) => c.version)).toEqual([1, 2]);
        expect(feed[1]?.sha256).toBe(sha256(Buffer.from(`{"timestamp":2,"writer":${w}}`)));
      });

      it('lets concurrent publishes to different GUNs all succeed', async () => {
        const guns = Array.from({ length: 12 }, (_, i) => `example.com/parallel/${i}`);
        await Promise.all(guns.map((g) => store.update(g, publish(1))));
        for (const g of guns) expect((await store.getCurrent(g, 'timestamp'))?.version).toBe(1);
        expect(await store.changes({ changeId: '0', records: 100 })).toHaveLength(guns.length);
      });

      it('serialises a publish against a deletion of the same GUN without a broken mix', async () => {
        const gun = 'example.com/publish-vs-delete';
        await store.update(gun, publish(1));
        const [up, del] = await Promise.allSettled([store.update(gun, publish(2)), store.deleteGun(gun)]);
        // either order is valid (a deleted GUN may start again at any version); a mix is not
        expect(up.status).toBe('fulfilled');
        expect(del).toEqual({ status: 'fulfilled', value: true });
        const roles = ['root', 'targets', 'snapshot', 'timestamp'];
        const versions = await Promise.all(roles.map(async (r) => (await store.getCurrent(gun, r))?.version ?? null));
        expect([JSON.stringify([null, null, null, null]), JSON.stringify([2, 2, 2, 2])]).toContain(
          JSON.stringify(versions),
        );
      });
    });

    describe('health and close', () => {
      it('reports healthy while open and fails once closed', async () => {
        await expect(store.health()).resolves.toBeUndefined();
        const other = await openAgain();
        await other.close();
        await expect(other.health()).rejects.toThrow();
      });
    });
  });
}
