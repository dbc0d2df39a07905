/**
 * The trust service: everything the HTTP edge asks of the server, with plain values in and out
 * (it never sees a request or response). Validation and generation of metadata, the key
 * endpoints, deletion, the changefeed and health.
 */
import { PublicKey } from '../../tuf/keys';
import { formatGoTime } from '../../tuf/time';
import type { OnlineRole } from '../../signer/api';
import { Snapshot, Timestamp } from '../../tuf/metadata';
import { ChangeRecord, StoredFile, StoredUpdate } from '../storage/types';
import { ServerError } from '../errors';
import { SERVER_LIMITS } from '../limits';
import { errorMessage, makeContext, parseStored, ServiceContext, ServiceDeps } from './context';
import { CurrentFile, Freshness } from './freshness';
import { storeUpdate, ValidatedUpdate, validateUpdate } from './publish';
import { heldKeys } from './signing';
import { PublishRequest } from './upload';

export { PublishRequest } from './upload';
export type { ServiceDeps } from './context';
export type { CurrentFile } from './freshness';

/** What a publish stored, and what the current-file endpoints answer right after it. */
export interface Published {
  /** every file stored, as reads now return them */
  stored: StoredFile[];
  /** the change records the publish appended */
  changes: ChangeRecord[];
  /**
   * role -> what `current(gun, role)` answers now: every role published, the stored root the
   * publish was checked against, and the timestamp and snapshot unless already due for re-signing
   */
  current: Map<string, CurrentFile>;
}

export interface ChangefeedQuery {
  /** one GUN (route 9) or all (route 10) */
  gun?: string;
  /** as given in the query string ("" when absent) */
  changeId: string;
  /** already parsed; 0 means the default page */
  records: number;
}

/** The changefeed body with Go's field names and order (spec 1.7). */
export interface ChangefeedRecordJson {
  ID: string;
  CreatedAt: string;
  GUN: string;
  Version: number;
  SHA256: string;
  Category: 'update' | 'deletion';
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class TrustService {
  readonly ctx: ServiceContext;
  private readonly freshness: Freshness;

  constructor(deps: ServiceDeps) {
    this.ctx = makeContext(deps);
    this.freshness = new Freshness(this.ctx);
  }

  /** POST update: validate everything, then store all files atomically (spec 1.4). */
  async publish(gun: string, request: PublishRequest): Promise<Published> {
    const update = await validateUpdate(this.ctx, gun, request);
    const stored = await storeUpdate(this.ctx, gun, update.files);
    this.ctx.log.info({ gun, stored: stored.files.map((f) => `${f.role} v${f.version}`) }, 'published');
    return this.published(update, stored);
  }

  /** The answers of `current` after a publish, from what it validated and stored (no reads or parsing). */
  private published(update: ValidatedUpdate, stored: StoredUpdate): Published {
    const current = new Map<string, CurrentFile>();
    if (update.storedRoot) current.set('root', { file: update.storedRoot, validUntil: Infinity });
    // a publish holds each role once
    const parsed = new Map(update.files.map((f) => [f.role, f.md]));
    let tsFile: StoredFile | undefined;
    let snapFile: StoredFile | undefined;
    for (const file of stored.files) {
      if (file.role === 'timestamp') tsFile = file;
      else if (file.role === 'snapshot') snapFile = file;
      else current.set(file.role, { file, validUntil: Infinity });
      // the next publish (and the timestamp GETs) find what this one stored already parsed
      const md = parsed.get(file.role);
      if (md) this.ctx.parsed.set(md.body.kind, file.sha256, md);
    }
    const ts = parsed.get('timestamp') as Timestamp | undefined;
    const snap = parsed.get('snapshot') as Snapshot | undefined;
    // only the snapshot the timestamp names is what currentSnapshot serves
    if (tsFile && snapFile && ts && snap && ts.body.snapshot.hashes.sha256?.toString('hex') === snapFile.sha256) {
      const answers = this.freshness.justStored({ tsFile, ts, snapFile, snap });
      if (answers) {
        current.set('timestamp', answers.timestamp);
        current.set('snapshot', answers.snapshot);
      }
    }
    return { stored: stored.files, changes: stored.changes, current };
  }

  /** GET <role>.json (route 5). */
  async current(gun: string, role: string): Promise<CurrentFile | null> {
    switch (role) {
      case 'timestamp':
        return this.freshness.currentTimestamp(gun);
      case 'snapshot':
        return this.freshness.currentSnapshot(gun);
      default: {
        const file = await this.ctx.store.getCurrent(gun, role);
        return file ? { file, validUntil: Infinity } : null;
      }
    }
  }

  /** GET <version>.<role>.json (route 4). */
  byVersion(gun: string, role: string, version: number): Promise<StoredFile | null> {
    if (!Number.isSafeInteger(version) || version < 1) return Promise.resolve(null);
    return this.ctx.store.getByVersion(gun, role, version);
  }

  /** GET <role>.<sha256>.json (route 3); only SHA-256 is stored, so other lengths never match. */
  byChecksum(gun: string, role: string, hex: string): Promise<StoredFile | null> {
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) return Promise.resolve(null);
    return this.ctx.store.getByChecksum(gun, role, hex.toLowerCase());
  }

