/**
 * Moving a Notary deployment's state into vouch's stores:
 *
 * - metadata: every stored version of every role of every GUN, bytes untouched, in the order
 *   notary-server stored them, through TufStore.update (so the store's own rules apply: versions
 *   only go up, batches are atomic). Each imported timestamp adds its changefeed record, which
 *   rebuilds Notary's changefeed the way Notary's own 0002_changefeed migration built it: one
 *   `update` record per stored timestamp, oldest first.
 * - online keys: each notary-signer key decrypted with its alias's passphrase (jwe.ts), checked
 *   against its public key and ID, and sealed by vouch-signer's own Keyring under the target's
 *   default alias, bound to its row as the signer binds every key (keyAad).
 *
 * Both are resumable: a version or key already present with the same content is skipped, one
 * present with different content stops the import. Verify before trust: every file must parse
 * as the metadata its role names, carry the version its row says, and hash to the stored
 * checksum; every key must decrypt and match.
 */
import * as crypto from 'node:crypto';
import { SigningService, keyAad } from '../../signer/service';
import { Keyring, passphraseVariables } from '../../signer/sealing';
import { KeyStore } from '../../signer/store/types';
import { TufStore, VersionConflictError, NewFile } from '../../server/storage/types';
import { sha256Hex } from '../../tuf/keys';
import { LIMITS } from '../../tuf/limits';
import { parseMetadata, MetadataKind } from '../../tuf/metadata';
import { isBaseRole, isDelegationName, isValidGun } from '../../tuf/roles';
import { KeyImportError, NotaryKeyRow, openNotaryKey } from './notary-keys';
import { NotaryFileRow } from './sources';

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export interface MetadataSummary {
  guns: number;
  /** the GUNs seen, in first-seen order */
  gunNames: string[];
  /** files written by this run */
  imported: number;
  /** files already in the store with the same bytes (an earlier run) */
  present: number;
  /** timestamps written, i.e. changefeed records added */
  timestamps: number;
}

/** files per TufStore.update call (each is one transaction) */
const BATCH_FILES = 100;
const BATCH_BYTES = 16 * 1024 * 1024;

function kindOf(role: string): MetadataKind | null {
  if (isBaseRole(role)) return role;
  return isDelegationName(role) ? 'targets' : null;
}

/** Check one notary-server row before it is trusted with a place in the store. */
function checkRow(row: NotaryFileRow): void {
  const where = `${row.gun} ${row.role} version ${row.version}`;
  if (!isValidGun(row.gun)) throw new MigrationError(`${JSON.stringify(row.gun.slice(0, 300))}: not a valid GUN`);
  const kind = kindOf(row.role);
  if (kind === null) throw new MigrationError(`${row.gun}: ${JSON.stringify(row.role.slice(0, 300))} is not a valid role name`);
  if (row.data.length > LIMITS.maxMetadataBytes) throw new MigrationError(`${where}: larger than ${LIMITS.maxMetadataBytes} bytes`);
  const sha = sha256Hex(row.data);
  if (row.sha256 !== null && row.sha256 !== sha) throw new MigrationError(`${where}: the data does not hash to the checksum notary-server stored (${row.sha256}); the database is damaged or was altered`);
  let version: number;
  try {
    version = parseMetadata(row.data, kind).body.version;
  } catch (e) {
    throw new MigrationError(`${where}: not valid ${kind} metadata: ${(e as Error).message}`);
  }
  if (version !== row.version) throw new MigrationError(`${where}: the file says version ${version}`);
}

/**
 * Import notary-server rows (oldest first) into `store`. With `dryRun` every check runs and
 * nothing is written.
 */
export async function importMetadata(rows: AsyncIterable<NotaryFileRow>, store: TufStore, opts: { dryRun?: boolean } = {}): Promise<MetadataSummary> {
  const guns = new Set<string>();
  const lastVersion = new Map<string, number>();
  const summary: MetadataSummary = { guns: 0, gunNames: [], imported: 0, present: 0, timestamps: 0 };
  let batchGun: string | null = null;
  let batch: NewFile[] = [];
  let batchBytes = 0;

  const flush = async () => {
    if (batchGun === null || batch.length === 0) return;
    if (!opts.dryRun) {
      try {
        await store.update(batchGun, batch);
      } catch (e) {
        if (e instanceof VersionConflictError) {
          throw new MigrationError(`${batchGun}: the target store already holds ${e.role} at version ${e.version} or newer with other content; it was written to outside this migration`);
        }
        throw e;
      }
    }
    summary.imported += batch.length;
    summary.timestamps += batch.filter((f) => f.role === 'timestamp').length;
    batch = [];
    batchBytes = 0;
  };

  for await (const row of rows) {
    checkRow(row);
    // notary-server stores each role's versions in increasing order; anything else is not its data
    const roleKey = `${row.gun}\u0000${row.role}`;
    const prev = lastVersion.get(roleKey);
    if (prev !== undefined && row.version <= prev) {
      throw new MigrationError(`${row.gun} ${row.role}: version ${row.version} comes after version ${prev}; the rows are not in notary-server's order`);
    }
    lastVersion.set(roleKey, row.version);
    guns.add(row.gun);

    const existing = await store.getByVersion(row.gun, row.role, row.version);
    if (existing) {
      if (!existing.bytes.equals(row.data)) {
        throw new MigrationError(`${row.gun} ${row.role} version ${row.version}: the target store holds different bytes for this version`);
      }
      summary.present++;
      continue;
    }
    if (row.gun !== batchGun || batch.length >= BATCH_FILES || batchBytes + row.data.length > BATCH_BYTES) {
      await flush();
      batchGun = row.gun;
    }
    batch.push({ role: row.role, version: row.version, bytes: row.data });
    batchBytes += row.data.length;
  }
  await flush();
  summary.guns = guns.size;
  summary.gunNames = [...guns];
  return summary;
}

