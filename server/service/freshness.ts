/**
 * The current timestamp and snapshot (spec 1.3): served as stored while fresh, re-signed by the
 * server when they near expiry. Notary only regenerates once a file has expired; we re-sign
 * when less than a quarter of the lifetime remains (REFRESH_MARGIN_MS), so a client never has
 * to see an expired timestamp. A regenerated timestamp (and snapshot, when the server holds its
 * key) is stored as a new version with a changefeed record, like any other.
 *
 * Never over an expired root: then the stored files are served as they are, and clients refuse
 * them until the owner publishes a new root.
 */
import { Root, Snapshot, Timestamp } from '../../tuf/metadata';
import { StoredFile, VersionConflictError } from '../storage/types';
import { REFRESH_MARGIN_MS, REFRESH_RETRY_MS } from '../limits';
import { ServerError } from '../errors';
import { errorMessage, parseStored, ServiceContext } from './context';
import { CannotSignError, generateSnapshot, generateTimestamp, heldKeys } from './signing';

export interface CurrentFile {
  file: StoredFile;
  /** epoch ms after which this answer must be worked out again (Infinity: only a store change alters it) */
  validUntil: number;
}

/** A stored timestamp and the snapshot it names, parsed. */
export interface TimestampState {
  tsFile: StoredFile;
  ts: Timestamp;
  snapFile: StoredFile;
  snap: Snapshot;
}

/** The snapshot the timestamp names is current for exactly as long as that timestamp. */
function snapshotAnswer(timestamp: CurrentFile, snapFile: StoredFile): CurrentFile {
  return { file: snapFile, validUntil: timestamp.validUntil };
}

export class Freshness {
  /** one refresh per GUN at a time in this process; concurrent readers share its result */
  private readonly inflight = new Map<string, Promise<CurrentFile | null>>();

  constructor(private readonly ctx: ServiceContext) {}

  /** The current timestamp, re-signed first when due. */
  async currentTimestamp(gun: string): Promise<CurrentFile | null> {
    const state = await this.load(gun);
    if (!state) return null;
    const fresh = this.whileFresh(state);
    if (fresh) return fresh;
    let p = this.inflight.get(gun);
    if (!p) {
      p = this.refreshOrKeep(gun, state).finally(() => this.inflight.delete(gun));
      this.inflight.set(gun, p);
    }
    return p;
  }

  /**
   * Refresh; if that fails (key service down, storage hiccup) while the stored timestamp is
   * still valid, keep serving it and try again shortly. An expired one is an error (500): the
   * client then falls back to its cached timestamp while that is still valid.
   */
  private async refreshOrKeep(gun: string, state: TimestampState): Promise<CurrentFile | null> {
    try {
      return await this.refresh(gun);
    } catch (e) {
      const now = this.ctx.now();
      if (state.ts.body.expires <= now) throw e;
      this.ctx.log.error({ gun, err: errorMessage(e) }, 'could not re-sign the timestamp; serving the current one until it can');
      return { file: state.tsFile, validUntil: now + REFRESH_RETRY_MS };
    }
  }

  /** The snapshot the current timestamp names (after any refresh). */
  async currentSnapshot(gun: string): Promise<CurrentFile | null> {
    const ts = await this.currentTimestamp(gun);
    if (!ts) return null;
    const tsMd = parseStored(this.ctx, ts.file, 'timestamp');
    const sha = tsMd.body.snapshot.hashes.sha256;
    if (!sha) throw new ServerError('UNKNOWN', undefined, `timestamp of ${gun} names no sha256 for its snapshot`);
    const snap = await this.ctx.store.getByChecksum(gun, 'snapshot', sha.toString('hex'));
    if (!snap) throw new ServerError('UNKNOWN', undefined, `the snapshot the timestamp of ${gun} names is not stored`);
    return snapshotAnswer(ts, snap);
  }

  /**
   * What currentTimestamp and currentSnapshot answer right after this process stored `state`
   * (a publish), worked out without reading it back; null when it is already due for
   * re-signing, so that a GET must refresh it first.
   */
  justStored(state: TimestampState): { timestamp: CurrentFile; snapshot: CurrentFile } | null {
    const timestamp = this.whileFresh(state);
    return timestamp && { timestamp, snapshot: snapshotAnswer(timestamp, state.snapFile) };
  }

