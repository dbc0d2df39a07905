/** One home for the registry client's bounds. */
export const REGISTRY_LIMITS = {
  /** one manifest or index (distribution itself refuses manifests over 4 MiB) */
  maxManifestBytes: 4 * 1024 * 1024,
  /** a token server's JSON answer */
  maxTokenResponseBytes: 256 * 1024,
  /** one bearer token (a JWT with an x5c chain is a few KiB) */
  maxTokenBytes: 64 * 1024,
  /** how much of an error body we read to quote the registry's error code */
  maxErrorBodyBytes: 64 * 1024,
  /** a docker config.json */
  maxDockerConfigBytes: 1024 * 1024,
  /** WWW-Authenticate challenges considered from one response */
  maxChallenges: 16,
  /** one whole request: connect, send, receive */
  requestTimeoutMs: 30_000,
} as const;
