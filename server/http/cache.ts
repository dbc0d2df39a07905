/**
 * The in-memory copy of metadata the hot GET path serves from (routes 3, 4, 5). Metadata only
 * changes on publish, deletion or a timestamp refresh, and every one of those goes through the
 * store, whose `onChange` (also for other processes sharing the database) drops the GUN here.
 *
 * A fill that raced with an invalidation is discarded: each fill remembers the invalidation
 * count it started under and is only kept if no invalidation happened meanwhile. Current
 * timestamps and snapshots also carry `validUntil`, after which the service must look again
 * (to re-sign them before they expire).
 *
 * A publish fills in what it stored (see `writeToken`), so the reads that follow it are served
 * from memory too.
 */
import { SERVER_LIMITS } from '../limits';

export interface CachedFile {
  body: Buffer;
  /** HTTP date of the stored file */
  lastModified: string;
  /** epoch ms; after it the entry is not served */
  validUntil: number;
}

interface GunEntry {
  current: Map<string, CachedFile>;
  /** `${role}.${sha256}` and `${version}.${role}` -> file; never changes until the GUN does */
  consistent: Map<string, CachedFile>;
}

export type CacheKey = { kind: 'current'; role: string } | { kind: 'consistent'; key: string };

/** The consistent key of `<role>.<sha256>.json` (route 3); `hex` in lowercase. */
export function byChecksumKey(role: string, hex: string): string {
  return `${role}.${hex}`;
}

/** The consistent key of `<version>.<role>.json` (route 4). */
export function byVersionKey(version: number, role: string): string {
  return `${version}.${role}`;
}

export class MetadataCache {
  private readonly guns = new Map<string, GunEntry>();
  private invalidations = 0;

  constructor(private readonly maxGuns: number = SERVER_LIMITS.cachedGuns) {}

  /** A token to hand back to `put`, taken before reading the store. */
  fillToken(): number {
    return this.invalidations;
  }

  /**
   * A token for filling in what this process is about to write, taken before the write (and
   * the reads it is based on) begins. The store announces the write itself once, through
   * `onChange` -> `invalidate`, before the write returns; the token allows for exactly that
   * one invalidation. Any other one meanwhile may be a later change by another process whose
   * announcement has then already been consumed, so the fill is discarded, as any raced fill.
   */
  writeToken(): number {
    return this.invalidations + 1;
  }

  getCurrent(gun: string, role: string, now: number): CachedFile | undefined {
    const f = this.guns.get(gun)?.current.get(role);
    return f && now < f.validUntil ? f : undefined;
  }

  getConsistent(gun: string, key: string): CachedFile | undefined {
    return this.guns.get(gun)?.consistent.get(key);
  }

  put(gun: string, key: CacheKey, file: CachedFile, token: number): void {
    if (token !== this.invalidations) return;
    let entry = this.guns.get(gun);
    if (!entry) {
      if (this.guns.size >= this.maxGuns) {
        // drop the oldest GUN (Map keeps insertion order)
        const oldest = this.guns.keys().next();
        if (!oldest.done) this.guns.delete(oldest.value);
      }
      entry = { current: new Map(), consistent: new Map() };
      this.guns.set(gun, entry);
    }
    if (key.kind === 'current') {
      entry.current.set(key.role, file);
    } else {
      if (entry.consistent.size >= SERVER_LIMITS.cachedConsistentPerGun) entry.consistent.clear();
      entry.consistent.set(key.key, file);
    }
  }

  /** The GUN changed (publish, delete, refresh; here or in another process). */
  invalidate(gun: string): void {
    this.invalidations++;
    this.guns.delete(gun);
  }

  clear(): void {
    this.invalidations++;
    this.guns.clear();
  }

  get size(): number {
    return this.guns.size;
  }
}

/**
 * Read-after-write across processes. Change notifications from other processes (PostgreSQL
 * NOTIFY, SQLite polling) arrive a little after the commit, so a client that published through
 * one server process and reads through another at once could get the copy from before. Before
 * answering from memory, `wait()` makes sure every change committed before the request arrived
 * has been seen: it reads the changefeed past the newest record seen so far (every write of a
 * GUN's metadata appends a record in the same transaction: each stored timestamp, and each
 * deletion) and drops the GUNs it names.
 *
 * Checks are shared: a request joins the next check that starts after it arrived (never one
 * already running, which might have begun before the request's commit), so under load one
 * small query serves every request that arrived while the previous one ran.
 */
export class ChangeWatch {
  private lastId: number | null = null;
  private running: Promise<void> | null = null;
  private waiting: Promise<void> | null = null;
  /** ids of records this process appended itself and the feed has not shown yet */
  private readonly own = new Set<number>();

  constructor(
    private readonly cache: MetadataCache,
    private readonly newerThan: (changeId: string, max: number) => Promise<Array<{ id: string; gun: string }>>,
    private readonly onError: (e: unknown) => void,
    private readonly batch = 1000,
  ) {}

  wait(): Promise<void> {
    if (this.waiting) return this.waiting;
    if (!this.running) return this.start();
    const next = () => {
      this.waiting = null;
      return this.start();
    };
    this.waiting = this.running.then(next, next);
    return this.waiting;
  }

  /**
   * Change records this process appended itself. The store announced those writes locally as
   * they committed, so reading them back from the feed does not drop their GUN again (which
   * would throw away what a publish filled in); other records of the GUN still do.
   */
  noteOwn(ids: string[]): void {
    // before the first look nothing is known to keep; it forgets everything anyway
    if (this.lastId === null) return;
    // bounded: forgetting them only costs a refill
    if (this.own.size + ids.length > this.batch) this.own.clear();
    for (const id of ids) if (Number(id) > this.lastId) this.own.add(Number(id));
  }

  private start(): Promise<void> {
    const p: Promise<void> = this.check().finally(() => {
      if (this.running === p) this.running = null;
    });
    this.running = p;
    return p;
  }

  private async check(): Promise<void> {
    try {
      if (this.lastId === null) {
        // first look: remember where the feed is; nothing cached can predate this process
        const newest = await this.newerThan('-1', -1);
        this.lastId = newest.length > 0 ? Number(newest[newest.length - 1]?.id) : 0;
        this.cache.clear();
        return;
      }
      const records = await this.newerThan(String(this.lastId), this.batch);
      for (const r of records) {
        const id = Number(r.id);
        if (!this.own.delete(id)) this.cache.invalidate(r.gun);
        this.lastId = Math.max(this.lastId, id);
      }
      // more changes than one look reads: forget everything rather than page through them
      if (records.length >= this.batch) this.cache.clear();
      const seen = this.lastId;
      for (const id of this.own) if (id <= seen) this.own.delete(id);
    } catch (e) {
      // fail closed: without knowing what changed, nothing in memory may be served
      this.cache.clear();
      this.lastId = null;
      this.own.clear();
      this.onError(e);
    }
  }
}
