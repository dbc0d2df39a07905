/**
 * One home for the signer's numbers: message sizes, cache bounds, deadlines and the key
 * derivation parameters used for keys encrypted at rest.
 */
export const SIGNER_LIMITS = {
  /**
   * Largest gRPC message the signer accepts. The biggest thing ever signed is a server-made
   * snapshot, a few hundred bytes per role; 16 MiB leaves room for very large repositories
   * while bounding what a client can make us buffer.
   */
  maxRequestBytes: 16 * 1024 * 1024,
  /** Largest reply the client accepts: a public key or a signature, never more than a few KiB. */
  maxResponseBytes: 256 * 1024,
  /** Calls in flight per connection (HTTP/2 streams, or vouch-rpc/1 calls). */
  maxConcurrentCalls: 1000,
  /** Decrypted private keys kept in memory (least recently used are dropped first). */
  keyCacheEntries: 1024,
  /** Longest GUN and role accepted on CreateKey, in bytes (Notary: shorter than 256). */
  maxNameBytes: 255,
  /** Longest algorithm string echoed back in an error message. */
  maxEchoChars: 64,
  /** A request must have arrived whole within this time, or its stream is cancelled. */
  requestTimeoutMs: 30_000,
  /** Default deadline on every client call. */
  callDeadlineMs: 10_000,
} as const;

/**
 * scrypt parameters for new keys (OWASP: N=2^17, r=8, p=1, 128 MiB). The parameters are stored
 * with every row so they can be raised later; stored parameters are accepted only inside the
 * bounds below, so a tampered database cannot make the signer burn unbounded memory or accept
 * a trivially weak derivation.
 */
export const KDF_DEFAULT = { N: 2 ** 17, r: 8, p: 1 } as const;
export const KDF_BOUNDS = {
  minN: 2 ** 14,
  maxN: 2 ** 20,
  maxR: 32,
  maxP: 16,
  /** scrypt needs 128 * N * r bytes; this caps it (1 GiB) */
  maxMemBytes: 1024 * 1024 * 1024,
} as const;
