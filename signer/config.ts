/**
 * vouch-signer's configuration: a JSON file shaped like notary-signer's.
 *
 * ```json
 * {"server": {"grpc_addr": "127.0.0.1:7899", "tls_cert_file": "signer.crt", "tls_key_file": "signer.key",
 *             "client_ca_file": "ca.crt"},
 *  "storage": {"backend": "sqlite", "path": "signer.db", "default_alias": "alias1"},
 *  "logging": {"level": "info"}}
 * ```
 *
 * `storage.backend` is `sqlite` (also `sqlite3`; the file in `path` or `db_url`) or `postgres`
 * (`db_url`). Relative paths are resolved against the config file's folder. Mutual TLS is not
 * optional: `client_ca_file` is required. The default alias may also come from
 * NOTARY_SIGNER_DEFAULT_ALIAS (or VOUCH_SIGNER_DEFAULT_ALIAS). Every problem is reported at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SignerError } from './errors';
import { ALIAS_RE } from './sealing';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export type StorageConfig =
  | { backend: 'sqlite'; path: string; defaultAlias: string }
  | { backend: 'postgres'; url: string; defaultAlias: string };

export interface SignerConfig {
  server: {
    host: string;
    port: number;
    tlsCertFile: string;
    tlsKeyFile: string;
    clientCaFile: string;
  };
  storage: StorageConfig;
  logging: { level: LogLevel };
}

const LEVELS: Record<string, LogLevel> = { debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error', fatal: 'fatal', panic: 'fatal' };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `host:port`, `:port` (all interfaces) or `[v6]:port`. */
export function parseListenAddress(addr: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(addr);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2]);
  return { host, port };
}

export function parseSignerConfig(json: unknown, baseDir: string, env: Record<string, string | undefined> = process.env): SignerConfig {
  const errors: string[] = [];
  const resolve = (p: string) => path.resolve(baseDir, p);
  const known = (obj: Record<string, unknown>, where: string, keys: string[]) => {
    for (const k of Object.keys(obj)) if (!keys.includes(k)) errors.push(`${where}.${k}: unknown setting`);
  };
  const str = (obj: Record<string, unknown>, key: string, where: string, required: boolean): string | undefined => {
    const v = obj[key];
    if (v === undefined) {
      if (required) errors.push(`${where}.${key}: required`);
      return undefined;
    }
    if (typeof v !== 'string' || v.length === 0) {
      errors.push(`${where}.${key}: must be a non-empty string`);
      return undefined;
    }
    return v;
  };
  const file = (obj: Record<string, unknown>, key: string, where: string): string => {
    const v = str(obj, key, where, true);
    if (v === undefined) return '';
    const p = resolve(v);
    try {
      fs.accessSync(p, fs.constants.R_OK);
    } catch {
      errors.push(`${where}.${key}: cannot read ${p}`);
    }
    return p;
  };

  if (!isObject(json)) throw new SignerError('CONFIG', 'invalid signer configuration:\n  - the file must hold a JSON object');
  known(json, 'config', ['server', 'storage', 'logging']);

  const server = isObject(json.server) ? json.server : (errors.push('server: required object'), {});
  known(server, 'server', ['grpc_addr', 'tls_cert_file', 'tls_key_file', 'client_ca_file']);
  const addrText = str(server, 'grpc_addr', 'server', true);
  const addr = addrText === undefined ? null : parseListenAddress(addrText);
  if (addrText !== undefined && addr === null) errors.push(`server.grpc_addr: "${addrText}" is not host:port`);
  const tlsCertFile = file(server, 'tls_cert_file', 'server');
  const tlsKeyFile = file(server, 'tls_key_file', 'server');
  // mutual TLS is what keeps anyone but the server from asking for signatures: never optional
  const clientCaFile = file(server, 'client_ca_file', 'server');

  const storage = isObject(json.storage) ? json.storage : (errors.push('storage: required object'), {});
  known(storage, 'storage', ['backend', 'db_url', 'path', 'default_alias']);
  const backend = str(storage, 'backend', 'storage', false) ?? 'sqlite';
  const aliasFromEnv = env.NOTARY_SIGNER_DEFAULT_ALIAS || env.VOUCH_SIGNER_DEFAULT_ALIAS;
  const defaultAlias = str(storage, 'default_alias', 'storage', false) ?? aliasFromEnv;
  if (defaultAlias === undefined) errors.push('storage.default_alias: required (or set NOTARY_SIGNER_DEFAULT_ALIAS)');
  else if (!ALIAS_RE.test(defaultAlias)) errors.push(`storage.default_alias: "${defaultAlias}" may hold only letters, digits, "_" and "." (at most 64)`);
  let storageConfig: StorageConfig | null = null;
  switch (backend) {
    case 'sqlite':
    case 'sqlite3': {
      const p = str(storage, 'path', 'storage', false) ?? str(storage, 'db_url', 'storage', false);
      if (p === undefined) errors.push('storage.path: required for the sqlite backend (the database file)');
      else storageConfig = { backend: 'sqlite', path: resolve(p), defaultAlias: defaultAlias ?? '' };
      break;
    }
    case 'postgres':
    case 'postgresql': {
      const url = str(storage, 'db_url', 'storage', true);
      if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) errors.push('storage.db_url: must be a postgres:// URL');
      if (storage.path !== undefined) errors.push('storage.path: only for the sqlite backend');
      if (url !== undefined) storageConfig = { backend: 'postgres', url, defaultAlias: defaultAlias ?? '' };
      break;
    }
    default:
      errors.push(`storage.backend: "${backend}" is not supported (sqlite or postgres)`);
  }

  let level: LogLevel = 'info';
  if (json.logging !== undefined) {
    if (!isObject(json.logging)) errors.push('logging: must be an object');
    else {
      known(json.logging, 'logging', ['level']);
      const l = str(json.logging, 'level', 'logging', false);
      if (l !== undefined) {
        const mapped = LEVELS[l.toLowerCase()];
        if (mapped === undefined) errors.push(`logging.level: "${l}" is not one of debug, info, warn, error, fatal`);
        else level = mapped;
      }
    }
  }

  if (errors.length > 0 || addr === null || storageConfig === null) {
    throw new SignerError('CONFIG', `invalid signer configuration:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
  }
  return {
    server: { host: addr.host, port: addr.port, tlsCertFile, tlsKeyFile, clientCaFile },
    storage: storageConfig,
    logging: { level },
  };
}

export function loadSignerConfig(file: string, env: Record<string, string | undefined> = process.env): SignerConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new SignerError('CONFIG', `cannot read the signer configuration ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SignerError('CONFIG', `the signer configuration ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseSignerConfig(json, path.dirname(path.resolve(file)), env);
}
