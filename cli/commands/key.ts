/**
 * `key generate|list|rotate|import|export|remove|passwd`: the trust dir's private keys (spec 3.6)
 * and key rotation (spec 5.9).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generatePrivateKey, pemEncode, PrivateKey } from '../../tuf/keys';
import { blockIsEncrypted, decodePrivateKeyPem, encodePrivateKeyPem, privateKeyBlock, roleHasGun, WrongPassphraseError } from '../keystore';
import { CliError } from '../output';
import { rotateKey } from '../repo/publish';
import { CommandContext, parseGunArg } from './context';
import { parseKeyAlgorithm } from './repo';
import { confirm, INPUT_LIMITS, parseNonNegativeInt, parsePositiveInt, readBoundedFile } from './util';

const BASE = ['root', 'targets', 'snapshot', 'timestamp'] as const;
type Base = (typeof BASE)[number];

function parseKeyRole(role: string): string {
  if ((BASE as readonly string[]).includes(role)) return role;
  if (/^[-a-z0-9_/]{1,255}$/.test(role)) return role; // delegation role or a Docker signer name
  throw new CliError('USAGE', `invalid key role ${JSON.stringify(role)}`);
}

function parseKeyId(id: string): string {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new CliError('USAGE', `invalid key ID ${JSON.stringify(id)}: 64 lower-case hex characters`);
  return id;
}

export async function cmdKeyGenerate(ctx: CommandContext, algorithm: string | undefined, flags: { role?: string; outputFile?: string; gun?: string }): Promise<void> {
  const role = parseKeyRole(flags.role ?? 'root');
  const alg = parseKeyAlgorithm(algorithm, 'ecdsa');
  if (role === 'root' && alg !== 'ecdsa') throw new CliError('USAGE', 'root keys must be ECDSA');
  if (role === 'timestamp') throw new CliError('USAGE', 'timestamp keys are held by the server');
  const gun = flags.gun ? parseGunArg(flags.gun) : undefined;
  if (roleHasGun(role) && !gun && !flags.outputFile) throw new CliError('USAGE', `a ${role} key belongs to one repository: give --gun`);
  let key: PrivateKey;
  if (flags.outputFile) {
    key = generatePrivateKey(alg);
    const passphrase = await ctx.passphrases({ alias: role, keyId: key.public.id, gun, createNew: true, attempt: 0 });
    const prefix = path.resolve(flags.outputFile);
    const privFile = `${prefix}-key.pem`;
    const pubFile = `${prefix}.pem`;
    fs.writeFileSync(privFile, encodePrivateKeyPem(key, { role, gun, passphrase }), { mode: 0o600, flag: 'wx' });
    const spki = crypto.createPublicKey(key.keyObject).export({ format: 'der', type: 'spki' });
    fs.writeFileSync(pubFile, pemEncode('PUBLIC KEY', spki, { role }), { mode: 0o644, flag: 'wx' });
    ctx.out.result(
      { keyId: key.public.id, algorithm: alg, role, privateKeyFile: privFile, publicKeyFile: pubFile },
      `Generated new ${alg} ${role} key with keyID: ${key.public.id}\nPrivate key written to ${privFile}\nPublic key written to ${pubFile}`,
    );
    return;
  }
  key = await ctx.keystore.generate(alg, role, gun);
  ctx.out.result({ keyId: key.public.id, algorithm: alg, role, gun: gun ?? '' }, `Generated new ${alg} ${role} key with keyID: ${key.public.id}`);
}

export async function cmdKeyList(ctx: CommandContext): Promise<void> {
  const keys = ctx.keystore.list();
  ctx.out.table(
    ['ROLE', 'GUN', 'KEY ID', 'LOCATION'],
    keys.map((k) => [k.role, k.gun, k.keyId, ctx.keystore.dir]),
    { keys: keys.map((k) => ({ role: k.role, gun: k.gun, keyId: k.keyId, location: ctx.keystore.dir, encrypted: k.encrypted })) },
    '\nNo signing keys found.\n',
  );
}

/** Private keys from -k files; encrypted ones are decrypted with the role's passphrase. */
async function readRotationKeys(ctx: CommandContext, files: string[], role: string): Promise<PrivateKey[]> {
  const out: PrivateKey[] = [];
  for (const f of files) {
    const text = readBoundedFile(f, INPUT_LIMITS.maxPemBytes, 'key file').toString('utf8');
    const block = privateKeyBlock(text);
    if (!blockIsEncrypted(block)) {
      if (role === 'root') throw new CliError('USAGE', `${f}: root keys to rotate to must be encrypted`);
      out.push(decodePrivateKeyPem(text).key);
      continue;
    }
    for (let attempt = 0; ; attempt++) {
      const pass = await ctx.passphrases({ alias: block.headers.role || role, keyId: path.basename(f), createNew: false, attempt });
      try {
        out.push(decodePrivateKeyPem(text, pass).key);
        break;
      } catch (e) {
        if (!(e instanceof WrongPassphraseError)) throw e;
      }
    }
  }
  return out;
}

