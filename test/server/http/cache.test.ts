/**
 * The in-memory metadata copy: fills that raced an invalidation are dropped, current files
 * expire at their validUntil, invalidation is per GUN, and memory stays bounded.
 */
import { CachedFile, ChangeWatch, MetadataCache } from '../../../server/http/cache';

const file = (s: string, validUntil = Infinity): CachedFile => ({ body: Buffer.from(s), lastModified: 'x', validUntil });

describe('MetadataCache', () => {
  it('keeps a fill made under the current token and serves it', () => {
    const c = new MetadataCache();
    c.put('g', { kind: 'current', role: 'root' }, file('r'), c.fillToken());
    expect(c.getCurrent('g', 'root', Date.now())?.body.toString()).toBe('r');
  });

  it('drops a fill that raced an invalidation (it may hold the old bytes)', () => {
    const c = new MetadataCache();
    const token = c.fillToken();
    c.invalidate('g');
    c.put('g', { kind: 'current', role: 'root' }, file('stale'), token);
    expect(c.getCurrent('g', 'root', Date.now())).toBeUndefined();
  });

  it('keeps a fill of what this process wrote across the store\'s own announcement of that write', () => {
    const c = new MetadataCache();
    const token = c.writeToken();
    c.invalidate('g'); // the store's onChange for the write itself
    c.put('g', { kind: 'current', role: 'targets' }, file('written'), token);
    expect(c.getCurrent('g', 'targets', 0)?.body.toString()).toBe('written');
  });

  it('drops a fill of what this process wrote when anything else was invalidated while it wrote', () => {
    for (const other of ['g', 'another-gun']) {
      const c = new MetadataCache();
      const token = c.writeToken();
      c.invalidate('g');
      // may be a later write by another process, whose announcement is now consumed
      c.invalidate(other);
      c.put('g', { kind: 'current', role: 'targets' }, file('maybe stale'), token);
      expect(c.getCurrent('g', 'targets', 0)).toBeUndefined();
    }
  });

  it('stops serving a current file at its validUntil', () => {
    const c = new MetadataCache();
    c.put('g', { kind: 'current', role: 'timestamp' }, file('t', 1000), c.fillToken());
    expect(c.getCurrent('g', 'timestamp', 999)).toBeDefined();
    expect(c.getCurrent('g', 'timestamp', 1000)).toBeUndefined();
  });

  it('invalidates one GUN only', () => {
    const c = new MetadataCache();
    c.put('a', { kind: 'consistent', key: '1.root' }, file('a'), c.fillToken());
    c.put('ab', { kind: 'consistent', key: '1.root' }, file('ab'), c.fillToken());
    c.invalidate('a');
    expect(c.getConsistent('a', '1.root')).toBeUndefined();
    expect(c.getConsistent('ab', '1.root')?.body.toString()).toBe('ab');
  });

  it('holds at most the configured number of GUNs, dropping the oldest', () => {
    const c = new MetadataCache(3);
    for (const g of ['a', 'b', 'c', 'd']) c.put(g, { kind: 'current', role: 'root' }, file(g), c.fillToken());
    expect(c.size).toBe(3);
    expect(c.getCurrent('a', 'root', 0)).toBeUndefined();
    expect(c.getCurrent('d', 'root', 0)?.body.toString()).toBe('d');
  });
});