export interface KeySummary {
  imported: number;
  present: number;
  /** the alias the imported keys are sealed under */
  alias: string;
  byRole: Record<string, number>;
}

export interface KeyImportOptions {
  store: KeyStore;
  /** the target signer's passphrases (NOTARY_SIGNER_<ALIAS> variables) */
  keyring: Keyring;
  /** the target signer's storage.default_alias: imported keys are sealed under it */
  defaultAlias: string;
  /** the passphrase of a Notary alias, or null when none was given */
  notaryPassphrase: (alias: string) => Buffer | null;
  dryRun?: boolean;
}

/**
 * Import notary-signer rows into vouch-signer's key store. Each key is re-sealed with the
 * signer's own Keyring and bound to its row, then opened again to prove the round trip.
 */
export async function importKeys(rows: NotaryKeyRow[], opts: KeyImportOptions): Promise<KeySummary> {
  const summary: KeySummary = { imported: 0, present: 0, alias: opts.defaultAlias, byRole: {} };
  if (!opts.keyring.hasPassphrase(opts.defaultAlias)) {
    throw new MigrationError(`no passphrase for the target signer's alias "${opts.defaultAlias}": set ${passphraseVariables(opts.defaultAlias).join(' or ')}`);
  }
  if (!opts.dryRun) {
    // the signer's own start-up check: the target alias's passphrase opens what the store holds
    // (and the alias gets its check record and KDF salt, so keys can be sealed under it)
    await new SigningService(opts.store, opts.keyring, { defaultAlias: opts.defaultAlias }).verifyPassphrases();
  }
  const seen = new Set<string>();
  for (const row of rows) {
    if (seen.has(row.keyId)) throw new MigrationError(`key ${row.keyId} appears twice in the source`);
    seen.add(row.keyId);
    const existing = await opts.store.getKey(row.keyId);
    if (existing) {
      if (existing.algorithm !== row.algorithm || !existing.public.equals(row.public)) {
        throw new MigrationError(`key ${row.keyId}: the target signer holds a different key under this ID`);
      }
      summary.present++;
      continue;
    }
    const passphrase = opts.notaryPassphrase(row.passphraseAlias);
    if (passphrase === null) {
      throw new MigrationError(
        `key ${row.keyId}: no passphrase for Notary alias "${row.passphraseAlias}": set ${passphraseVariables(row.passphraseAlias)[0]} or pass --alias-passphrase ${row.passphraseAlias}=VARIABLE`,
      );
    }
    let key;
    try {
      key = openNotaryKey(row, passphrase);
    } catch (e) {
      if (e instanceof KeyImportError) throw new MigrationError(e.message);
      throw e;
    }
    if (key.keytype !== 'ecdsa' && key.keytype !== 'ed25519') throw new MigrationError(`key ${row.keyId}: unsupported key type`);
    summary.byRole[row.role] = (summary.byRole[row.role] ?? 0) + 1;
    if (opts.dryRun) {
      summary.imported++;
      continue;
    }
    const der = key.keyObject.export({ format: 'der', type: 'pkcs8' });
    try {
      const ids = { keyId: row.keyId, algorithm: key.keytype, gun: row.gun, role: row.role, alias: opts.defaultAlias };
      const sealed = await opts.keyring.seal(opts.defaultAlias, der, keyAad(ids));
      const now = new Date();
      await opts.store.insertKey({
        ...ids,
        ...sealed,
        public: Buffer.from(row.public),
        createdAt: row.createdAt ?? now,
        // Notary's pending-key rule rests on last_used: keep it. When an export does not say,
        // count the key as used, so a later CreateKey makes a fresh key instead of reviving it.
        lastUsed: row.lastUsed === undefined ? (row.createdAt ?? now) : row.lastUsed,
      });
      const stored = await opts.store.getKey(row.keyId);
      if (!stored) throw new MigrationError(`key ${row.keyId}: not found after it was stored`);
      const back = await opts.keyring.open(stored, keyAad(stored));
      const same = back.length === der.length && crypto.timingSafeEqual(back, der);
      back.fill(0);
      if (!same) throw new MigrationError(`key ${row.keyId}: the stored key does not open to the imported key`);
    } finally {
      der.fill(0);
    }
    summary.imported++;
  }
  return summary;
}
