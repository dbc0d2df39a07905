/**
 * Repository commands with notary's names, flags and messages: init, add, addhash, remove,
 * publish, status, reset, witness, delete, list, lookup, verify; and the pipeline pair
 * `sign <gun>:<tag>` / `verify <gun>:<tag> --digest` (see docs/cli.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JsonValue } from '../../tuf/canonical';
import { fileMetaJson } from '../../tuf/metadata';
import { Change, targetContent } from '../changelist';
import { findTarget, listTargets, TargetWithRole, verifyTargetBytes, verifyTargetDigest } from '../client/targets';
import { decodePrivateKeyPem, privateKeyBlock, blockIsEncrypted, WrongPassphraseError } from '../keystore';
import { CliError } from '../output';
import { holdsKeyFor } from '../repo/sign';
import { applyChangelist, initRepository, loadForWrite, NewKeyAlgorithm, publish, PublishResult, RepoContext, signAndSend, WriteState } from '../repo/publish';
import { CommandContext, parseGunArg } from './context';
import {
  hashFile,
  INPUT_LIMITS,
  parseHexDigest,
  parseImageRef,
  parseNonNegativeInt,
  parseRoles,
  parseSha256Digest,
  parseTargetName,
  readBoundedFile,
  readCustom,
  readStdin,
  isValidTag,
} from './util';

export function parseKeyAlgorithm(v: string | undefined, fallback: NewKeyAlgorithm = 'ed25519'): NewKeyAlgorithm {
  if (v === undefined) return fallback;
  const a = v.toLowerCase();
  if (a === 'ed25519' || a === 'ecdsa') return a;
  throw new CliError('USAGE', `key algorithm must be ed25519 or ecdsa, not ${JSON.stringify(v)}`);
}

function hex(b: Buffer | undefined): string {
  return b ? b.toString('hex') : '';
}

// ---------------------------------------------------------------------------------------------
// publish

function publishDoc(gun: string, r: PublishResult) {
  return { gun, published: true, firstPublish: r.firstPublish, appliedChanges: r.applied, serverManagedSnapshot: r.serverManagedSnapshot, uploaded: r.uploaded };
}

export async function cmdPublish(ctx: CommandContext, gunArg: string): Promise<void> {
  const gun = parseGunArg(gunArg);
  ctx.out.say(`Pushing changes to ${gun}`);
  ctx.out.result(publishDoc(gun, await publish(ctx.repo(gun))), `Successfully published changes for repository ${gun}`);
}

/**
 * Report a staged change; with `-p` publish right away (also earlier staged changes, as notary
 * does) and report both in one document.
 */
export async function reportStaged(ctx: CommandContext, gun: string, doc: Record<string, unknown>, human: string, doPublish: boolean | undefined): Promise<void> {
  if (!doPublish) {
    ctx.out.result(doc, human);
    return;
  }
  ctx.out.say(human);
  ctx.out.say(`Auto-publishing changes to ${gun}`);
  const r = await publish(ctx.repo(gun));
  ctx.out.result({ ...doc, publish: publishDoc(gun, r) }, `Successfully published changes for repository ${gun}`);
}

// ---------------------------------------------------------------------------------------------
// init

export interface InitFlags {
  publish?: boolean;
  rootkey?: string;
  rootcert?: string;
  keyAlgorithm?: string;
  serverSnapshot?: boolean;
}

/** `--rootkey file`: decrypt (root passphrase when encrypted) and store it in the trust dir. */
async function importRootKey(ctx: CommandContext, file: string): Promise<string> {
  const text = readBoundedFile(file, INPUT_LIMITS.maxPemBytes, 'root key file').toString('utf8');
  const block = privateKeyBlock(text);
  let decoded;
  if (blockIsEncrypted(block)) {
    for (let attempt = 0; !decoded; attempt++) {
      const pass = await ctx.passphrases({ alias: 'root', keyId: path.basename(file), createNew: false, attempt });
      try {
        decoded = decodePrivateKeyPem(text, pass);
      } catch (e) {
        if (!(e instanceof WrongPassphraseError)) throw e;
      }
    }
  } else decoded = decodePrivateKeyPem(text);
  const key = decoded.key;
  if (key.keytype !== 'ecdsa') throw new CliError('USAGE', 'root keys must be ECDSA (P-256)');
  if (!ctx.keystore.has(key.public.id)) await ctx.keystore.add(key, 'root');
  return key.public.id;
}