describe('ChangeWatch', () => {
  /** a changefeed whose answers the test releases one by one */
  function feed() {
    const calls: Array<{ after: string; resolve: (r: Array<{ id: string; gun: string }>) => void; reject: (e: Error) => void }> = [];
    const newerThan = (after: string) => new Promise<Array<{ id: string; gun: string }>>((resolve, reject) => calls.push({ after, resolve, reject }));
    return { calls, newerThan };
  }
  const tick = () => new Promise((r) => setImmediate(r));

  /** a watch past its first look at the feed, which answered `first` */
  async function watching(first: Array<{ id: string; gun: string }>, opts: { batch?: number; onError?: (e: unknown) => void } = {}) {
    const c = new MetadataCache();
    const f = feed();
    const w = new ChangeWatch(c, f.newerThan, opts.onError ?? (() => undefined), opts.batch);
    const init = w.wait();
    f.calls[0]?.resolve(first);
    await init;
    return { c, f, w };
  }

  it('drops the GUNs the changefeed names past the newest record seen', async () => {
    const { c, f, w } = await watching([{ id: '7', gun: 'x' }]);
    c.put('a', { kind: 'current', role: 'root' }, file('a'), c.fillToken());
    c.put('b', { kind: 'current', role: 'root' }, file('b'), c.fillToken());
    const second = w.wait();
    expect(f.calls[1]?.after).toBe('7');
    f.calls[1]?.resolve([{ id: '8', gun: 'a' }]);
    await second;
    expect(c.getCurrent('a', 'root', 0)).toBeUndefined();
    expect(c.getCurrent('b', 'root', 0)).toBeDefined();
    const third = w.wait();
    expect(f.calls[2]?.after).toBe('8');
    f.calls[2]?.resolve([]);
    await third;
  });

  it('makes a request that arrives during a check wait for the next one, shared by all that arrive meanwhile', async () => {
    const { f, w } = await watching([]);
    const early = w.wait();
    let lateDone = false;
    const late1 = w.wait().then(() => (lateDone = true));
    const late2 = w.wait();
    expect(f.calls).toHaveLength(2);
    f.calls[1]?.resolve([]);
    await early;
    await tick();
    // the late requests did not ride on the check that began before they arrived
    expect(lateDone).toBe(false);
    expect(f.calls).toHaveLength(3);
    f.calls[2]?.resolve([]);
    await Promise.all([late1, late2]);
    expect(f.calls).toHaveLength(3);
  });

  it('does not drop a GUN for change records this process appended itself, but does for other records', async () => {
    const { c, f, w } = await watching([{ id: '4', gun: 'x' }]);
    // a publish of `own` stored change 5 and filled in what it stored; another process wrote `other` (6)
    c.put('own', { kind: 'current', role: 'targets' }, file('published'), c.fillToken());
    c.put('other', { kind: 'current', role: 'targets' }, file('old'), c.fillToken());
    w.noteOwn(['5']);
    const check = w.wait();
    f.calls[1]?.resolve([
      { id: '5', gun: 'own' },
      { id: '6', gun: 'other' },
    ]);
    await check;
    expect(c.getCurrent('own', 'targets', 0)?.body.toString()).toBe('published');
    expect(c.getCurrent('other', 'targets', 0)).toBeUndefined();
    // a record of the same GUN by someone else still drops it
    const next = w.wait();
    f.calls[2]?.resolve([{ id: '7', gun: 'own' }]);
    await next;
    expect(c.getCurrent('own', 'targets', 0)).toBeUndefined();
  });

  it('forgets everything when the changefeed cannot be read, and starts over', async () => {
    const errors: unknown[] = [];
    const { c, f, w } = await watching([{ id: '3', gun: 'x' }], { onError: (e) => errors.push(e) });
    c.put('a', { kind: 'current', role: 'root' }, file('a'), c.fillToken());
    const failing = w.wait();
    f.calls[1]?.reject(new Error('database gone'));
    await failing;
    expect(errors).toHaveLength(1);
    expect(c.getCurrent('a', 'root', 0)).toBeUndefined();
    const again = w.wait();
    expect(f.calls[2]?.after).toBe('-1');
    f.calls[2]?.resolve([]);
    await again;
  });

  it('clears the whole cache when more changes arrived than one look reads', async () => {
    const { c, f, w } = await watching([], { batch: 2 });
    c.put('untouched', { kind: 'current', role: 'root' }, file('u'), c.fillToken());
    const p = w.wait();
    f.calls[1]?.resolve([
      { id: '1', gun: 'a' },
      { id: '2', gun: 'b' },
    ]);
    await p;
    expect(c.getCurrent('untouched', 'root', 0)).toBeUndefined();
  });
});
