/**
 * `delegation add|remove|list|purge` (spec 5.9): delegation changes are staged in the changelist
 * exactly as notary stages them, so either client can publish them.
 */
import * as crypto from 'node:crypto';
import { canonicalKeyId, makePublicKey, pemDecodeAll, PublicKey } from '../../tuf/keys';
import { isDelegationName } from '../../tuf/roles';
import { certificateKeyFromPem } from '../../tuf/x509';
import { Change, delegationContent } from '../changelist';
import { CliError } from '../output';
import { CommandContext, parseGunArg } from './context';
import { reportStaged } from './repo';
import { confirm, INPUT_LIMITS, parsePositiveInt, readBoundedFile } from './util';

function parseDelegationRole(role: string): string {
  if (!isDelegationName(role)) throw new CliError('USAGE', `invalid delegation name ${JSON.stringify(role)}: targets/<name>, lower-case [-a-z0-9_/]`);
  return role;
}

function usesSha1(cert: crypto.X509Certificate): boolean {
  const raw = cert.raw.toString('hex');
  return raw.includes('06072a8648ce3d0401') || raw.includes('06092a864886f70d010105');
}

/**
 * A delegation key from a PEM file: a CERTIFICATE (currently valid, not SHA-1, RSA >= 2048;
 * becomes ecdsa-x509/rsa-x509) or a PUBLIC KEY (ecdsa, rsa or ed25519), as notary accepts.
 */
