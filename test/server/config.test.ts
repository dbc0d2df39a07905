/**
 * The server configuration: Notary's keys, every problem listed at once, paths relative to the
 * config file, HTTPS unless plain HTTP is asked for, overrides by flag and environment.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig, parseConfig, redactConfig } from '../../server/config';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-config-'));
  for (const f of ['server.crt', 'server.key', 'ca.crt', 'bundle.pem']) fs.writeFileSync(path.join(dir, f), 'x');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const good = () => ({
  server: { http_addr: '127.0.0.1:4443', tls_cert_file: 'server.crt', tls_key_file: 'server.key' },
  trust_service: { type: 'remote', hostname: 'signer', port: '7899', tls_ca_file: 'ca.crt', tls_client_cert: 'server.crt', tls_client_key: 'server.key', key_algorithm: 'ecdsa' },
  storage: { backend: 'postgres', db_url: 'postgres://server:secret@127.0.0.1:5432/notary?sslmode=disable' },
  auth: { type: 'token', options: { realm: 'https://auth/token', service: 'svc', issuer: 'iss', rootcertbundle: 'bundle.pem' } },
  caching: { max_age: { current_metadata: 60, consistent_metadata: 0 } },
  repositories: { gun_prefixes: ['docker.io/'] },
  logging: { level: 'debug' },
});

function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, dir);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('server configuration', () => {
  it('reads a Notary-style configuration, resolving paths against the config directory', () => {
    const cfg = parseConfig(good(), dir);
    expect(cfg.server).toEqual({ host: '127.0.0.1', port: 4443, tls: { certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') } });
    expect(cfg.trustService).toEqual({
      type: 'remote',
      hostname: 'signer',
      port: 7899,
      tlsCaFile: path.join(dir, 'ca.crt'),
      tlsClientCert: path.join(dir, 'server.crt'),
      tlsClientKey: path.join(dir, 'server.key'),
      keyAlgorithm: 'ecdsa',
    });
    expect(cfg.storage).toEqual({ backend: 'postgres', url: 'postgres://server:secret@127.0.0.1:5432/notary?sslmode=disable' });
    expect(cfg.auth).toMatchObject({ type: 'token', realm: 'https://auth/token', service: 'svc', issuer: 'iss', rootCertBundleFile: path.join(dir, 'bundle.pem'), autoRedirect: false });
    expect(cfg.caching).toEqual({ currentMaxAge: 60, consistentMaxAge: 0, strictReads: true });
    expect(cfg.gunPrefixes).toEqual(['docker.io/']);
    expect(cfg.logging.level).toBe('debug');
  });

  it('reads the fixture config of the real notary-server', () => {
    const raw = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../shared/fixtures/notary-0.7/config/server-config.json'), 'utf8'));
    const cfg = parseConfig(raw, path.resolve(__dirname, '../../../shared/fixtures/notary-0.7/config'));
    expect(cfg.storage.backend).toBe('postgres');
    expect(cfg.trustService.type).toBe('remote');
  });

  it('lists every problem at once', () => {
    const raw = {
      server: { http_addr: 'nonsense' },
      trust_service: { type: 'remote', port: 'x', key_algorithm: 'rsa' },
      storage: { backend: 'mysql' },
      auth: { type: 'htpasswd' },
      caching: { max_age: { current_metadata: -1 } },
      repositories: { gun_prefixes: ['docker.io'] },
      logging: { level: 'loud' },
    };
    const p = problems(raw);
    const expected = [
      /server\.http_addr: "nonsense" is not host:port/,
      /HTTPS is the default/,
      /trust_service\.hostname: required/,
      /trust_service\.port/,
      /trust_service\.tls_ca_file: required/,
      /trust_service\.key_algorithm: "rsa"/,
      /storage\.backend: "mysql"/,
      /auth\.type: "htpasswd" is not supported/,
      /caching\.max_age\.current_metadata/,
      /gun_prefixes: "docker.io" must be a string ending in "\/"/,
      /logging\.level: "loud"/,
    ];
    for (const re of expected) expect(p.some((x) => re.test(x))).toBe(true);
    expect(p.length).toBeGreaterThanOrEqual(expected.length);
  });

  it('refuses plain HTTP unless asked for explicitly', () => {
    const raw = { ...good(), server: { http_addr: '127.0.0.1:0' } };
    expect(problems(raw).join('\n')).toMatch(/HTTPS is the default/);
    const plain = parseConfig({ ...good(), server: { http_addr: '127.0.0.1:0', insecure_plain_http: true } }, dir);
    expect(plain.server.tls).toBeNull();
  });

  it('names TLS files that cannot be read', () => {
    const raw = { ...good(), server: { http_addr: ':4443', tls_cert_file: 'missing.crt', tls_key_file: 'server.key' } };
    expect(problems(raw)).toEqual([`server.tls_cert_file: cannot read ${path.join(dir, 'missing.crt')}`]);
  });

  it('listens on all interfaces for ":port", as Go does', () => {
    expect(parseConfig({ ...good(), server: { ...good().server, http_addr: ':4443' } }, dir).server.host).toBe('0.0.0.0');
    expect(parseConfig({ ...good(), server: { ...good().server, http_addr: '[::1]:4443' } }, dir).server.host).toBe('::1');
  });

  it('takes local trust and sqlite storage', () => {
    const cfg = parseConfig({ ...good(), trust_service: { type: 'local' }, storage: { backend: 'sqlite', path: 'db/server.db' } }, dir);
    expect(cfg.trustService).toEqual({ type: 'local' });
    expect(cfg.storage).toEqual({ backend: 'sqlite', path: path.join(dir, 'db/server.db') });
    // one process per SQLite file: change notifications suffice
    expect(cfg.caching.strictReads).toBe(false);
    expect(parseConfig({ ...good(), storage: { backend: 'sqlite', path: 'x.db' }, caching: { strict_reads: true } }, dir).caching.strictReads).toBe(true);
  });

  it('applies --port and --data over the file, and the environment when no flag is given', () => {
    const file = path.join(dir, 'server.json');
    fs.writeFileSync(file, JSON.stringify(good()));
    const flags = loadConfig(file, { port: 5555, data: path.join(dir, 'data') }, { VOUCH_SERVER_PORT: '6666' });
    expect(flags.server.port).toBe(5555);
    expect(flags.storage).toEqual({ backend: 'sqlite', path: path.join(dir, 'data', 'server.db') });
    const env = loadConfig(file, {}, { VOUCH_SERVER_PORT: '6666', VOUCH_SERVER_DATA: path.join(dir, 'd2') });
    expect(env.server.port).toBe(6666);
    expect(env.storage).toEqual({ backend: 'sqlite', path: path.join(dir, 'd2', 'server.db') });
    expect(() => loadConfig(file, {}, { VOUCH_SERVER_PORT: 'eighty' })).toThrow(/VOUCH_SERVER_PORT/);
  });

  it('explains an unreadable or non-JSON file', () => {
    expect(() => loadConfig(path.join(dir, 'nope.json'))).toThrow(/cannot read the configuration file \(ENOENT\)/);
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{"server":');
    expect(() => loadConfig(bad)).toThrow(/not JSON/);
  });

  it('masks the database password when the config is logged', () => {
    const shown = JSON.stringify(redactConfig(parseConfig(good(), dir)));
    expect(shown).not.toContain('secret');
    expect(shown).toContain('postgres://server:***@127.0.0.1:5432/notary');
  });
});