export async function cmdInit(ctx: CommandContext, gunArg: string, flags: InitFlags): Promise<void> {
  const gun = parseGunArg(gunArg);
  let rootKeyId: string | undefined;
  if (flags.rootkey) rootKeyId = await importRootKey(ctx, flags.rootkey);
  else {
    rootKeyId = ctx.keystore.rootKeyIds()[0];
    if (rootKeyId) ctx.out.say(`Root key found, using: ${rootKeyId}`);
    else ctx.out.say('No root keys found. Generating a new root key...');
  }
  const rootCertPem = flags.rootcert ? readBoundedFile(flags.rootcert, INPUT_LIMITS.maxPemBytes, 'root certificate').toString('utf8') : undefined;
  const r = await initRepository(ctx.repo(gun), {
    rootKeyId,
    rootCertPem,
    keyAlgorithm: parseKeyAlgorithm(flags.keyAlgorithm),
    serverManagedSnapshot: flags.serverSnapshot === true,
  });
  await reportStaged(
    ctx,
    gun,
    { gun, initialized: true, ...r },
    `Initialized local trust data for ${gun} (root key ${r.rootKeyId}, targets key ${r.targetsKeyId}${r.serverManagedSnapshot ? ', snapshot key held by the server' : `, snapshot key ${r.snapshotKeyId}`})`,
    flags.publish,
  );
}

// ---------------------------------------------------------------------------------------------
// staging targets

export interface StageFlags {
  roles?: string[];
  custom?: string;
  publish?: boolean;
  sha256?: string;
  sha512?: string;
}

function stageTarget(ctx: CommandContext, gun: string, name: string, meta: { length: number; hashes: Record<string, Buffer>; custom?: JsonValue }, roles: string[]): void {
  const content = targetContent(meta);
  ctx.changelist(gun).addMany(roles.map((role): Change => ({ action: 'create', scope: role, type: 'target', path: name, content })));
}

export async function cmdAdd(ctx: CommandContext, gunArg: string, target: string, file: string, flags: StageFlags): Promise<void> {
  const gun = parseGunArg(gunArg);
  const name = parseTargetName(target);
  const roles = parseRoles(flags.roles);
  const custom = flags.custom ? readCustom(flags.custom) : undefined;
  const d = await hashFile(file);
  stageTarget(ctx, gun, name, { length: d.length, hashes: { sha256: d.sha256, sha512: d.sha512 }, custom }, roles);
  await reportStaged(
    ctx,
    gun,
    { gun, target: name, roles, staged: true, length: d.length, sha256: hex(d.sha256), sha512: hex(d.sha512) },
    `Addition of target "${name}" to repository "${gun}" staged for next publish.`,
    flags.publish,
  );
}

export async function cmdAddHash(ctx: CommandContext, gunArg: string, target: string, size: string, flags: StageFlags): Promise<void> {
  const gun = parseGunArg(gunArg);
  const name = parseTargetName(target);
  const roles = parseRoles(flags.roles);
  const length = parseNonNegativeInt(size, 'byte size');
  const hashes: Record<string, Buffer> = {};
  if (flags.sha256) hashes.sha256 = parseHexDigest(flags.sha256, 32, '--sha256');
  if (flags.sha512) hashes.sha512 = parseHexDigest(flags.sha512, 64, '--sha512');
  if (!hashes.sha256 && !hashes.sha512) throw new CliError('USAGE', 'addhash needs --sha256 and/or --sha512');
  const custom = flags.custom ? readCustom(flags.custom) : undefined;
  stageTarget(ctx, gun, name, { length, hashes, custom }, roles);
  const by = Object.keys(hashes).join(' and ');
  await reportStaged(
    ctx,
    gun,
    { gun, target: name, roles, staged: true, length, sha256: hex(hashes.sha256), sha512: hex(hashes.sha512) },
    `Addition of target "${name}" by ${by} hash to repository "${gun}" staged for next publish.`,
    flags.publish,
  );
}

