#!/usr/bin/env node
/**
 * Move a Notary 0.7 deployment to vouch: every stored metadata version of every GUN (and so the
 * changefeed) into vouch-server's store, and the online keys (timestamp, server-held snapshot)
 * into vouch-signer's key store. Clients notice nothing: same URLs, same metadata bytes, same
 * keys. Stop notary-server first (or at least stop writes) and start vouch on the result.
 *
 *   node dist/scripts/migrate-notary.js \
 *     --notary-server-db postgres://...notaryserver  (or --notary-server-export tuf_files.jsonl)
 *     --notary-signer-db postgres://...notarysigner  (or --notary-signer-export private_keys.json)
 *     --alias-passphrase ALIAS=ENVVAR ...             (default: NOTARY_SIGNER_<ALIAS>)
 *     --to-server-config server.json --to-signer-config signer.json [--dry-run]
 *
 * The target signer's passphrase comes from its own variable, NOTARY_SIGNER_<DEFAULT_ALIAS>, as
 * when it runs. Re-running is safe: what is already there is skipped. docs/migrating-from-notary.md
 * has the whole procedure.
 *
 * Exit codes: 0 done, 1 the migration failed (data checks, passphrases, databases), 2 usage or
 * configuration, 3 done, but some repositories need their owners (a root or timestamp that does
 * not verify, or a timestamp key the signer does not hold; printed as warnings).
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from '../server/config';
import { openStore } from '../server/storage';
import { TufStore } from '../server/storage/types';
import { loadSignerConfig } from '../signer/config';
import { SignerError } from '../signer/errors';
import { Keyring, passphraseVariables } from '../signer/sealing';
import { openKeyStore } from '../signer/store';
import { KeyStore } from '../signer/store/types';
import { checkRepositories } from './migrate/check';
import { importKeys, importMetadata, KeySummary, MetadataSummary, MigrationError } from './migrate/import';
import { changefeedFromPostgres, fileRowsFromExport, fileRowsFromPostgres, keyRowsFromExport, keyRowsFromPostgres, redactUrl, SourceError } from './migrate/sources';

interface Options {
  notaryServerDb?: string;
  notaryServerExport?: string;
  notarySignerDb?: string;
  notarySignerExport?: string;
  aliasPassphrase: string[];
  toServerConfig?: string;
  toSignerConfig?: string;
  dryRun?: boolean;
}

class UsageError extends Error {}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** `ALIAS=ENVVAR` pairs: which variable holds the passphrase of each Notary alias. */
export function parseAliasPassphrases(pairs: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of pairs) {
    const match = /^([A-Za-z0-9_.]{1,64})=([A-Za-z_][A-Za-z0-9_]*)$/.exec(p);
    if (!match) throw new UsageError(`--alias-passphrase ${JSON.stringify(p)}: expected ALIAS=ENVVAR (the name of an environment variable, not the passphrase)`);
    m.set(match[1] as string, match[2] as string);
  }
  return m;
}

function checkUsage(o: Options): void {
  const problems: string[] = [];
  if (o.notaryServerDb && o.notaryServerExport) problems.push('give --notary-server-db or --notary-server-export, not both');
  if (o.notarySignerDb && o.notarySignerExport) problems.push('give --notary-signer-db or --notary-signer-export, not both');
  const server = o.notaryServerDb ?? o.notaryServerExport;
  const signer = o.notarySignerDb ?? o.notarySignerExport;
  if (!server && !signer) problems.push('nothing to migrate: give a notary-server source, a notary-signer source, or both');
  if (server && !o.toServerConfig) problems.push('--to-server-config is required to import metadata');
  if (signer && !o.toSignerConfig) problems.push('--to-signer-config is required to import keys');
  for (const [flag, url] of [
    ['--notary-server-db', o.notaryServerDb],
    ['--notary-signer-db', o.notarySignerDb],
  ] as const) {
    if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) problems.push(`${flag}: must be a postgres:// URL`);
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n  '));
}

function formatMetadata(s: MetadataSummary, dryRun: boolean): string {
  return `metadata: ${s.guns} GUN(s), ${s.imported} file(s) ${dryRun ? 'would be imported' : 'imported'}, ${s.present} already present; ${s.timestamps} changefeed record(s) ${dryRun ? 'would be added' : 'added'}`;
}

function formatKeys(s: KeySummary, dryRun: boolean): string {
  const roles = Object.entries(s.byRole)
    .map(([r, n]) => `${n} ${r}`)
    .join(', ');
  return `keys: ${s.imported} key(s) ${dryRun ? 'would be imported' : 'imported'}${roles ? ` (${roles})` : ''} under alias "${s.alias}", ${s.present} already present`;
}

/** What a run ended with: 0 clean, 3 migrated but some repositories need their owners. */
type Outcome = 0 | 3;

