#!/usr/bin/env node
/**
 * `vouch`: notary's command set and flags (so notary users feel at home), `--output json`
 * everywhere, documented exit codes, plus two commands for pipelines:
 *
 *   vouch sign   <gun>:<tag> --digest sha256:<hex> --size <n>     stage and publish in one step
 *   vouch verify <gun>:<tag> --digest sha256:<hex> [--size <n>]   exit 0 only for exactly that digest
 *
 * and for images by registry reference (digest and size read from the registry):
 *
 *   vouch sign   <registry>/<repo>:<tag>    vouch verify <registry>/<repo>:<tag>
 *   vouch digest <registry>/<repo>:<tag>
 *
 * `verify` keeps notary's form `verify <gun> <target> [-i file]`; the pipeline form is chosen by
 * `--digest` (and takes one `<gun>:<tag>` argument), the image form by one argument without
 * `--digest`; `sign` without `--digest`/`--size`/`--batch` is the image form. See docs/cli.md.
 */
import { Command, CommanderError, Option } from 'commander';
import { CommandContext, GlobalOptions, parseFormat } from './commands/context';
import { cmdDigest, cmdSignImage, cmdVerifyImage } from './commands/image';
import { cmdDelegationAdd, cmdDelegationList, cmdDelegationPurge, cmdDelegationRemove } from './commands/delegation';
import { cmdKeyExport, cmdKeyGenerate, cmdKeyImport, cmdKeyList, cmdKeyPasswd, cmdKeyRemove, cmdKeyRotate } from './commands/key';
import {
  cmdAdd,
  cmdAddHash,
  cmdDelete,
  cmdInit,
  cmdList,
  cmdLookup,
  cmdPublish,
  cmdRemove,
  cmdReset,
  cmdSign,
  cmdStatus,
  cmdVerify,
  cmdWitness,
} from './commands/repo';
import { collect } from './commands/util';
import { EXIT, Output } from './output';
import { PassphraseSource } from './passphrase';

const VERSION = '0.1.0';

const EXIT_HELP = `
Exit codes:
  0  ok
  1  error
  2  usage: bad arguments, flags or input files
  3  verification failed / not trusted
  4  not found (repository, target, role or key)
  5  network or server error
  6  a signing key or its passphrase is not available

Passphrases come from VOUCH_/NOTARY_{ROOT,TARGETS,SNAPSHOT,DELEGATION}_PASSPHRASE, or a prompt on a
terminal; with neither, commands fail at once.`;

export interface RunDeps {
  passphrases?: PassphraseSource;
  now?: () => number;
  stdout?: { write(s: string | Uint8Array): unknown; isTTY?: boolean };
  stderr?: { write(s: string): unknown; isTTY?: boolean };
}