export async function cmdRemove(ctx: CommandContext, gunArg: string, target: string, flags: StageFlags): Promise<void> {
  const gun = parseGunArg(gunArg);
  const name = parseTargetName(target);
  const roles = parseRoles(flags.roles);
  ctx.changelist(gun).addMany(roles.map((role): Change => ({ action: 'delete', scope: role, type: 'target', path: name, content: null })));
  await reportStaged(ctx, gun, { gun, target: name, roles, staged: true }, `Removal of ${name} from ${gun} staged for next publish.`, flags.publish);
}

export async function cmdWitness(ctx: CommandContext, gunArg: string, roles: string[], flags: { publish?: boolean }): Promise<void> {
  const gun = parseGunArg(gunArg);
  const valid = parseRoles(roles);
  ctx.changelist(gun).addMany(valid.map((role): Change => ({ action: 'update', scope: role, type: 'witness', path: '', content: null })));
  await reportStaged(
    ctx,
    gun,
    { gun, witnessed: valid },
    `The following roles were successfully marked for witnessing on the next publish:\n${valid.map((r) => `\t- ${r}`).join('\n')}`,
    flags.publish,
  );
}

// ---------------------------------------------------------------------------------------------
// status, reset, delete

export async function cmdStatus(ctx: CommandContext, gunArg: string): Promise<void> {
  const gun = parseGunArg(gunArg);
  const changes = ctx.changelist(gun).list();
  const doc = { gun, changes: changes.map((c, i) => ({ index: i, action: c.action, scope: c.scope, type: c.type, path: c.path })) };
  if (ctx.out.json) return ctx.out.result(doc);
  if (changes.length === 0) return ctx.out.say(`No unpublished changes for ${gun}`);
  ctx.out.say(`Unpublished changes for ${gun}:\n`);
  ctx.out.table(['#', 'ACTION', 'SCOPE', 'TYPE', 'PATH'], changes.map((c, i) => [String(i), c.action, c.scope, c.type, c.path]), doc);
}

export async function cmdReset(ctx: CommandContext, gunArg: string, flags: { all?: boolean; number?: string[] }): Promise<void> {
  const gun = parseGunArg(gunArg);
  const cl = ctx.changelist(gun);
  const numbers = (flags.number ?? []).map((n) => parseNonNegativeInt(n, '--number'));
  if (!flags.all && numbers.length === 0) throw new CliError('USAGE', 'reset needs --all or -n <numbers> (as shown by status)');
  let removed: number;
  if (flags.all) {
    removed = cl.list().length;
    cl.clear();
  } else removed = cl.remove(numbers);
  ctx.out.result({ gun, reset: removed }, `Successfully reset specified changes for repository ${gun}`);
}

export async function cmdDelete(ctx: CommandContext, gunArg: string, flags: { remote?: boolean }): Promise<void> {
  const gun = parseGunArg(gunArg);
  ctx.out.say(`Deleting trust data for repository ${gun}`);
  // local: cached metadata and staged changes (never keys); only this GUN's own folders, so a
  // GUN nested below it (a/b vs a/b/c) keeps its data
  ctx.cache.removeAll(gun);
  const cl = ctx.changelist(gun);
  fs.rmSync(cl.dir, { recursive: true, force: true });
  const dir = path.dirname(cl.dir);
  try {
    fs.rmdirSync(dir);
  } catch {
    // not empty (another GUN below it) or already gone
  }
  if (flags.remote) {
    await ctx.remote.ping();
    await ctx.remote.deleteRepository(gun);
  }
  ctx.out.result(
    { gun, deletedLocal: true, deletedRemote: flags.remote === true },
    flags.remote ? `Successfully deleted local and remote trust data for repository ${gun}` : `Successfully deleted local trust data for repository ${gun}`,
  );
}

// ---------------------------------------------------------------------------------------------
// reading: list, lookup, verify

