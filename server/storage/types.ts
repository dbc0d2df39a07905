/**
 * The storage contract: bytes and versions per GUN and role, a changefeed, nothing about TUF
 * rules. Two backends implement it (sqlite.ts, postgres.ts) and one contract suite tests both
 * (test/server/storage.contract.ts).
 */

export interface StoredFile {
  gun: string;
  role: string;
  version: number;
  /** lowercase hex SHA-256 of `bytes` */
  sha256: string;
  bytes: Buffer;
  createdAt: Date;
}

export interface NewFile {
  role: string;
  version: number;
  bytes: Buffer;
}

export interface ChangeRecord {
  /** decimal string, increasing */
  id: string;
  createdAt: Date;
  gun: string;
  /** version of the timestamp stored; 0 for deletions */
  version: number;
  /** hex SHA-256 of the timestamp stored; "" for deletions */
  sha256: string;
  category: 'update' | 'deletion';
}

export interface ChangeQuery {
  /** only this GUN (exact match); all GUNs when absent */
  gun?: string;
  /** "" or "0": from the beginning; "n": after id n; "-1": from the newest backwards */
  changeId: string;
  /** >0: up to n records forward; <0: the n records before changeId; never 0 (callers map 0 to 100) */
  records: number;
}

/** Thrown by `update` when a role already has a version >= the one offered (Notary's VERSION). */
export class VersionConflictError extends Error {
  readonly code = 'VERSION_CONFLICT' as const;
  constructor(readonly role: string, readonly version: number) {
    super(`a newer version of ${role} is already stored (offered ${version})`);
    this.name = 'VersionConflictError';
  }
}

/** What `update` stored, exactly as reads (`get*`, `changes`) now return it. */
export interface StoredUpdate {
  /** the files of the batch, in the order given */
  files: StoredFile[];
  /** the change records appended: one per timestamp, in the order given */
  changes: ChangeRecord[];
}

export interface TufStore {
  /** the stored file of the highest version of a role */
  getCurrent(gun: string, role: string): Promise<StoredFile | null>;
  getByVersion(gun: string, role: string, version: number): Promise<StoredFile | null>;
  getByChecksum(gun: string, role: string, sha256hex: string): Promise<StoredFile | null>;
  /**
   * Store a batch atomically: all files or none. Every file's version must be strictly greater
   * than every stored version of its role (else VersionConflictError, nothing stored). Storing a
   * `timestamp` appends an `update` change record. Safe against concurrent writers, in one
   * process or many sharing the database. Resolves with what was stored (creation times and
   * change ids as the database recorded them), after `onChange` listeners were told.
   */
  update(gun: string, files: NewFile[]): Promise<StoredUpdate>;
  /** delete every version of every role of the GUN (exact match); a `deletion` record if any */
  deleteGun(gun: string): Promise<boolean>;
  changes(q: ChangeQuery): Promise<ChangeRecord[]>;
  /** called after any GUN changes, in this process or (where the backend can tell) another */
  onChange(listener: (gun: string) => void): void;
  /** throws when the database is not usable */
  health(): Promise<void>;
  close(): Promise<void>;
}
