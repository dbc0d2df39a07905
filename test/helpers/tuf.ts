/** Small builders of trust data shared by tests. */
import { JsonObject, PublicKey, rootSigned } from '../../tuf';

/**
 * The signed part of a root as the notary client lays it out: one key per top-level role
 * (root: its certificates), threshold 1 each.
 */
export function rootWithOneKeyPerRole(o: {
  root: PublicKey[];
  targets: PublicKey;
  snapshot: PublicKey;
  timestamp: PublicKey;
  version: number;
  expires: string;
}): JsonObject {
  return rootSigned({
    keys: [...o.root, o.targets, o.snapshot, o.timestamp],
    roles: {
      root: { keyids: o.root.map((k) => k.id), threshold: 1 },
      targets: { keyids: [o.targets.id], threshold: 1 },
      snapshot: { keyids: [o.snapshot.id], threshold: 1 },
      timestamp: { keyids: [o.timestamp.id], threshold: 1 },
    },
    version: o.version,
    expires: o.expires,
  });
}