function targetDoc(t: TargetWithRole) {
  return {
    name: t.name,
    digest: t.meta.hashes.sha256 ? hex(t.meta.hashes.sha256) : '',
    sha256: hex(t.meta.hashes.sha256),
    sha512: hex(t.meta.hashes.sha512),
    size: t.meta.length,
    role: t.role,
    ...(t.meta.custom !== undefined ? { custom: t.meta.custom } : {}),
  };
}

/** notary's `-r`: listed roles first, then targets (which they shadow). */
function rolePriority(roles: string[] | undefined): string[] {
  if (!roles || roles.length === 0) return ['targets'];
  return [...new Set([...parseRoles(roles), 'targets'])];
}

export async function cmdList(ctx: CommandContext, gunArg: string, flags: { roles?: string[] }): Promise<void> {
  const gun = parseGunArg(gunArg);
  const trusted = await ctx.trusted(gun);
  const targets = listTargets(trusted, rolePriority(flags.roles));
  ctx.out.table(
    ['NAME', 'DIGEST', 'SIZE (BYTES)', 'ROLE'],
    targets.map((t) => [t.name, hex(t.meta.hashes.sha256) || hex(t.meta.hashes.sha512), String(t.meta.length), t.role]),
    { gun, targets: targets.map(targetDoc) },
    '\nNo targets present in this repository.\n',
  );
}

async function lookup(ctx: CommandContext, gun: string, name: string, roles: string[] = ['targets']): Promise<TargetWithRole> {
  const trusted = await ctx.trusted(gun);
  const t = findTarget(trusted, name, roles);
  if (!t) throw new CliError('NOT_FOUND', `No valid trust data for ${name}`, { detail: { gun, target: name } });
  return t;
}

export async function cmdLookup(ctx: CommandContext, gunArg: string, target: string): Promise<void> {
  const gun = parseGunArg(gunArg);
  const t = await lookup(ctx, gun, parseTargetName(target));
  ctx.out.result({ gun, ...targetDoc(t) }, `${t.name} sha256:${hex(t.meta.hashes.sha256)} ${t.meta.length}`);
}

export interface VerifyFlags {
  input?: string;
  outputFile?: string;
  quiet?: boolean;
  digest?: string;
  size?: string;
}

/** notary's verify: the payload (stdin or -i) must match the target; then echo it (unless -q). */
async function verifyPayload(ctx: CommandContext, gun: string, target: string, flags: VerifyFlags): Promise<void> {
  const name = parseTargetName(target);
  if (flags.input && (flags.quiet || ctx.out.json)) {
    // nothing to echo: hash the file as a stream, whatever its size
    const d = await hashFile(flags.input);
    const t = await lookup(ctx, gun, name);
    verifyTargetDigest(t, { length: d.length, sha256: d.sha256, sha512: d.sha512 });
    ctx.out.result({ gun, verified: true, ...targetDoc(t) });
    return;
  }
  // the bytes echoed are exactly the bytes verified, so they are held in memory (bounded)
  const payload = flags.input ? readBoundedFile(flags.input, INPUT_LIMITS.maxEchoBytes, 'input') : await readStdin();
  const t = await lookup(ctx, gun, name);
  verifyTargetBytes(t, payload);
  if (ctx.out.json) {
    ctx.out.result({ gun, verified: true, ...targetDoc(t) });
    return;
  }
  if (flags.quiet) return;
  if (flags.outputFile) fs.writeFileSync(flags.outputFile, payload);
  else ctx.out.raw(payload);
}

/**
 * The pipeline check: exit 0 only when trusted data names exactly this digest (and size when
 * given) for the tag, looked up as Docker does (targets/releases, then targets).
 */
