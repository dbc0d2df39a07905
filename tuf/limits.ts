/**
 * One home for the numbers: default lifetimes (spec 2.3), size and count bounds.
 */
const DAY_MS = 24 * 60 * 60 * 1000;

/** Default metadata lifetimes, as Notary sets them (const.go; a year is 365 days). */
export const DEFAULT_EXPIRY_MS = {
  root: 3650 * DAY_MS,
  targets: 1095 * DAY_MS,
  snapshot: 1095 * DAY_MS,
  timestamp: 14 * DAY_MS,
} as const;

/** Root certificates are valid for ten years from "now" (not back-dated). */
export const ROOT_CERT_VALIDITY_MS = 3650 * DAY_MS;

/** Clients warn when a role is this close to expiry; the CLI re-signs root within it. */
export const NEAR_EXPIRY_MS = 182 * DAY_MS;

export const LIMITS = {
  /** deepest JSON nesting we parse or write */
  jsonDepth: 64,
  /** one metadata document (targets files with many tags are the large ones) */
  maxMetadataBytes: 64 * 1024 * 1024,
  /** timestamp downloads, as the Go client caps them */
  maxTimestampBytes: 1024 * 1024,
  /** root downloads (the Go client allows 100 MiB; we are stricter) */
  maxRootBytes: 4 * 1024 * 1024,
  /** key responses */
  maxKeyBytes: 256 * 1024,
  /** a role name, in bytes (Notary: shorter than 256) */
  maxRoleNameBytes: 255,
  /** delegation depth below targets: targets/a/b/c has depth 3 */
  maxDelegationDepth: 16,
  /** keys listed in one role or delegation set */
  maxKeysPerRole: 64,
  /** signatures on one document */
  maxSignatures: 64,
  /** delegated roles declared in one targets file */
  maxDelegations: 1024,
  /** PEM certificates in one key (leaf plus intermediates) */
  maxCertificatesPerKey: 8,
  /** bytes of a key's public value */
  maxPublicKeyBytes: 16 * 1024,
} as const;
