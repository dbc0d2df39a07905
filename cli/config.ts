/**
 * The CLI's settings: notary's config.json (spec 5.2) plus command-line flags, which win.
 *
 * Keys are matched case-insensitively, as viper does. `root_ca`, `tls_client_cert` and
 * `tls_client_key` in the file are relative to the file's directory; paths given as flags and
 * `trust_pinning.ca` bundles are relative to the working directory; `~` is expanded everywhere.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliError } from './output';

export const DEFAULT_SERVER = 'https://notary-server:4443';
export const DEFAULT_TRUST_DIR = '~/.notary';
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface TrustPinningConfig {
  /** GUN (or `prefix*`) -> TUF key IDs of trusted root certificates */
  certs: Record<string, string[]>;
  /** GUN prefix -> CA bundle file (absolute) */
  ca: Record<string, string>;
  disableTofu: boolean;
}

export interface CliConfig {
  trustDir: string;
  server: string;
  /** CA bundle that replaces the system roots for the server's TLS */
  rootCA?: string;
  tlsClientCert?: string;
  tlsClientKey?: string;
  skipTLSVerify: boolean;
  trustPinning: TrustPinningConfig;
  /** the config file read, if any */
  configFile?: string;
}

export interface ConfigFlags {
  server?: string;
  trustDir?: string;
  configFile?: string;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
}

export interface ConfigContext {
  env?: Record<string, string | undefined>;
  cwd?: string;
  home?: string;
}

export function expandHome(p: string, home: string): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return p;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A member looked up case-insensitively (viper lower-cases every key). */
function member(o: Obj | undefined, name: string): unknown {
  if (!o) return undefined;
  const want = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === want) return o[k];
  return undefined;
}

function str(o: Obj | undefined, name: string, where: string): string | undefined {
  const v = member(o, name);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new CliError('USAGE', `config ${where}${name} must be a string`);
  return v;
}

function bool(o: Obj | undefined, name: string, where: string): boolean {
  const v = member(o, name);
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new CliError('USAGE', `config ${where}${name} must be true or false`);
}

function readConfigFile(file: string): Obj {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (st.size > MAX_CONFIG_BYTES) throw new CliError('USAGE', `config file ${file} is too large`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError('USAGE', `cannot read config file ${file}: ${(e as Error).message}`, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CliError('USAGE', `config file ${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isObj(v)) throw new CliError('USAGE', `config file ${file} must hold a JSON object`);
  return v;
}

/**
 * Settings for one command. The config file is `-c`, else `<trust dir>/config.json` when it
 * exists (the trust dir being `-d` or the default).
 */
export function loadConfig(flags: ConfigFlags, ctx: ConfigContext = {}): CliConfig {
  const env = ctx.env ?? process.env;
  const cwd = ctx.cwd ?? process.cwd();
  const home = ctx.home ?? (env.HOME || os.homedir());
  const abs = (p: string, base: string) => path.resolve(base, expandHome(p, home));

  const flagTrustDir = flags.trustDir ?? env.VOUCH_TRUST_DIR;
  let configFile: string | undefined;
  if (flags.configFile) configFile = abs(flags.configFile, cwd);
  else {
    const candidate = path.join(abs(flagTrustDir ?? DEFAULT_TRUST_DIR, cwd), 'config.json');
    if (fs.existsSync(candidate)) configFile = candidate;
  }
  const file = configFile ? readConfigFile(configFile) : {};
  const fileDir = configFile ? path.dirname(configFile) : cwd;

  const remote = member(file, 'remote_server');
  if (remote !== undefined && !isObj(remote)) throw new CliError('USAGE', 'config remote_server must be an object');
  const r = remote as Obj | undefined;

  const trustDir = flagTrustDir ? abs(flagTrustDir, cwd) : abs(str(file, 'trust_dir', '') ?? DEFAULT_TRUST_DIR, cwd);
  const server = flags.server ?? env.VOUCH_SERVER ?? str(r, 'url', 'remote_server.') ?? DEFAULT_SERVER;
  if (!/^https?:\/\/[^/]/i.test(server)) throw new CliError('USAGE', `server URL must start with https:// or http://, got ${JSON.stringify(server)}`);

  const fromFile = (name: string) => {
    const v = str(r, name, 'remote_server.');
    return v ? abs(v, fileDir) : undefined;
  };
  const rootCA = flags.tlscacert ? abs(flags.tlscacert, cwd) : fromFile('root_ca');
  const tlsClientCert = flags.tlscert ? abs(flags.tlscert, cwd) : fromFile('tls_client_cert');
  const tlsClientKey = flags.tlskey ? abs(flags.tlskey, cwd) : fromFile('tls_client_key');
  if ((tlsClientCert === undefined) !== (tlsClientKey === undefined)) {
    throw new CliError('USAGE', 'a TLS client certificate and its key must be given together');
  }

  const pinning = member(file, 'trust_pinning');
  if (pinning !== undefined && !isObj(pinning)) throw new CliError('USAGE', 'config trust_pinning must be an object');
  const p = pinning as Obj | undefined;
  const certs: Record<string, string[]> = {};
  const certsRaw = member(p, 'certs');
  if (certsRaw !== undefined) {
    if (!isObj(certsRaw)) throw new CliError('USAGE', 'config trust_pinning.certs must map GUNs to key ID lists');
    for (const [gun, raw] of Object.entries(certsRaw)) {
      // viper reads a lone string as a one-element list
      const ids = typeof raw === 'string' ? [raw] : raw;
      if (!Array.isArray(ids) || ids.some((i) => typeof i !== 'string' || !/^[0-9a-f]{64}$/.test(i))) {
        throw new CliError('USAGE', `config trust_pinning.certs[${JSON.stringify(gun)}] must be a list of 64-hex key IDs`);
      }
      certs[gun] = ids as string[];
    }
  }
  const ca: Record<string, string> = {};
  const caRaw = member(p, 'ca');
  if (caRaw !== undefined) {
    if (!isObj(caRaw)) throw new CliError('USAGE', 'config trust_pinning.ca must map GUN prefixes to CA files');
    for (const [prefix, f] of Object.entries(caRaw)) {
      if (typeof f !== 'string' || f === '') throw new CliError('USAGE', `config trust_pinning.ca[${JSON.stringify(prefix)}] must be a file path`);
      ca[prefix] = abs(f, cwd);
    }
  }

  const cfg: CliConfig = {
    trustDir,
    server: server.replace(/\/+$/, ''),
    skipTLSVerify: bool(r, 'skipTLSVerify', 'remote_server.'),
    trustPinning: { certs, ca, disableTofu: bool(p, 'disable_tofu', 'trust_pinning.') },
  };
  if (rootCA) cfg.rootCA = rootCA;
  if (tlsClientCert) cfg.tlsClientCert = tlsClientCert;
  if (tlsClientKey) cfg.tlsClientKey = tlsClientKey;
  if (configFile) cfg.configFile = configFile;
  return cfg;
}