async function migrate(o: Options, out: (line: string) => void, warn: (line: string) => void): Promise<Outcome> {
  checkUsage(o);
  const aliasVars = parseAliasPassphrases(o.aliasPassphrase);
  const dryRun = o.dryRun === true;
  if (dryRun) out('dry run: every check runs, nothing is written');

  const signerSource = o.notarySignerDb ?? o.notarySignerExport;
  const serverSource = o.notaryServerDb ?? o.notaryServerExport;
  // load both configs before touching anything: a bad one is a usage error, not a half migration
  const signerCfg = o.toSignerConfig ? loadSignerConfig(o.toSignerConfig) : null;
  const serverCfg = serverSource && o.toServerConfig ? loadConfig(o.toServerConfig) : null;

  let keyStore: KeyStore | null = null;
  let store: TufStore | null = null;
  try {
    if (signerCfg) keyStore = await openKeyStore(signerCfg.storage);

    // keys first: a missing or wrong passphrase should stop the migration before metadata moves
    if (signerSource && signerCfg && keyStore) {
      const rows = o.notarySignerDb ? await keyRowsFromPostgres(o.notarySignerDb) : keyRowsFromExport(o.notarySignerExport as string);
      out(`reading ${rows.length} key(s) from ${o.notarySignerDb ? redactUrl(o.notarySignerDb) : o.notarySignerExport}`);
      const summary = await importKeys(rows, {
        store: keyStore,
        keyring: new Keyring(process.env),
        defaultAlias: signerCfg.storage.defaultAlias,
        notaryPassphrase: (alias) => {
          const variable = aliasVars.get(alias) ?? (passphraseVariables(alias)[0] as string);
          const value = process.env[variable];
          return value ? Buffer.from(value, 'utf8') : null;
        },
        dryRun,
      });
      out(formatKeys(summary, dryRun));
    }

    if (serverSource && serverCfg) {
      out(`reading metadata from ${o.notaryServerDb ? redactUrl(o.notaryServerDb) : o.notaryServerExport}`);
      store = await openStore(serverCfg.storage.backend === 'sqlite' ? { backend: 'sqlite', path: serverCfg.storage.path, watchIntervalMs: 0 } : { backend: 'postgres', url: serverCfg.storage.url, listen: false });
      const rows = o.notaryServerDb ? fileRowsFromPostgres(o.notaryServerDb) : fileRowsFromExport(o.notaryServerExport as string);
      const summary = await importMetadata(rows, store, { dryRun });
      out(formatMetadata(summary, dryRun));
      if (o.notaryServerDb) {
        const feed = await changefeedFromPostgres(o.notaryServerDb);
        const deletions = feed.filter((c) => c.category === 'deletion').length;
        out(`notary-server's changefeed had ${feed.length - deletions} update and ${deletions} deletion record(s); vouch's is rebuilt from the stored timestamps (record IDs start afresh)`);
      }
      if (!dryRun) {
        const findings = await checkRepositories(summary.gunNames, store, keyStore);
        if (findings.length === 0) {
          out(`checked ${summary.gunNames.length} repositories: current roots and timestamps verify${keyStore ? ', and vouch-signer holds every timestamp key they name' : ''}`);
        } else {
          for (const f of findings) warn(`WARNING ${f.gun}: ${f.problem}`);
          out(`checked ${summary.gunNames.length} repositories: ${findings.length} need attention (see the warnings)`);
          return 3;
        }
      }
    }
    return 0;
  } finally {
    await store?.close();
    await keyStore?.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('migrate-notary')
    .description("import a Notary 0.7 deployment's metadata history and online keys into vouch")
    .option('--notary-server-db <url>', "notary-server's PostgreSQL database (table tuf_files)")
    .option('--notary-server-export <file>', 'or: tuf_files exported as JSON Lines (docs/migrating-from-notary.md)')
    .option('--notary-signer-db <url>', "notary-signer's PostgreSQL database (table private_keys)")
    .option('--notary-signer-export <file>', 'or: private_keys exported as JSON (array or lines)')
    .option('--alias-passphrase <ALIAS=ENVVAR>', "the variable holding a Notary alias's passphrase (repeatable; default NOTARY_SIGNER_<ALIAS>)", collect, [])
    .option('--to-server-config <file>', "vouch-server's configuration: metadata goes to its storage")
    .option('--to-signer-config <file>', "vouch-signer's configuration: keys go to its storage, sealed under its default alias")
    .option('--dry-run', 'read and check everything, write nothing')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  try {
    return await migrate(
      program.opts<Options>(),
      (line) => process.stdout.write(`${line}\n`),
      (line) => process.stderr.write(`${line}\n`),
    );
  } catch (e) {
    const usage = e instanceof UsageError || e instanceof ConfigError || (e instanceof SignerError && e.code === 'CONFIG');
    const known = usage || e instanceof MigrationError || e instanceof SourceError || e instanceof SignerError;
    process.stderr.write(`migrate-notary: ${known ? (e as Error).message : String((e as Error).stack ?? e)}\n`);
    if (!usage) process.stderr.write('migrate-notary: stopped; batches written before the failure stay, and a re-run continues from there\n');
    return usage ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