/** Build the program; every action runs through `act`, which owns errors and exit codes. */
function buildProgram(state: { exitCode: number }, deps: RunDeps): Command {
  const program = new Command('vouch');
  program
    .description('Content trust for container images: a Notary v1 compatible TUF client')
    .version(VERSION, '--version', 'print the version')
    .option('-s, --server <url>', 'remote trust server location')
    .option('-d, --trustDir <dir>', 'directory where the trust data is persisted to')
    .option('-c, --configFile <file>', 'path to the configuration file to use')
    .option('--tlscacert <file>', 'trust certs signed only by this CA')
    .option('--tlscert <file>', 'path to TLS certificate file')
    .option('--tlskey <file>', 'path to TLS key file')
    .option('-D, --debug', 'debug output (stack traces on errors)')
    .option('-v, --verbose', 'verbose output')
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'))
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => (deps.stdout ?? process.stdout).write(s),
      writeErr: (s) => (deps.stderr ?? process.stderr).write(s),
    });

  const act =
    <A extends unknown[]>(fn: (ctx: CommandContext, ...args: A) => Promise<void>) =>
    async (...args: unknown[]): Promise<void> => {
      const command = args[args.length - 1] as Command;
      const globals = command.optsWithGlobals() as GlobalOptions;
      let out: Output;
      try {
        out = new Output(parseFormat(globals.output), globals.debug === true, { stdout: deps.stdout ?? process.stdout, stderr: deps.stderr ?? process.stderr });
      } catch (e) {
        (deps.stderr ?? process.stderr).write(`* fatal: ${(e as Error).message}\n`);
        state.exitCode = EXIT.USAGE;
        return;
      }
      let ctx: CommandContext | undefined;
      try {
        ctx = new CommandContext(globals, { out, passphrases: deps.passphrases, now: deps.now });
        // commander passes (args..., options, command); hand the command's own options on
        await fn(ctx, ...(args.slice(0, -1) as A));
        state.exitCode = EXIT.OK;
      } catch (e) {
        state.exitCode = out.failure(e);
      } finally {
        ctx?.close();
      }
    };

  // ---- repository commands
  program
    .command('init')
    .description('Initializes a local trusted collection.')
    .argument('<gun>')
    .option('-p, --publish', 'publish right after initializing (also publishes staged changes)')
    .option('--rootkey <file>', 'root key to initialize the repository with')
    .option('--rootcert <file>', 'root certificate (must certify the root key)')
    .option('--key-algorithm <alg>', 'algorithm of the new targets and snapshot keys: ed25519 (default) or ecdsa')
    .option('--server-snapshot', 'let the server hold and sign the snapshot (as Docker does)')
    .action(act((ctx, gun: string, opts: Record<string, unknown>) => cmdInit(ctx, gun, opts)));

  program
    .command('add')
    .description('Adds the file as a target to the trusted collection.')
    .argument('<gun>')
    .argument('<target>')
    .argument('<file>')
    .option('-r, --roles <roles>', 'delegation roles to add this target to', collect)
    .option('--custom <file>', 'path to the file containing custom data for this target')
    .option('-p, --publish', 'publish after staging')
    .action(act((ctx, gun: string, target: string, file: string, opts: Record<string, unknown>) => cmdAdd(ctx, gun, target, file, opts)));

  program
    .command('addhash')
    .description('Adds the byte size and hash(es) as a target to the trusted collection.')
    .argument('<gun>')
    .argument('<target>')
    .argument('<size>')
    .option('--sha256 <hex>', 'hex encoded sha256 of the target to add')
    .option('--sha512 <hex>', 'hex encoded sha512 of the target to add')
    .option('-r, --roles <roles>', 'delegation roles to add this target to', collect)
    .option('--custom <file>', 'path to the file containing custom data for this target')
    .option('-p, --publish', 'publish after staging')
    .action(act((ctx, gun: string, target: string, size: string, opts: Record<string, unknown>) => cmdAddHash(ctx, gun, target, size, opts)));

  program
    .command('remove')
    .description('Removes a target from a trusted collection.')
    .argument('<gun>')
    .argument('<target>')
    .option('-r, --roles <roles>', 'delegation roles to remove this target from', collect)
    .option('-p, --publish', 'publish after staging')
    .action(act((ctx, gun: string, target: string, opts: Record<string, unknown>) => cmdRemove(ctx, gun, target, opts)));

  program
    .command('list')
    .description('Lists targets for a remote trusted collection.')
    .argument('<gun>')
    .option('-r, --roles <roles>', 'delegation roles to list targets for (will shadow targets role)', collect)
    .action(act((ctx, gun: string, opts: { roles?: string[] }) => cmdList(ctx, gun, opts)));

  program
    .command('lookup')
    .description('Looks up a specific target in a remote trusted collection.')
    .argument('<gun>')
    .argument('<target>')
    .action(act((ctx, gun: string, target: string) => cmdLookup(ctx, gun, target)));

  program
    .command('verify')
    .description(
      'Verifies content against the remote trusted collection.\n' +
        '  notary form:   verify <gun> <target> [-i file] [-o file] [-q]   (payload from stdin or -i; echoed unless -q)\n' +
        '  pipeline form: verify <gun>:<tag> --digest sha256:<hex> [--size n]   (exit 0 only for exactly that digest)\n' +
        "  image form:    verify <registry>/<repo>:<tag>   (exit 0 only when the registry's current digest is the signed one)",
    )
    .argument('<gun-or-ref>')
    .argument('[target]')
    .option('-i, --input <file>', 'read from a file, instead of STDIN')
    .option('-o, --output-file <file>', 'write to a file, instead of STDOUT')
    .option('-q, --quiet', 'no output except for errors')
    .option('--digest <digest>', 'pipeline form: the sha256:<hex> digest that must be trusted for the tag')
    .option('--size <bytes>', 'pipeline form: the size that must be trusted too')
    .option('--registry-cacert <file>', "image form: CA certificates (PEM) for the registry's TLS, besides the system ones")
    .option('--registry-plain-http <host>', 'image form: registry host[:port] that may be reached over plain http (loopback always may)', collect)
    .action(
      act((ctx, first: string, target: string | undefined, opts: Record<string, unknown>) =>
        opts.digest === undefined && target === undefined ? cmdVerifyImage(ctx, first, opts) : cmdVerify(ctx, first, target, opts),
      ),
    );

  program
    .command('publish')
    .description('Publishes the local trusted collection.')
    .argument('<gun>')
    .action(act((ctx, gun: string) => cmdPublish(ctx, gun)));

  program
    .command('status')
    .description('Displays status of unpublished changes to the local trusted collection.')
    .argument('<gun>')
    .action(act((ctx, gun: string) => cmdStatus(ctx, gun)));

  program
    .command('reset')
    .description('Resets unpublished changes for the local trusted collection.')
    .argument('<gun>')
    .option('--all', 'reset all changes shown in the status list')
    .option('-n, --number <numbers>', 'numbers of specific changes to exclusively reset, as shown in status list', collect)
    .action(act((ctx, gun: string, opts: Record<string, unknown>) => cmdReset(ctx, gun, opts)));

  program
    .command('witness')
    .description("Marks roles to be re-signed the next time they're published.")
    .argument('<gun>')
    .argument('<roles...>')
    .option('-p, --publish', 'publish after staging')
    .action(act((ctx, gun: string, roles: string[], opts: Record<string, unknown>) => cmdWitness(ctx, gun, roles, opts)));

  program
    .command('delete')
    .description('Deletes all content for a trusted collection.')
    .argument('<gun>')
    .option('--remote', 'delete remote data for GUN in addition to local cache')
    .action(act((ctx, gun: string, opts: Record<string, unknown>) => cmdDelete(ctx, gun, opts)));

  program
    .command('sign')
    .description(
      'Signs image tags and publishes them in one step (into targets/releases when that delegation exists and its key is here, else targets).\n' +
        '  image form:    sign <registry>/<repo>:<tag>...   (digest and size of the manifest or index read from the registry)\n' +
        '  pipeline form: sign <gun>:<tag>... --digest sha256:<hex> --size n, or sign <gun> --batch file',
    )
    .argument('<refs...>', '<registry>/<repo>:<tag> or <gun>:<tag> (several tags of one repository allowed), or <gun> with --batch')
    .option('--digest <digest>', 'the manifest digest, sha256:<hex>')
    .option('--size <bytes>', 'the manifest size in bytes')
    .option('--batch <file>', 'sign many tags: lines of "<tag> sha256:<hex> <size>"')
    .option('--role <role>', 'sign into this role instead')
    .option('--key-algorithm <alg>', 'for a new repository: algorithm of its targets key (ed25519 or ecdsa)')
    .option('--registry-cacert <file>', "image form: CA certificates (PEM) for the registry's TLS, besides the system ones")
    .option('--registry-plain-http <host>', 'image form: registry host[:port] that may be reached over plain http (loopback always may)', collect)
    .action(
      act((ctx, refs: string[], opts: Record<string, unknown>) =>
        opts.digest === undefined && opts.size === undefined && opts.batch === undefined ? cmdSignImage(ctx, refs, opts) : cmdSign(ctx, refs, opts),
      ),
    );

  program
    .command('digest')
    .description('Prints the signed digest of an image tag (targets/releases, then targets) and the <repo>@sha256:... reference that pulls exactly it.')
    .argument('<image>', '<registry>/<repo>:<tag>')
    .action(act((ctx, ref: string) => cmdDigest(ctx, ref)));

  // ---- delegations
  const delegation = program.command('delegation').description('Operates on delegations.');
  delegation
    .command('add')
    .description('Add keys (X509 certificates or PEM public keys) and/or paths to a delegation.')
    .argument('<gun>')
    .argument('<role>')
    .argument('[files...]')
    .option('--paths <paths>', 'list of paths to add', collect)
    .option('--all-paths', 'add all paths to this delegation')
    .option('--threshold <n>', 'signatures the delegation needs (default 1)')
    .option('-p, --publish', 'publish after staging')
    .action(act((ctx, gun: string, role: string, files: string[], opts: Record<string, unknown>) => cmdDelegationAdd(ctx, gun, role, files, opts)));
  delegation
    .command('remove')
    .description('Remove key IDs or paths from a delegation, or the whole delegation.')
    .argument('<gun>')
    .argument('<role>')
    .argument('[keyIds...]')
    .option('--paths <paths>', 'list of paths to remove', collect)
    .option('--all-paths', 'remove all paths from this delegation')
    .option('-y, --yes', 'answer yes to the removal question')
    .option('-p, --publish', 'publish after staging')
    .action(act((ctx, gun: string, role: string, ids: string[], opts: Record<string, unknown>) => cmdDelegationRemove(ctx, gun, role, ids, opts)));
  delegation
    .command('list')
    .description('Lists delegations for the Global Unique Name.')
    .argument('<gun>')
    .action(act((ctx, gun: string) => cmdDelegationList(ctx, gun)));
  delegation
    .command('purge')
    .description('Remove key IDs from all delegation roles in the given GUN.')
    .argument('<gun>')
    .option('--key <ids>', 'delegation key IDs to be removed from the GUN', collect)
    .option('-p, --publish', 'publish after staging')
    .action(act((ctx, gun: string, opts: Record<string, unknown>) => cmdDelegationPurge(ctx, gun, opts)));

  // ---- keys
  const key = program.command('key').description('Operates on keys.');
  key
    .command('generate')
    .description('Generates a new key (ecdsa by default; ed25519 for non-root roles).')
    .argument('[algorithm]')
    .option('-r, --role <role>', 'role to generate key with', 'root')
    .option('-o, --output-file <prefix>', 'write <prefix>-key.pem and <prefix>.pem instead of storing the key')
    .option('-g, --gun <gun>', 'repository of a targets or snapshot key')
    .action(act((ctx, alg: string | undefined, opts: Record<string, unknown>) => cmdKeyGenerate(ctx, alg, opts)));
  key
    .command('list')
    .description('Lists keys.')
    .action(act((ctx) => cmdKeyList(ctx)));
  key
    .command('rotate')
    .description('Rotate the key of a base role (root, targets, snapshot, timestamp) and publish.')
    .argument('<gun>')
    .argument('<role>')
    .option('-r, --server-managed', 'the server holds the new key (snapshot; always for timestamp)')
    .option('-k, --key <files>', 'new key(s) to rotate to; if not given, one is generated', collect)
    .option('-l, --legacy <n>', "number of old versions' root roles to sign with, for old clients")
    .option('--key-algorithm <alg>', 'algorithm of a generated targets/snapshot key: ed25519 (default) or ecdsa')
    .option('--threshold <n>', 'threshold of the role after rotation')
    .option('-y, --yes', 'do not ask before rotating the root key')
    .action(act((ctx, gun: string, role: string, opts: Record<string, unknown>) => cmdKeyRotate(ctx, gun, role, opts)));
  key
    .command('import')
    .description('Imports all keys from all provided .pem files.')
    .argument('<files...>')
    .option('-g, --gun <gun>', 'gun to import key with, if a gun is not already given in a PEM header')
    .option('-r, --role <role>', 'role to import key with, if a role is not already given in a PEM header')
    .action(act((ctx, files: string[], opts: Record<string, unknown>) => cmdKeyImport(ctx, files, opts)));
  key
    .command('export')
    .description('Exports keys (still encrypted) with path headers, filtered by --key and --gun.')
    .option('--key <ids>', 'key IDs to export', collect)
    .option('--gun <guns>', 'GUNs for which to export keys', collect)
    .option('-o, --output-file <file>', 'filepath to write export output to')
    .action(act((ctx, opts: Record<string, unknown>) => cmdKeyExport(ctx, opts)));
  key
    .command('remove')
    .description('Removes the key with the given keyID.')
    .argument('<keyId>')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act((ctx, id: string, opts: Record<string, unknown>) => cmdKeyRemove(ctx, id, opts)));
  key
    .command('passwd')
    .description('Changes the passphrase for the key with the given keyID.')
    .argument('<keyId>')
    .action(act((ctx, id: string) => cmdKeyPasswd(ctx, id)));

  return program;
}

/** Run the CLI on `argv` (as process.argv); resolves with the exit code. */
export async function run(argv: string[], deps: RunDeps = {}): Promise<number> {
  const state = { exitCode: EXIT.OK as number };
  const program = buildProgram(state, deps);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      // commander has printed the problem already
      return EXIT.USAGE;
    }
    (deps.stderr ?? process.stderr).write(`* fatal: ${(e as Error).message}\n`);
    return EXIT.ERROR;
  }
  return state.exitCode;
}

if (require.main === module) {
  run(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`* fatal: ${(e as Error).message}\n`);
      process.exitCode = EXIT.ERROR;
    },
  );
}
