/**
 * The server's configuration: one JSON file with Notary's keys (so a notary-server config
 * mostly works as it is), validated at start with every problem listed at once. Relative paths
 * are resolved against the config file's directory, as Notary does. Overrides, strongest first:
 * command-line flags (`--port`, `--data`), then VOUCH_SERVER_PORT / VOUCH_SERVER_DATA.
 *
 * HTTPS by default: plain HTTP needs `server.insecure_plain_http: true` (development only).
 *
 *   {
 *     "server": {"http_addr": "127.0.0.1:4443", "tls_cert_file": "server.crt", "tls_key_file": "server.key"},
 *     "trust_service": {"type": "remote", "hostname": "127.0.0.1", "port": "7899", "tls_ca_file": "ca.crt",
 *                       "tls_client_cert": "server.crt", "tls_client_key": "server.key", "key_algorithm": "ecdsa"},
 *     "storage": {"backend": "sqlite", "path": "server.db"},        or {"backend": "postgres", "db_url": "postgres://..."}
 *     "auth": {"type": "token", "options": {"realm": "...", "service": "...", "issuer": "...", "rootcertbundle": "ca.pem"}},
 *     "caching": {"max_age": {"current_metadata": 300, "consistent_metadata": 2592000}, "strict_reads": true},
 *     "repositories": {"gun_prefixes": ["docker.io/"]},
 *     "logging": {"level": "info"}
 *   }
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KeyAlgorithm } from '../signer/api';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export type TrustServiceConfig =
  | { type: 'local' }
  | {
      type: 'remote';
      hostname: string;
      port: number;
      tlsCaFile: string;
      tlsClientCert: string;
      tlsClientKey: string;
      keyAlgorithm: KeyAlgorithm;
    };

export type StorageConfig = { backend: 'sqlite'; path: string } | { backend: 'postgres'; url: string };

export interface AuthConfig {
  type: 'token';
  realm: string;
  service: string;
  issuer: string;
  rootCertBundleFile: string;
  autoRedirect: boolean;
}

export interface ServerConfig {
  /** the file it came from (absent for configs built in code) */
  file?: string;
  server: {
    host: string;
    port: number;
    /** null: plain HTTP (only with insecure_plain_http) */
    tls: { certFile: string; keyFile: string; clientCaFile?: string } | null;
  };
  trustService: TrustServiceConfig;
  storage: StorageConfig;
  auth: AuthConfig | null;
  caching: {
    currentMaxAge: number;
    consistentMaxAge: number;
    /**
     * Before answering from memory, look at the changefeed for changes made by other processes,
     * so a read right after a publish through another process never sees the old copy.
     * Default: on for postgres (made for several processes), off for sqlite (one process).
     */
    strictReads: boolean;
  };
  gunPrefixes: string[];
  logging: { level: LogLevel };
}