export interface RotateFlags {
  serverManaged?: boolean;
  key?: string[];
  legacy?: string;
  keyAlgorithm?: string;
  threshold?: string;
  yes?: boolean;
}

export async function cmdKeyRotate(ctx: CommandContext, gunArg: string, roleArg: string, flags: RotateFlags): Promise<void> {
  const gun = parseGunArg(gunArg);
  if (!(BASE as readonly string[]).includes(roleArg)) {
    throw new CliError('USAGE', `key rotate works on root, targets, snapshot or timestamp (delegation keys are changed with delegation add/remove), not ${JSON.stringify(roleArg)}`);
  }
  const role = roleArg as Base;
  if (role === 'root' && !flags.yes) {
    const ok = await confirm('Warning: you are about to rotate your root key.\n\nYou must use your old key to sign this root rotation.\nAre you sure you want to proceed?');
    if (!ok) throw new CliError('USAGE', 'root key rotation cancelled: answer yes or pass -y');
  }
  const keys = await readRotationKeys(ctx, flags.key ?? [], role);
  const r = await rotateKey(ctx.repo(gun), role, {
    serverManaged: flags.serverManaged === true,
    keys: keys.map((k) => ({ key: k, alreadyStored: ctx.keystore.has(k.public.id) })),
    keyAlgorithm: parseKeyAlgorithm(flags.keyAlgorithm),
    legacy: flags.legacy !== undefined ? parseNonNegativeInt(flags.legacy, '--legacy') : 0,
    threshold: flags.threshold !== undefined ? parsePositiveInt(flags.threshold, '--threshold') : undefined,
  });
  ctx.out.result({ gun, ...r }, `Successfully rotated ${role} key for repository ${gun}`);
}

export async function cmdKeyImport(ctx: CommandContext, files: string[], flags: { gun?: string; role?: string }): Promise<void> {
  if (files.length === 0) throw new CliError('USAGE', 'key import needs at least one PEM file');
  const gun = flags.gun ? parseGunArg(flags.gun) : undefined;
  const role = flags.role ? parseKeyRole(flags.role) : undefined;
  const imported = [];
  for (const f of files) {
    const text = readBoundedFile(f, INPUT_LIMITS.maxPemBytes, 'key file').toString('utf8');
    imported.push(...(await ctx.keystore.importPem(text, { role, gun })));
  }
  ctx.out.result(
    { imported: imported.map((k) => ({ keyId: k.keyId, role: k.role, gun: k.gun })) },
    imported.map((k) => `Imported ${k.role} key ${k.keyId}${k.gun ? ` (${k.gun})` : ''}`).join('\n'),
  );
}

export async function cmdKeyExport(ctx: CommandContext, flags: { key?: string[]; gun?: string[]; outputFile?: string }): Promise<void> {
  const keyIds = (flags.key ?? []).map(parseKeyId);
  const pem = ctx.keystore.exportPem({ keyIds, guns: flags.gun });
  if (pem === '') throw new CliError('NOT_FOUND', 'no keys match');
  if (flags.outputFile) {
    fs.writeFileSync(flags.outputFile, pem, { mode: 0o600 });
    ctx.out.result({ exported: true, file: path.resolve(flags.outputFile) }, `Exported keys to ${flags.outputFile}`);
  } else if (ctx.out.json) ctx.out.result({ pem });
  else ctx.out.raw(Buffer.from(pem, 'utf8'));
}

export async function cmdKeyRemove(ctx: CommandContext, keyIdArg: string, flags: { yes?: boolean }): Promise<void> {
  const keyId = parseKeyId(keyIdArg);
  const info = ctx.keystore.info(keyId);
  if (!info) throw new CliError('NOT_FOUND', `no key with ID ${keyId} in ${ctx.keystore.dir}`);
  if (!flags.yes && !(await confirm(`Are you sure you want to remove ${keyId} (role ${info.role}) from ${ctx.keystore.dir}?`))) {
    throw new CliError('USAGE', 'removal cancelled: answer yes or pass -y');
  }
  ctx.keystore.remove(keyId);
  ctx.out.result({ removed: keyId, role: info.role, gun: info.gun }, `Deleted ${keyId} (role ${info.role}) from ${ctx.keystore.dir}.`);
}

export async function cmdKeyPasswd(ctx: CommandContext, keyIdArg: string): Promise<void> {
  const keyId = parseKeyId(keyIdArg);
  await ctx.keystore.changePassphrase(keyId);
  ctx.out.result({ keyId, changed: true }, `Successfully updated passphrase for key ID: ${keyId}`);
}
