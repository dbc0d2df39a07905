#!/usr/bin/env node
/**
 * vouch-signer: holds the online keys (timestamp, and snapshot when the server manages it) and
 * signs for the metadata server over mutual TLS.
 *
 *   vouch-signer --config signer.json                 serve (the default)
 *   vouch-signer rotate-alias --to NEW --config ...   re-encrypt every key under alias NEW
 *
 * Passphrases come from NOTARY_SIGNER_<ALIAS> (or VOUCH_SIGNER_<ALIAS>), alias upper-cased with
 * dots as underscores. They are read once at start and removed from the environment. A missing
 * or wrong passphrase stops the signer before it listens.
 *
 * Rotating the alias: stop the signer, run `rotate-alias --to NEW` with the passphrases of the
 * current aliases and of NEW set, then set `storage.default_alias` to NEW and start the signer
 * with only NEW's passphrase. The old passphrase is no longer needed.
 *
 * Exit codes: 0 done, 1 could not start (passphrase, storage, TLS, listen), 2 bad configuration
 * or usage.
 */
import { Command, CommanderError } from 'commander';
import pino from 'pino';
import { loadSignerConfig, SignerConfig } from './config';
import { SignerError } from './errors';
import { ALIAS_RE, Keyring } from './sealing';
import { startSignerServer } from './server';
import { SigningService } from './service';
import { openKeyStore } from './store';
import { KeyStore } from './store/types';

/** Take the passphrase variables out of the environment, so no child process or dump sees them. */
function takePassphraseVariables(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (name.startsWith('NOTARY_SIGNER_') || name.startsWith('VOUCH_SIGNER_')) {
      out[name] = value;
      if (!name.endsWith('_DEFAULT_ALIAS')) delete process.env[name];
    }
  }
  return out;
}

function fail(e: unknown): never {
  const code = e instanceof SignerError && e.code === 'CONFIG' ? 2 : 1;
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`vouch-signer: ${msg}\n`);
  process.exit(code);
}

async function openService(config: SignerConfig, env: Record<string, string>): Promise<{ store: KeyStore; service: SigningService }> {
  const store = await openKeyStore(config.storage);
  try {
    const service = new SigningService(store, new Keyring(env), { defaultAlias: config.storage.defaultAlias });
    await service.verifyPassphrases();
    return { store, service };
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}

async function serve(configFile: string, env: Record<string, string>): Promise<void> {
  const config = loadSignerConfig(configFile, { ...process.env, ...env });
  const logger = pino({ name: 'vouch-signer', level: config.logging.level });
  const { store, service } = await openService(config, env);
  const running = await startSignerServer({
    host: config.server.host,
    port: config.server.port,
    tls: config.server,
    service,
    logger: {
      debug: (o, m) => logger.debug(o, m),
      info: (o, m) => logger.info(o, m),
      warn: (o, m) => logger.warn(o, m),
      error: (o, m) => logger.error(o, m),
    },
  }).catch(async (e: unknown) => {
    await store.close().catch(() => undefined);
    throw e;
  });
  logger.info({ host: config.server.host, port: running.port, backend: config.storage.backend, alias: config.storage.defaultAlias }, 'vouch-signer listening');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'vouch-signer stopping');
    void running
      .close()
      .then(() => store.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function rotateAlias(configFile: string, to: string, env: Record<string, string>): Promise<void> {
  if (!ALIAS_RE.test(to)) throw new SignerError('CONFIG', `--to "${to}": an alias holds only letters, digits, "_" and "." (at most 64)`);
  const config = loadSignerConfig(configFile, { ...process.env, ...env });
  const { store, service } = await openService(config, env);
  try {
    const { resealed, dropped } = await service.rotateAlias(to);
    process.stdout.write(`re-encrypted ${resealed} key(s) under alias "${to}"${dropped.length ? `; alias(es) ${dropped.join(', ')} no longer used` : ''}\n`);
    if (config.storage.defaultAlias !== to) process.stdout.write(`now set storage.default_alias to "${to}" in ${configFile}\n`);
  } finally {
    await store.close();
  }
}

export async function main(argv: string[]): Promise<void> {
  const env = takePassphraseVariables();
  const program = new Command();
  program
    .name('vouch-signer')
    .description('holds the online TUF keys and signs for the vouch (or Notary) server over mutual TLS')
    .option('-c, --config <file>', 'configuration file', 'signer.json')
    .exitOverride()
    .action(async (opts: { config: string }) => serve(opts.config, env));
  program
    .command('rotate-alias')
    .description('re-encrypt every key under a new passphrase alias (stop the signer first)')
    .requiredOption('--to <alias>', 'the new alias; its passphrase in NOTARY_SIGNER_<ALIAS>')
    .option('-c, --config <file>', 'configuration file')
    .action(async (opts: { to: string; config?: string }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ config: string }>();
      await rotateAlias(opts.config ?? globals.config, opts.to, env);
    });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
    throw e;
  }
}

if (require.main === module) {
  main(process.argv).catch(fail);
}