export interface ConfigOverrides {
  port?: number;
  /** data directory: SQLite storage at <data>/server.db */
  data?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[], file?: string) {
    super(`invalid configuration${file ? ` in ${file}` : ''}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent', 'panic'];
const MAX_AGE_LIMIT = 31_536_000;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** host:port, [v6]:port or :port (all interfaces, as Go reads it). */
function parseAddr(addr: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Build and check a config from parsed JSON. `baseDir` resolves relative paths. */
export function parseConfig(raw: unknown, baseDir: string, overrides: ConfigOverrides = {}, file?: string): ServerConfig {
  const problems: string[] = [];
  const root: Obj = isObj(raw) ? raw : (problems.push('the configuration must be a JSON object'), {});
  const section = (name: string, required: boolean): Obj => {
    const v = root[name];
    if (v === undefined) {
      if (required) problems.push(`${name}: section is required`);
      return {};
    }
    if (!isObj(v)) {
      problems.push(`${name}: must be an object`);
      return {};
    }
    return v;
  };
  const str = (o: Obj, where: string, key: string, required: boolean): string | undefined => {
    const v = o[key];
    if (v === undefined || v === '') {
      if (required) problems.push(`${where}.${key}: required`);
      return undefined;
    }
    if (typeof v !== 'string') {
      problems.push(`${where}.${key}: must be a string`);
      return undefined;
    }
    return v;
  };
  const file_ = (o: Obj, where: string, key: string, required: boolean): string | undefined => {
    const v = str(o, where, key, required);
    if (v === undefined) return undefined;
    const p = path.resolve(baseDir, v);
    try {
      fs.accessSync(p, fs.constants.R_OK);
    } catch {
      problems.push(`${where}.${key}: cannot read ${p}`);
    }
    return p;
  };

  // server
  const s = section('server', true);
  const addrStr = str(s, 'server', 'http_addr', overrides.port === undefined) ?? `127.0.0.1:${overrides.port ?? 4443}`;
  let addr = parseAddr(addrStr);
  if (!addr) {
    problems.push(`server.http_addr: ${JSON.stringify(addrStr)} is not host:port`);
    addr = { host: '127.0.0.1', port: 0 };
  }
  if (overrides.port !== undefined) {
    if (!Number.isInteger(overrides.port) || overrides.port < 0 || overrides.port > 65535) problems.push(`port override ${overrides.port} is not a port`);
    addr.port = overrides.port;
  }
  const insecure = s.insecure_plain_http;
  if (insecure !== undefined && typeof insecure !== 'boolean') problems.push('server.insecure_plain_http: must be true or false');
  let tls: ServerConfig['server']['tls'] = null;
  const hasCert = s.tls_cert_file !== undefined || s.tls_key_file !== undefined;
  if (hasCert || insecure !== true) {
    if (!hasCert) {
      problems.push('server.tls_cert_file and server.tls_key_file: required (HTTPS is the default; set server.insecure_plain_http: true for plain HTTP in development)');
    } else {
      const certFile = file_(s, 'server', 'tls_cert_file', true);
      const keyFile = file_(s, 'server', 'tls_key_file', true);
      const clientCaFile = file_(s, 'server', 'client_ca_file', false);
      if (certFile && keyFile) tls = { certFile, keyFile, ...(clientCaFile ? { clientCaFile } : {}) };
    }
  }

  // trust_service
  const t = section('trust_service', true);
  let trustService: TrustServiceConfig = { type: 'local' };
  const ttype = str(t, 'trust_service', 'type', true);
  if (ttype === 'local') {
    trustService = { type: 'local' };
  } else if (ttype === 'remote') {
    const hostname = str(t, 'trust_service', 'hostname', true) ?? '';
    const portRaw = t.port;
    const port = typeof portRaw === 'number' ? portRaw : typeof portRaw === 'string' && /^\d{1,5}$/.test(portRaw) ? Number(portRaw) : NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push('trust_service.port: required, a port number (string or number)');
    const tlsCaFile = file_(t, 'trust_service', 'tls_ca_file', true) ?? '';
    const tlsClientCert = file_(t, 'trust_service', 'tls_client_cert', true) ?? '';
    const tlsClientKey = file_(t, 'trust_service', 'tls_client_key', true) ?? '';
    const algo = str(t, 'trust_service', 'key_algorithm', false) ?? 'ecdsa';
    if (algo !== 'ecdsa' && algo !== 'ed25519') problems.push(`trust_service.key_algorithm: ${JSON.stringify(algo)} is not ecdsa or ed25519 (the signer creates no other keys)`);
    trustService = { type: 'remote', hostname, port, tlsCaFile, tlsClientCert, tlsClientKey, keyAlgorithm: algo === 'ed25519' ? 'ed25519' : 'ecdsa' };
  } else if (ttype !== undefined) {
    problems.push(`trust_service.type: ${JSON.stringify(ttype)} is not local or remote`);
  }

  // storage
  let storage: StorageConfig = { backend: 'sqlite', path: '' };
  const st = section('storage', overrides.data === undefined);
  if (overrides.data !== undefined) {
    storage = { backend: 'sqlite', path: path.join(path.resolve(overrides.data), 'server.db') };
  } else {
    const backend = str(st, 'storage', 'backend', true);
    if (backend === 'sqlite' || backend === 'sqlite3') {
      const p = str(st, 'storage', 'path', false) ?? str(st, 'storage', 'db_url', false);
      if (!p) problems.push('storage.path: required for the sqlite backend');
      else storage = { backend: 'sqlite', path: path.resolve(baseDir, p) };
    } else if (backend === 'postgres') {
      const url = str(st, 'storage', 'db_url', false) ?? str(st, 'storage', 'url', false);
      if (!url) problems.push('storage.db_url: required for the postgres backend');
      else if (!/^postgres(ql)?:\/\//.test(url)) problems.push('storage.db_url: must be a postgres:// URL');
      else storage = { backend: 'postgres', url };
    } else if (backend !== undefined) {
      problems.push(`storage.backend: ${JSON.stringify(backend)} is not sqlite or postgres`);
    }
  }

  // auth: a typo must not silently turn authentication off, so unknown types are errors
  let auth: AuthConfig | null = null;
  if (root.auth !== undefined && root.auth !== null) {
    const a = section('auth', false);
    const atype = str(a, 'auth', 'type', true);
    if (atype === 'token') {
      const o = isObj(a.options) ? a.options : (problems.push('auth.options: required for token auth'), {});
      const realm = str(o, 'auth.options', 'realm', true) ?? '';
      const service = str(o, 'auth.options', 'service', true) ?? '';
      const issuer = str(o, 'auth.options', 'issuer', true) ?? '';
      const rootCertBundleFile = file_(o, 'auth.options', 'rootcertbundle', true) ?? '';
      const ar = o.autoredirect;
      if (ar !== undefined && typeof ar !== 'boolean') problems.push('auth.options.autoredirect: must be true or false');
      auth = { type: 'token', realm, service, issuer, rootCertBundleFile, autoRedirect: ar === true };
    } else if (atype !== undefined) {
      problems.push(`auth.type: ${JSON.stringify(atype)} is not supported (only "token"; leave auth out for no authentication)`);
    }
  }

  // caching
  const caching = { currentMaxAge: 300, consistentMaxAge: 2_592_000, strictReads: storage.backend === 'postgres' };
  const c = section('caching', false);
  if (c.strict_reads !== undefined) {
    if (typeof c.strict_reads !== 'boolean') problems.push('caching.strict_reads: must be true or false');
    else caching.strictReads = c.strict_reads;
  }
  if (c.max_age !== undefined) {
    if (!isObj(c.max_age)) problems.push('caching.max_age: must be an object');
    else {
      for (const [key, field] of [
        ['current_metadata', 'currentMaxAge'],
        ['consistent_metadata', 'consistentMaxAge'],
      ] as const) {
        const v = c.max_age[key];
        if (v === undefined) continue;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_AGE_LIMIT) problems.push(`caching.max_age.${key}: an integer 0..${MAX_AGE_LIMIT}`);
        else caching[field] = v;
      }
    }
  }

  // repositories
  const gunPrefixes: string[] = [];
  const r = section('repositories', false);
  if (r.gun_prefixes !== undefined) {
    if (!Array.isArray(r.gun_prefixes)) problems.push('repositories.gun_prefixes: must be a list of strings');
    else {
      for (const p of r.gun_prefixes) {
        if (typeof p !== 'string' || p.length === 0 || !p.endsWith('/')) problems.push(`repositories.gun_prefixes: ${JSON.stringify(p)} must be a string ending in "/"`);
        else gunPrefixes.push(p);
      }
    }
  }

  // logging
  const l = section('logging', false);
  const levelRaw = str(l, 'logging', 'level', false) ?? 'info';
  if (!LEVELS.includes(levelRaw)) problems.push(`logging.level: ${JSON.stringify(levelRaw)} is not one of ${LEVELS.join(', ')}`);
  const level = (levelRaw === 'panic' ? 'fatal' : LEVELS.includes(levelRaw) ? levelRaw : 'info') as LogLevel;

  if (problems.length > 0) throw new ConfigError(problems, file);
  return {
    ...(file ? { file } : {}),
    server: { host: addr.host, port: addr.port, tls },
    trustService,
    storage,
    auth,
    caching,
    gunPrefixes,
    logging: { level },
  };
}

/** Read, parse and check a config file, applying flag and environment overrides. */
export function loadConfig(file: string, flags: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    throw new ConfigError([`cannot read the configuration file (${(e as NodeJS.ErrnoException).code ?? 'error'})`], abs);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`not JSON: ${(e as Error).message}`], abs);
  }
  const overrides: ConfigOverrides = {};
  const envPort = env.VOUCH_SERVER_PORT;
  const problems: string[] = [];
  if (flags.port !== undefined) overrides.port = flags.port;
  else if (envPort !== undefined && envPort !== '') {
    if (!/^\d{1,5}$/.test(envPort)) problems.push(`VOUCH_SERVER_PORT: ${JSON.stringify(envPort)} is not a port`);
    else overrides.port = Number(envPort);
  }
  if (flags.data !== undefined) overrides.data = flags.data;
  else if (env.VOUCH_SERVER_DATA) overrides.data = env.VOUCH_SERVER_DATA;
  if (problems.length > 0) throw new ConfigError(problems, abs);
  return parseConfig(raw, path.dirname(abs), overrides, abs);
}

/** The config with secrets (database passwords) masked, for logs. */
export function redactConfig(cfg: ServerConfig): unknown {
  const storage = cfg.storage.backend === 'postgres' ? { backend: 'postgres', url: cfg.storage.url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@') } : cfg.storage;
  return { ...cfg, storage };
}
