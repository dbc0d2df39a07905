/**
 * What every command needs, built once from the global flags: settings, output, passphrases,
 * the key store, the server, the metadata cache and the update workflow.
 */
import { isValidGun } from '../../tuf/roles';
import { MetadataCache } from '../cache';
import { Changelist } from '../changelist';
import { TrustedRepo, updateRepository } from '../client/update';
import { TrustPinConfig } from '../client/pinning';
import { CliConfig, ConfigFlags, loadConfig } from '../config';
import { KeyStore } from '../keystore';
import { CliError, Output, OutputFormat } from '../output';
import { makePassphraseSource, PassphraseSource } from '../passphrase';
import { credentialsFromEnv, Remote } from '../remote';
import { RepoContext } from '../repo/publish';

export interface GlobalOptions extends ConfigFlags {
  debug?: boolean;
  output?: string;
}

export function parseFormat(v: string | undefined): OutputFormat {
  if (v === undefined || v === 'table' || v === 'text') return 'table';
  if (v === 'json') return 'json';
  throw new CliError('USAGE', `--output must be "table" or "json", not ${JSON.stringify(v)} (to write a file, use -o)`);
}

/** A GUN from the command line: non-empty, no `*`, path-clean (spec 1.2). */
export function parseGunArg(g: string): string {
  if (!isValidGun(g)) throw new CliError('USAGE', `invalid GUN ${JSON.stringify(g.slice(0, 300))}: no empty, "." or ".." segments, no "*", whitespace or control characters`);
  return g;
}

export class CommandContext {
  readonly config: CliConfig;
  readonly out: Output;
  readonly passphrases: PassphraseSource;
  private keystoreInstance?: KeyStore;
  private remoteInstance?: Remote;
  readonly cache: MetadataCache;
  readonly now: () => number;

  constructor(opts: GlobalOptions, deps: { out?: Output; passphrases?: PassphraseSource; now?: () => number } = {}) {
    this.out = deps.out ?? new Output(parseFormat(opts.output), opts.debug === true);
    this.config = loadConfig(opts);
    this.passphrases = deps.passphrases ?? makePassphraseSource();
    this.cache = new MetadataCache(this.config.trustDir);
    this.now = deps.now ?? (() => Date.now());
  }

  get keystore(): KeyStore {
    this.keystoreInstance ??= new KeyStore(this.config.trustDir, this.passphrases);
    return this.keystoreInstance;
  }

  get remote(): Remote {
    this.remoteInstance ??= new Remote({
      url: this.config.server,
      caFile: this.config.rootCA,
      clientCertFile: this.config.tlsClientCert,
      clientKeyFile: this.config.tlsClientKey,
      insecureSkipVerify: this.config.skipTLSVerify,
      auth: credentialsFromEnv(),
    });
    return this.remoteInstance;
  }

  get pinning(): TrustPinConfig {
    const p = this.config.trustPinning;
    return { certs: new Map(Object.entries(p.certs)), ca: new Map(Object.entries(p.ca)), disableTofu: p.disableTofu };
  }

  changelist(gun: string): Changelist {
    return new Changelist(this.config.trustDir, gun);
  }

  /** The verified state of a repository (spec 5.6), showing the root fingerprint on first use. */
  async trusted(gun: string, opts: { requireRemote?: boolean } = {}): Promise<TrustedRepo> {
    return updateRepository({
      gun,
      remote: this.remote,
      cache: this.cache,
      pinning: this.pinning,
      now: this.now,
      requireRemote: opts.requireRemote,
      onWarning: (w) => this.out.warn(w),
      // the update itself warns with the root fingerprint on first use
      onFirstUse: (_fingerprint, info) => this.out.debug(`first use of ${info.gun}: canonical root key ${info.canonicalIds.join(', ')}`),
    });
  }

  repo(gun: string): RepoContext {
    return {
      gun,
      trustDir: this.config.trustDir,
      keystore: this.keystore,
      remote: this.remote,
      cache: this.cache,
      changelist: this.changelist(gun),
      out: this.out,
      now: this.now,
      fetchTrusted: async () => {
        const t = await this.trusted(gun, { requireRemote: true });
        return { root: t.root, timestamp: t.timestamp, snapshot: t.snapshot, targets: t.targets, invalid: t.invalid, warnings: [] };
      },
    };
  }

  close(): void {
    this.remoteInstance?.close();
    this.keystoreInstance?.forget();
  }
}