async function verifyDigest(ctx: CommandContext, gun: string, tag: string, flags: VerifyFlags): Promise<void> {
  const digest = parseSha256Digest(flags.digest as string);
  const size = flags.size !== undefined ? parseNonNegativeInt(flags.size, '--size') : undefined;
  const trusted = await ctx.trusted(gun);
  const t = findTarget(trusted, tag, ['targets/releases', 'targets']);
  const asked = { digest: `sha256:${hex(digest)}`, ...(size !== undefined ? { size } : {}) };
  if (!t) {
    throw new CliError('NOT_FOUND', `not trusted: ${gun} has no signed tag ${tag} (in targets/releases or targets)`, { detail: { gun, tag, trusted: false, asked } });
  }
  const expected = { digest: t.meta.hashes.sha256 ? `sha256:${hex(t.meta.hashes.sha256)}` : null, size: t.meta.length, role: t.role };
  try {
    if (!t.meta.hashes.sha256) throw new CliError('UNTRUSTED', 'the trust data lists no sha256 for this tag');
    verifyTargetDigest(t, { sha256: digest, ...(size !== undefined ? { length: size } : {}) });
  } catch (e) {
    throw new CliError(
      'UNTRUSTED',
      `not trusted: ${gun}:${tag} is signed for ${expected.digest ?? '(no sha256)'} size ${expected.size} (role ${t.role}), not ${asked.digest}${size !== undefined ? ` size ${size}` : ''}`,
      { cause: e, detail: { gun, tag, trusted: false, asked, expected } },
    );
  }
  ctx.out.result({ gun, tag, trusted: true, ...expected }, `${gun}:${tag} is trusted: ${expected.digest} size ${expected.size} (role ${t.role})`);
}

export async function cmdVerify(ctx: CommandContext, first: string, target: string | undefined, flags: VerifyFlags): Promise<void> {
  if (flags.digest !== undefined) {
    if (target !== undefined) throw new CliError('USAGE', 'verify with --digest takes one argument, <gun>:<tag>');
    const ref = parseImageRef(first);
    if (!ref) throw new CliError('USAGE', `expected <gun>:<tag>, not ${JSON.stringify(first)}`);
    return verifyDigest(ctx, parseGunArg(ref.gun), ref.tag, flags);
  }
  if (target === undefined) throw new CliError('USAGE', 'verify needs <gun> <target> (or <gun>:<tag> --digest sha256:<hex>)');
  return verifyPayload(ctx, parseGunArg(first), target, flags);
}

// ---------------------------------------------------------------------------------------------
// sign: stage and publish tags in one step

export interface SignFlags {
  digest?: string;
  size?: string;
  batch?: string;
  role?: string;
  keyAlgorithm?: string;
}

/** One tag as Docker Content Trust records it: the manifest's sha256 and length. */
export interface TagToSign {
  tag: string;
  sha256: Buffer;
  size: number;
}

function readBatch(file: string): TagToSign[] {
  const text = readBoundedFile(file, 512 * 1024 * 1024, 'batch file').toString('utf8');
  const lines = text.split(/\r?\n/);
  if (lines.length > INPUT_LIMITS.maxBatchLines) throw new CliError('USAGE', `batch file has more than ${INPUT_LIMITS.maxBatchLines} lines`);
  const out: TagToSign[] = [];
  lines.forEach((line, i) => {
    const l = line.trim();
    if (l === '' || l.startsWith('#')) return;
    const parts = l.split(/\s+/);
    if (parts.length !== 3) throw new CliError('USAGE', `batch line ${i + 1}: expected "<tag> sha256:<hex> <size>"`);
    const [tag, digest, size] = parts as [string, string, string];
    if (!isValidTag(tag)) throw new CliError('USAGE', `batch line ${i + 1}: invalid tag ${JSON.stringify(tag)}`);
    out.push({ tag, sha256: parseSha256Digest(digest), size: parseNonNegativeInt(size, `batch line ${i + 1} size`) });
  });
  return out;
}

/** Where tags go: targets/releases when it exists and we hold its key, else targets. */
function chooseRole(rc: RepoContext, state: WriteState, forced?: string): string {
  const { repo } = state;
  if (forced) {
    parseRoles([forced]);
    if (!holdsKeyFor(rc.keystore, repo.signersOf(forced).keys)) throw new CliError('KEYS', `this trust dir holds no key for ${forced}`);
    return forced;
  }
  const releases = repo.delegation('targets/releases');
  if (releases && holdsKeyFor(rc.keystore, releases.keys)) return 'targets/releases';
  if (holdsKeyFor(rc.keystore, repo.baseRole('targets').keys)) return 'targets';
  throw new CliError('KEYS', `this trust dir holds no key for targets/releases or targets of ${rc.gun}`);
}

