/**
 * After the import: is every migrated repository servable? Its current root must verify with its
 * own keys, its current timestamp with the root's timestamp keys, and vouch-signer must hold a
 * timestamp key the root names, or vouch-server cannot sign the next timestamp and the repository
 * goes stale when the current one expires (14 days at most). Findings are reported, not fixed:
 * they describe the data as Notary left it, and the owner's root key is needed to repair them
 * (`vouch key rotate <gun> timestamp -r`).
 */
import { TufStore } from '../../server/storage/types';
import { KeyStore } from '../../signer/store/types';
import { parseMetadata, Root } from '../../tuf/metadata';
import { verifyThreshold } from '../../tuf/verify';

export interface RepositoryFinding {
  gun: string;
  problem: string;
}

async function checkOne(gun: string, store: TufStore, keys: KeyStore | null): Promise<string | null> {
  const rootFile = await store.getCurrent(gun, 'root');
  if (!rootFile) return 'no root is stored';
  let root: Root;
  try {
    root = parseMetadata(rootFile.bytes, 'root');
    const rootRole = root.body.roles.get('root');
    if (!rootRole) return 'the root names no root keys';
    verifyThreshold(root, root.body.keys, rootRole, 'root');
  } catch (e) {
    return `the current root (version ${rootFile.version}) does not verify: ${(e as Error).message}`;
  }
  const tsRole = root.body.roles.get('timestamp');
  if (!tsRole) return 'the root names no timestamp keys';
  const tsFile = await store.getCurrent(gun, 'timestamp');
  if (!tsFile) return 'no timestamp is stored';
  try {
    verifyThreshold(parseMetadata(tsFile.bytes, 'timestamp'), root.body.keys, tsRole, 'timestamp');
  } catch (e) {
    return `the current timestamp (version ${tsFile.version}) does not verify with the root's timestamp keys: ${(e as Error).message}`;
  }
  if (keys) {
    let held = 0;
    for (const id of tsRole.keyids) if (await keys.getKey(id)) held++;
    if (held < tsRole.threshold) {
      return `vouch-signer holds no timestamp key this root names (${tsRole.keyids.map((k) => k.slice(0, 12)).join(', ')}): the server cannot sign new timestamps; the owner must run \`vouch key rotate ${gun} timestamp -r\``;
    }
  }
  return null;
}

/** Check every GUN; `keys` null skips the signer check (no signer was migrated or configured). */
export async function checkRepositories(guns: Iterable<string>, store: TufStore, keys: KeyStore | null): Promise<RepositoryFinding[]> {
  const findings: RepositoryFinding[] = [];
  for (const gun of guns) {
    const problem = await checkOne(gun, store, keys);
    if (problem) findings.push({ gun, problem });
  }
  return findings;
}