  /** The stored timestamp as the answer until it is due for re-signing; null once it is. */
  private whileFresh(state: TimestampState): CurrentFile | null {
    const due = this.dueAt(state);
    return this.ctx.now() < due ? { file: state.tsFile, validUntil: due } : null;
  }

  private async load(gun: string): Promise<TimestampState | null> {
    const tsFile = await this.ctx.store.getCurrent(gun, 'timestamp');
    if (!tsFile) return null;
    const ts = parseStored(this.ctx, tsFile, 'timestamp');
    const sha = ts.body.snapshot.hashes.sha256;
    const snapFile = sha ? await this.ctx.store.getByChecksum(gun, 'snapshot', sha.toString('hex')) : null;
    if (!snapFile) throw new ServerError('UNKNOWN', undefined, `the snapshot the timestamp of ${gun} names is not stored`);
    return { tsFile, ts, snapFile, snap: parseStored(this.ctx, snapFile, 'snapshot') };
  }

  /** When the timestamp or its snapshot enters the last quarter of its life. */
  private dueAt(s: TimestampState): number {
    return Math.min(s.ts.body.expires - REFRESH_MARGIN_MS.timestamp, s.snap.body.expires - REFRESH_MARGIN_MS.snapshot);
  }

  private async refresh(gun: string): Promise<CurrentFile | null> {
    const { ctx } = this;
    const state = await this.load(gun);
    if (!state) return null;
    // read again: a publish, or another process, may have stored a fresh one meanwhile
    const fresh = this.whileFresh(state);
    if (fresh) return fresh;
    const now = ctx.now();
    const retry: CurrentFile = { file: state.tsFile, validUntil: now + REFRESH_RETRY_MS };

    const rootFile = await ctx.store.getCurrent(gun, 'root');
    if (!rootFile) throw new ServerError('UNKNOWN', undefined, `${gun} has a timestamp but no root`);
    const root: Root = parseStored(ctx, rootFile, 'root');
    if (root.body.expires < now) {
      ctx.log.warn({ gun }, 'root has expired: not re-signing the timestamp until a new root is published');
      return retry;
    }

    const batch = [];
    let snapshotBytes = state.snapFile.bytes;
    if (now >= state.snap.body.expires - REFRESH_MARGIN_MS.snapshot) {
      const held = await heldKeys(ctx, root, 'snapshot');
      const threshold = root.body.roles.get('snapshot')?.threshold ?? 1;
      if (held.length > 0 && held.length >= threshold) {
        const latest = await ctx.store.getCurrent(gun, 'snapshot');
        const snapshot = await generateSnapshot(ctx, root, {
          previous: state.snap,
          version: (latest?.version ?? state.snapFile.version) + 1,
          files: new Map([['root', rootFile.bytes]]),
        });
        snapshotBytes = snapshot.bytes;
        batch.push({ role: 'snapshot', version: snapshot.body.version, bytes: snapshot.bytes });
      } else if (state.snap.body.expires < now) {
        // the owner holds the snapshot key: a timestamp over an expired snapshot helps nobody
        ctx.log.warn({ gun }, 'snapshot has expired and its key is held by the client: cannot refresh');
        return retry;
      }
    }
    if (batch.length === 0 && now < state.ts.body.expires - REFRESH_MARGIN_MS.timestamp) {
      // only the client-held snapshot nears expiry: nothing the server can do yet
      return { file: state.tsFile, validUntil: Math.min(state.ts.body.expires - REFRESH_MARGIN_MS.timestamp, now + REFRESH_RETRY_MS) };
    }
    try {
      const timestamp = await generateTimestamp(ctx, root, snapshotBytes, state.tsFile.version + 1);
      batch.push({ role: 'timestamp', version: timestamp.body.version, bytes: timestamp.bytes });
    } catch (e) {
      if (!(e instanceof CannotSignError)) throw e;
      ctx.log.warn({ gun, err: errorMessage(e) }, 'cannot re-sign the timestamp');
      return retry;
    }
    try {
      await ctx.store.update(gun, batch);
      ctx.log.info({ gun, roles: batch.map((f) => `${f.role} v${f.version}`) }, 're-signed metadata nearing expiry');
    } catch (e) {
      // another writer (a publish, or another server process) got there first: serve theirs
      if (!(e instanceof VersionConflictError)) throw e;
    }
    const after = await this.load(gun);
    if (!after) return null;
    return { file: after.tsFile, validUntil: Math.max(this.dueAt(after), ctx.now() + REFRESH_RETRY_MS) };
  }
}