export interface SignedTags {
  role: string;
  /** true when the repository did not exist and was initialised (server-managed snapshot) */
  initialized: boolean;
  uploaded: Awaited<ReturnType<typeof signAndSend>>;
}

/**
 * Sign tags of one repository and publish in one step: initialise it as Docker does when it does
 * not exist yet, apply staged changes, add the tags to the signing role, sign and upload.
 * Shared by `sign <gun>:<tag> --digest` and `sign <registry>/<repo>:<tag>` (cli/commands/image.ts).
 */
export async function signTags(ctx: CommandContext, gun: string, tags: TagToSign[], flags: { role?: string; keyAlgorithm?: string }): Promise<SignedTags> {
  if (tags.length === 0) throw new CliError('USAGE', 'nothing to sign');
  const rc = ctx.repo(gun);
  let state = await loadForWrite(rc);
  let initialized = false;
  if (!state) {
    // a new repository, initialised as Docker does: the server signs the snapshot
    await initRepository(rc, { keyAlgorithm: parseKeyAlgorithm(flags.keyAlgorithm), serverManagedSnapshot: true });
    initialized = true;
    state = await loadForWrite(rc);
    if (!state) throw new CliError('ERROR', `initialising ${gun} left no local metadata`);
  }
  for (const w of state.warnings) ctx.out.warn(w);
  // staged changes go out with the signature, as with notary's -p
  const staged = rc.changelist.list();
  applyChangelist(state.repo, staged, ctx.out);
  const role = chooseRole(rc, state, flags.role);
  tags.forEach((t, i) => {
    state.repo.addTarget(role, t.tag, fileMetaJson(t.size, { sha256: t.sha256 }));
    if (tags.length >= 100) ctx.out.progress('adding tags', i + 1, tags.length);
  });
  const uploaded = await signAndSend(rc, state);
  rc.changelist.removeFiles(staged.map((c) => c.file));
  return { role, initialized, uploaded };
}

export async function cmdSign(ctx: CommandContext, refs: string[], flags: SignFlags): Promise<void> {
  if (refs.length === 0) throw new CliError('USAGE', 'sign needs <gun>:<tag> (or <gun> --batch <file>)');
  let gun: string;
  let tags: TagToSign[];
  if (flags.batch) {
    if (refs.length !== 1) throw new CliError('USAGE', 'sign --batch takes exactly one <gun>');
    if (flags.digest || flags.size) throw new CliError('USAGE', 'sign --batch takes digests and sizes from the file');
    gun = parseGunArg(refs[0] as string);
    tags = readBatch(flags.batch);
  } else {
    if (flags.digest === undefined || flags.size === undefined) throw new CliError('USAGE', 'sign needs --digest sha256:<hex> and --size <bytes>');
    const sha256 = parseSha256Digest(flags.digest);
    const size = parseNonNegativeInt(flags.size, '--size');
    const parsed = refs.map((r) => {
      const ref = parseImageRef(r);
      if (!ref) throw new CliError('USAGE', `expected <gun>:<tag>, not ${JSON.stringify(r)}`);
      return ref;
    });
    gun = parseGunArg((parsed[0] as { gun: string }).gun);
    if (parsed.some((p) => p.gun !== gun)) throw new CliError('USAGE', 'every <gun>:<tag> of one sign must name the same repository');
    tags = parsed.map((p) => ({ tag: p.tag, sha256, size }));
  }
  if (tags.length === 0) throw new CliError('USAGE', 'nothing to sign');

  const { role, initialized, uploaded } = await signTags(ctx, gun, tags, flags);
  ctx.out.result(
    { gun, role, initialized, signed: tags.map((t) => ({ tag: t.tag, digest: `sha256:${hex(t.sha256)}`, size: t.size })), uploaded },
    tags.length === 1
      ? `Signed ${gun}:${(tags[0] as TagToSign).tag} (sha256:${hex((tags[0] as TagToSign).sha256)}, ${(tags[0] as TagToSign).size} bytes) into ${role}`
      : `Signed ${tags.length} tags of ${gun} into ${role}`,
  );
}

