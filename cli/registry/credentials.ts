/**
 * Registry credentials: `VOUCH_REGISTRY_USER` / `VOUCH_REGISTRY_PASSWORD`, else the `auths` entry
 * for the registry in Docker's config.json (`$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`), which `docker login` writes. Looked up only when a registry asks for
 * credentials, so a broken docker config does not stop anonymous pulls.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RegistryError } from './errors';
import { REGISTRY_LIMITS } from './limits';
import { DOCKER_HUB_DOMAIN } from './reference';

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
  /** where they came from, for messages (never the secret itself) */
  readonly source: string;
}

/** The key `docker login` uses for Docker Hub in config.json. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export const ENV_USER = 'VOUCH_REGISTRY_USER';
export const ENV_PASSWORD = 'VOUCH_REGISTRY_PASSWORD';

/** Docker's ConvertToHostname: strip a scheme and any path from a config.json key. */
function keyHostname(key: string): string {
  let k = key;
  if (k.startsWith('http://')) k = k.slice('http://'.length);
  else if (k.startsWith('https://')) k = k.slice('https://'.length);
  const slash = k.indexOf('/');
  return slash === -1 ? k : k.slice(0, slash);
}

function dockerConfigPath(env: NodeJS.ProcessEnv, homeDir: string): string {
  const dir = env.DOCKER_CONFIG && env.DOCKER_CONFIG.length > 0 ? env.DOCKER_CONFIG : path.join(homeDir, '.docker');
  return path.join(dir, 'config.json');
}

/** Basic auth cannot carry a colon in the user name, nor line breaks anywhere. */
function checked(c: RegistryCredentials): RegistryCredentials {
  if (c.username.includes(':')) throw new RegistryError('CREDENTIALS', `${c.source}: the user name must not contain ':'`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(c.username + c.password)) {
    throw new RegistryError('CREDENTIALS', `${c.source}: user name and password must not contain control characters`);
  }
  return c;
}

function fromAuthEntry(entry: unknown, where: string): RegistryCredentials | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return undefined;
  const e = entry as Record<string, unknown>;
  if (typeof e.auth === 'string' && e.auth.length > 0) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new RegistryError('CREDENTIALS', `${where}: "auth" is not base64 of user:password`);
    return checked({ username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source: where });
  }
  if (typeof e.username === 'string' && e.username.length > 0 && typeof e.password === 'string') {
    return checked({ username: e.username, password: e.password, source: where });
  }
  if (typeof e.identitytoken === 'string' && e.identitytoken.length > 0) {
    throw new RegistryError(
      'CREDENTIALS',
      `${where} holds an identity token, which vouch does not use; set ${ENV_USER} and ${ENV_PASSWORD} instead`,
    );
  }
  return undefined;
}

/** The `auths` entry of a docker config.json for a registry domain, if any. */
export function credentialsFromDockerConfig(domain: string, configPath: string): RegistryCredentials | undefined {
  let text: string;
  try {
    const st = fs.statSync(configPath);
    if (st.size > REGISTRY_LIMITS.maxDockerConfigBytes) {
      throw new RegistryError('CREDENTIALS', `${configPath} is larger than ${REGISTRY_LIMITS.maxDockerConfigBytes} bytes`);
    }
    text = fs.readFileSync(configPath, 'utf8');
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RegistryError('CREDENTIALS', `cannot read ${configPath}: ${(e as Error).message}`, { cause: e });
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new RegistryError('CREDENTIALS', `${configPath} is not valid JSON`, { cause: e });
  }
  if (typeof config !== 'object' || config === null) return undefined;
  const auths = (config as Record<string, unknown>).auths;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) return undefined;
  const entries = auths as Record<string, unknown>;
  const where = (key: string) => `${configPath} (auths ${JSON.stringify(key)})`;
  if (domain === DOCKER_HUB_DOMAIN) {
    // docker login stores Docker Hub under its v1 index URL
    for (const key of [DOCKER_HUB_AUTH_KEY, 'index.docker.io', DOCKER_HUB_DOMAIN]) {
      if (Object.prototype.hasOwnProperty.call(entries, key)) return fromAuthEntry(entries[key], where(key));
    }
    return undefined;
  }
  if (Object.prototype.hasOwnProperty.call(entries, domain)) return fromAuthEntry(entries[domain], where(domain));
  for (const key of Object.keys(entries)) {
    if (keyHostname(key) === domain) return fromAuthEntry(entries[key], where(key));
  }
  return undefined;
}

/**
 * Credentials for a registry domain from the environment: the VOUCH_REGISTRY_* pair wins, then
 * docker's config.json. Undefined means anonymous.
 */
export function credentialsFromEnvironment(
  domain: string,
  env: NodeJS.ProcessEnv = process.env,
  homeDir: string = os.homedir(),
): RegistryCredentials | undefined {
  const user = env[ENV_USER];
  const password = env[ENV_PASSWORD];
  if (user !== undefined && user !== '') {
    if (password === undefined) throw new RegistryError('CREDENTIALS', `${ENV_USER} is set but ${ENV_PASSWORD} is not`);
    return checked({ username: user, password, source: ENV_USER });
  }
  if (password !== undefined && password !== '') {
    throw new RegistryError('CREDENTIALS', `${ENV_PASSWORD} is set but ${ENV_USER} is not`);
  }
  return credentialsFromDockerConfig(domain, dockerConfigPath(env, homeDir));
}