export function delegationKeyFromPem(text: string, file: string, now: number): PublicKey {
  let blocks;
  try {
    blocks = pemDecodeAll(text);
  } catch (e) {
    throw new CliError('USAGE', `${file} is not PEM: ${(e as Error).message}`, { cause: e });
  }
  const block = blocks[0];
  if (!block) throw new CliError('USAGE', `${file} holds no PEM block`);
  switch (block.type) {
    case 'CERTIFICATE': {
      let cert: crypto.X509Certificate;
      try {
        cert = new crypto.X509Certificate(block.der);
      } catch (e) {
        throw new CliError('USAGE', `${file}: could not parse the certificate`, { cause: e });
      }
      const from = Date.parse(cert.validFrom);
      const to = Date.parse(cert.validTo);
      if (!(from <= to) || from > now + 24 * 3600 * 1000 || to <= now) throw new CliError('USAGE', `${file}: the certificate is expired or not yet valid`);
      if (usesSha1(cert)) throw new CliError('USAGE', `${file}: the certificate uses a SHA-1 signature`);
      if (cert.publicKey.asymmetricKeyType === 'rsa' && (cert.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new CliError('USAGE', `${file}: RSA keys need at least 2048 bits`);
      if (cert.publicKey.asymmetricKeyType !== 'ec' && cert.publicKey.asymmetricKeyType !== 'rsa') throw new CliError('USAGE', `${file}: certificates must hold ECDSA or RSA keys`);
      return certificateKeyFromPem(`-----BEGIN CERTIFICATE-----\n${block.der.toString('base64')}\n-----END CERTIFICATE-----\n`);
    }
    case 'PUBLIC KEY': {
      let k: crypto.KeyObject;
      try {
        k = crypto.createPublicKey({ key: block.der, format: 'der', type: 'spki' });
      } catch (e) {
        throw new CliError('USAGE', `${file}: unable to parse the public key`, { cause: e });
      }
      switch (k.asymmetricKeyType) {
        case 'ec':
          return makePublicKey('ecdsa', block.der);
        case 'rsa':
          if ((k.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new CliError('USAGE', `${file}: RSA keys need at least 2048 bits`);
          return makePublicKey('rsa', block.der);
        case 'ed25519':
          return makePublicKey('ed25519', Buffer.from(k.export({ format: 'jwk' }).x as string, 'base64url'));
        default:
          throw new CliError('USAGE', `${file}: unsupported public key type ${k.asymmetricKeyType ?? 'unknown'}`);
      }
    }
    default:
      throw new CliError('USAGE', `${file}: unsupported PEM block type ${JSON.stringify(block.type)}, expected CERTIFICATE or PUBLIC KEY`);
  }
}

function pathsText(paths: string[]): string {
  if (paths.length === 0) return '';
  return paths.map((p) => (p === '' ? '"" <all paths>' : p)).join(', ');
}

export interface DelegationAddFlags {
  paths?: string[];
  allPaths?: boolean;
  threshold?: string;
  publish?: boolean;
}

export async function cmdDelegationAdd(ctx: CommandContext, gunArg: string, roleArg: string, files: string[], flags: DelegationAddFlags): Promise<void> {
  const gun = parseGunArg(gunArg);
  const role = parseDelegationRole(roleArg);
  const keys = files.map((f) => delegationKeyFromPem(readBoundedFile(f, INPUT_LIMITS.maxPemBytes, 'key file').toString('utf8'), f, ctx.now()));
  const paths = flags.allPaths ? [''] : (flags.paths ?? []);
  const threshold = flags.threshold !== undefined ? parsePositiveInt(flags.threshold, '--threshold') : undefined;
  if (keys.length === 0 && paths.length === 0 && threshold === undefined) {
    throw new CliError('USAGE', 'delegation add needs at least one key file, --paths/--all-paths, or --threshold');
  }
  if (threshold !== undefined && keys.length > 0 && threshold > keys.length) {
    throw new CliError('USAGE', `threshold ${threshold} is more than the ${keys.length} key(s) given`);
  }
  const changes: Change[] = [];
  if (keys.length > 0 || threshold !== undefined) {
    changes.push({ action: 'create', scope: role, type: 'delegation', path: '', content: delegationContent({ threshold: threshold ?? (keys.length > 0 ? 1 : undefined), addKeys: keys }) });
  }
  if (paths.length > 0) changes.push({ action: 'create', scope: role, type: 'delegation', path: '', content: delegationContent({ addPaths: paths }) });
  ctx.changelist(gun).addMany(changes);
  const ids = keys.map((k) => canonicalKeyId(k));
  await reportStaged(
    ctx,
    gun,
    { gun, role, staged: true, keyIds: ids, paths, threshold: threshold ?? null },
    `Addition of delegation role ${role}${ids.length ? ` with keys [${ids.join(' ')}]` : ''}${paths.length ? `, with paths [${pathsText(paths)}]` : ''}, to repository "${gun}" staged for next publish.`,
    flags.publish,
  );
}

export interface DelegationRemoveFlags {
  paths?: string[];
  allPaths?: boolean;
  yes?: boolean;
  publish?: boolean;
}

export async function cmdDelegationRemove(ctx: CommandContext, gunArg: string, roleArg: string, keyIds: string[], flags: DelegationRemoveFlags): Promise<void> {
  const gun = parseGunArg(gunArg);
  const role = parseDelegationRole(roleArg);
  for (const id of keyIds) if (!/^[0-9a-f]{64}$/.test(id)) throw new CliError('USAGE', `invalid key ID ${JSON.stringify(id)}`);
  const paths = flags.paths ?? [];
  if (keyIds.length === 0 && paths.length === 0 && !flags.allPaths) {
    // the whole role, after confirmation
    if (!flags.yes && !(await confirm('Are you sure you want to remove all data for this delegation?'))) {
      throw new CliError('USAGE', 'removal cancelled: answer yes or pass -y');
    }
    ctx.changelist(gun).add({ action: 'delete', scope: role, type: 'delegation', path: '', content: null });
    await reportStaged(ctx, gun, { gun, role, staged: true, removedRole: true }, `Forced removal (including all keys and paths) of delegation role ${role} to repository "${gun}" staged for next publish.`, flags.publish);
  } else {
    ctx.changelist(gun).add({
      action: 'update',
      scope: role,
      type: 'delegation',
      path: '',
      content: delegationContent({ removeKeys: keyIds, removePaths: paths, clearPaths: flags.allPaths === true }),
    });
    const parts = [keyIds.length ? `with keys [${keyIds.join(' ')}]` : '', paths.length ? `with paths [${paths.join(' ')}]` : '', flags.allPaths ? 'with all paths' : ''].filter(Boolean);
    await reportStaged(
      ctx,
      gun,
      { gun, role, staged: true, removedKeys: keyIds, removedPaths: paths, clearedPaths: flags.allPaths === true },
      `Removal of delegation role ${role} ${parts.join(', ')}, to repository "${gun}" staged for next publish.`,
      flags.publish,
    );
  }
}

export async function cmdDelegationPurge(ctx: CommandContext, gunArg: string, flags: { key?: string[]; publish?: boolean }): Promise<void> {
  const gun = parseGunArg(gunArg);
  const ids = flags.key ?? [];
  if (ids.length === 0) throw new CliError('USAGE', 'delegation purge needs --key <key ID>');
  for (const id of ids) if (!/^[0-9a-f]{64}$/.test(id)) throw new CliError('USAGE', `invalid key ID ${JSON.stringify(id)}`);
  ctx.changelist(gun).add({ action: 'update', scope: 'targets/*', type: 'delegation', path: '', content: delegationContent({ removeKeys: ids }) });
  await reportStaged(
    ctx,
    gun,
    { gun, staged: true, purgedKeys: ids },
    `Removal of the following keys from all delegations in ${gun} staged for next publish:\n${ids.map((i) => `\t- ${i}`).join('\n')}`,
    flags.publish,
  );
}

export async function cmdDelegationList(ctx: CommandContext, gunArg: string): Promise<void> {
  const gun = parseGunArg(gunArg);
  const trusted = await ctx.trusted(gun);
  const rows: { role: string; paths: string[]; keyIds: string[]; threshold: number }[] = [];
  // every declared delegation, parents before children, in declaration order
  const files = [...trusted.targets.entries()].sort((a, b) => a[0].split('/').length - b[0].split('/').length);
  for (const [, file] of files) {
    for (const d of file.body.delegations) {
      const keyIds = d.keyids.map((id) => {
        const k = file.body.delegationKeys.get(id);
        try {
          return k ? canonicalKeyId(k) : id;
        } catch {
          return id;
        }
      });
      rows.push({ role: d.name, paths: d.paths, keyIds, threshold: d.threshold });
    }
  }
  ctx.out.table(
    ['ROLE', 'PATHS', 'KEY IDS', 'THRESHOLD'],
    rows.map((r) => [r.role, pathsText(r.paths), r.keyIds.join(', '), String(r.threshold)]),
    { gun, delegations: rows },
    `No delegations present in this repository.`,
  );
}