  /**
   * GET <role>.key (spec 1.5): a key of the role in the stored root that the key service still
   * holds; otherwise (no root, or none held) a new key from the key service.
   */
  async publicKey(gun: string, role: OnlineRole): Promise<PublicKey> {
    const rootFile = await this.ctx.store.getCurrent(gun, 'root');
    try {
      if (rootFile) {
        const root = parseStored(this.ctx, rootFile, 'root');
        const held = await heldKeys(this.ctx, root, role);
        if (held[0]) return held[0];
      }
      return await this.ctx.keys.createKey(gun, role, this.ctx.keyAlgorithm);
    } catch (e) {
      if (e instanceof ServerError) throw e;
      throw new ServerError('UNKNOWN', {}, `key service: ${errorMessage(e)}`, { cause: e });
    }
  }

  /** POST <role>.key: always a new (or the still-pending) key; root is not changed. */
  async rotateKey(gun: string, role: OnlineRole): Promise<PublicKey> {
    try {
      return await this.ctx.keys.createKey(gun, role, this.ctx.keyAlgorithm);
    } catch (e) {
      throw new ServerError('UNKNOWN', {}, `key service: ${errorMessage(e)}`, { cause: e });
    }
  }

  /** DELETE (spec 1.6): every stored version of the GUN, and the keys held for it. */
  async deleteRepository(gun: string): Promise<void> {
    try {
      await this.ctx.store.deleteGun(gun);
    } catch (e) {
      throw new ServerError('UNKNOWN', {}, `deleting ${gun} failed: ${errorMessage(e)}`, { cause: e });
    }
    try {
      await this.ctx.keys.deleteGunKeys(gun);
    } catch (e) {
      // the metadata is gone; left-over online keys sign nothing without a root naming them
      this.ctx.log.warn({ gun, err: errorMessage(e) }, 'could not delete the online keys of a deleted repository');
    }
    this.ctx.log.info({ gun }, 'repository deleted');
  }

  /** The changefeed (spec 1.7), oldest first. */
  async changes(q: ChangefeedQuery): Promise<{ count: number; records: ChangefeedRecordJson[] }> {
    if (q.changeId !== '' && !/^[+-]?\d+$/.test(q.changeId)) throw new ServerError('INVALID_PARAMETERS', {}, `bad change_id ${q.changeId.slice(0, 64)}`);
    const id = q.changeId === '' ? 0 : Number(q.changeId);
    if (id > 2 ** 31 - 1 || id < -(2 ** 31)) throw new ServerError('INVALID_PARAMETERS', {}, `change_id out of range`);
    let records: ChangeRecord[];
    try {
      records = await this.ctx.store.changes({
        gun: q.gun,
        changeId: q.changeId,
        records: q.records === 0 ? SERVER_LIMITS.defaultChangefeedRecords : q.records,
      });
    } catch (e) {
      if (e instanceof RangeError) throw new ServerError('INVALID_PARAMETERS', {}, e.message, { cause: e });
      throw new ServerError('UNKNOWN', {}, `changefeed: ${errorMessage(e)}`, { cause: e });
    }
    return {
      count: records.length,
      records: records.map((r) => ({
        ID: r.id,
        CreatedAt: formatGoTime(r.createdAt),
        GUN: r.gun,
        Version: r.version,
        SHA256: r.sha256,
        Category: r.category,
      })),
    };
  }

  /** Failing checks by Notary's names; empty when healthy. */
  async health(): Promise<Record<string, string>> {
    const failures: Record<string, string> = {};
    const [db, trust] = await Promise.allSettled([
      withTimeout(this.ctx.store.health(), SERVER_LIMITS.healthTimeoutMs, 'storage'),
      withTimeout(this.ctx.keys.health(), SERVER_LIMITS.healthTimeoutMs, 'key service'),
    ]);
    if (db.status === 'rejected') failures['DB operational'] = errorMessage(db.reason);
    if (trust.status === 'rejected') failures['Trust operational'] = errorMessage(trust.reason);
    return failures;
  }
}
