/**
 * One home for the server's request bounds and timing choices. Metadata-level bounds (document
 * size, role-name length, delegation depth, keys per role) live in tuf/limits.ts and are used
 * from there; this file holds what only the HTTP server needs.
 */
import { DEFAULT_EXPIRY_MS, LIMITS } from '../tuf/limits';

export const SERVER_LIMITS = {
  /** a whole publish request body (multipart); Notary has no bound at all */
  maxUploadBytes: 128 * 1024 * 1024,
  /** one uploaded metadata file */
  maxFileBytes: LIMITS.maxMetadataBytes,
  /** parts in one publish: root, targets, snapshot, timestamp and the delegations being published */
  maxUploadFiles: 256,
  /** a part's file name: a role name plus an optional `.json` */
  maxFilenameBytes: LIMITS.maxRoleNameBytes + '.json'.length,
  /** header pairs of one multipart part */
  maxPartHeaderPairs: 16,
  /** the header block of one multipart part */
  maxPartHeaderBytes: 8 * 1024,
  /** any request body other than a publish (there are none we read; anything else is drained up to this) */
  maxOtherBodyBytes: 64 * 1024,
  /** the error body the Go client reads (storage/httpstore.go reads 1 KiB) */
  maxValidationErrorBytes: 1024,
  /** a request path we route, in bytes (a GUN is at most 255 bytes, a role 255) */
  maxPathBytes: 2048,
  /** a bearer token */
  maxTokenBytes: 16 * 1024,
  /** verified tokens remembered, so the hot GET path does not re-verify signatures */
  tokenCacheEntries: 4096,
  /** GUNs whose current metadata is held in memory */
  cachedGuns: 10_000,
  /** consistent (by hash / by version) files held in memory per GUN */
  cachedConsistentPerGun: 64,
  /** parsed stored documents kept in memory (by hash), so a publish does not parse the same root each time */
  parsedMetadataEntries: 256,
  /**
   * their total size as stored; a document above a sixteenth of it (64 KiB) is parsed each
   * time. Parsed, a document takes 10-15 times its size in heap: a 10,000-tag targets file
   * (1 MB) kept here raised the server's peak RSS by tens of MB.
   */
  parsedMetadataBytes: 1024 * 1024,
  /** changefeed page size when `records=0` (Notary's default) */
  defaultChangefeedRecords: 100,
  /** how long a health check waits for storage or the key service */
  healthTimeoutMs: 3000,
} as const;

/**
 * Re-sign the timestamp (and a server-held snapshot) once less than this fraction of its
 * lifetime remains, instead of waiting for it to expire as Notary does: clients never see an
 * expired timestamp as long as anyone fetched it in the last quarter of its life.
 */
export const REFRESH_FRACTION = 0.25;

export const REFRESH_MARGIN_MS = {
  timestamp: DEFAULT_EXPIRY_MS.timestamp * REFRESH_FRACTION,
  snapshot: DEFAULT_EXPIRY_MS.snapshot * REFRESH_FRACTION,
} as const;

/** When a refresh is due but impossible (expired root, client-held snapshot key), retry after this. */
export const REFRESH_RETRY_MS = 60_000;

/** Token auth: clock skew tolerated on exp and nbf (docker/distribution's leeway). */
export const TOKEN_LEEWAY_MS = 60_000;

/** The bounds as plain numbers, so callers (tests) can choose other values. */
export type ServerLimits = { [K in keyof typeof SERVER_LIMITS]: number };
