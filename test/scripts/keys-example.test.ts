/**
 * keys.example/: every example config passes the real loaders (server/config.ts,
 * signer/config.ts), and the committed TLS material is the throwaway dev PKI it says it is.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../server/config';
import { loadSignerConfig } from '../../signer/config';
import { DEV_TLS, EXAMPLES, productionLayout, ROOT } from './examples';

/** no VOUCH_SERVER_PORT / VOUCH_SERVER_DATA / NOTARY_SIGNER_DEFAULT_ALIAS from the test's own environment */
const NO_ENV = {};

function jsonFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return jsonFiles(p);
    return e.name.endsWith('.json') ? [p] : [];
  });
}

describe('keys.example', () => {
  let prod: ReturnType<typeof productionLayout>;
  beforeAll(() => {
    prod = productionLayout();
  });
  afterAll(() => fs.rmSync(prod.dir, { recursive: true, force: true }));

  it('holds exactly the example configs this test validates', () => {
    expect(jsonFiles(EXAMPLES).map((f) => path.relative(EXAMPLES, f)).sort()).toEqual(['dev/server.json', 'dev/signer.json', 'production/server.json', 'production/signer.json']);
  });

  it('dev/server.json: HTTPS with the dev certificates, remote signer over mutual TLS, SQLite', () => {
    const cfg = loadConfig(path.join(EXAMPLES, 'dev/server.json'), {}, NO_ENV);
    expect(cfg.server).toEqual({ host: '127.0.0.1', port: 4443, tls: { certFile: path.join(DEV_TLS, 'server.crt'), keyFile: path.join(DEV_TLS, 'server.key') } });
    expect(cfg.trustService).toMatchObject({ type: 'remote', hostname: 'localhost', port: 7899, tlsCaFile: path.join(DEV_TLS, 'ca.crt'), keyAlgorithm: 'ecdsa' });
    expect(cfg.storage).toEqual({ backend: 'sqlite', path: path.join(ROOT, 'data/by-hand/server.db') });
    expect(cfg.auth).toBeNull();
  });

  it('dev/signer.json: mutual TLS with the dev CA, SQLite, alias "dev"', () => {
    const cfg = loadSignerConfig(path.join(EXAMPLES, 'dev/signer.json'), NO_ENV);
    expect(cfg.server).toMatchObject({ host: '127.0.0.1', port: 7899, clientCaFile: path.join(DEV_TLS, 'ca.crt') });
    expect(cfg.storage).toEqual({ backend: 'sqlite', path: path.join(ROOT, 'data/by-hand/signer.db'), defaultAlias: 'dev' });
  });

  it('the dev server and signer configs point at each other', () => {
    const server = loadConfig(path.join(EXAMPLES, 'dev/server.json'), {}, NO_ENV);
    const signer = loadSignerConfig(path.join(EXAMPLES, 'dev/signer.json'), NO_ENV);
    expect(server.trustService.type === 'remote' && server.trustService.port).toBe(signer.server.port);
  });

  it('production/server.json: TLS, remote signer, PostgreSQL, token auth against the registry auth server', () => {
    const cfg = loadConfig(prod.server, {}, NO_ENV);
    expect(cfg.server.host).toBe('0.0.0.0');
    expect(cfg.server.tls?.certFile).toBe(path.join(prod.dir, 'tls/server.crt'));
    expect(cfg.trustService).toMatchObject({ type: 'remote', hostname: 'vouch-signer.internal.example.com', port: 7899, tlsClientCert: path.join(prod.dir, 'tls/server-client.crt') });
    expect(cfg.storage.backend).toBe('postgres');
    // no password in the file
    expect(cfg.storage.backend === 'postgres' && cfg.storage.url).toMatch(/^postgres:\/\/vouch_server@[^:]+:5432\/vouch_server\?sslmode=verify-full$/);
    expect(cfg.auth).toEqual({
      type: 'token',
      realm: 'https://auth.registry.example.com/token',
      service: 'registry.example.com',
      issuer: 'registry-token-issuer',
      rootCertBundleFile: path.join(prod.dir, 'tls/registry-token-signer.pem'),
      autoRedirect: false,
    });
    expect(cfg.gunPrefixes).toEqual(['registry.example.com/']);
  });

  it('production/signer.json: mutual TLS, PostgreSQL, an alias whose passphrase comes from the environment', () => {
    const cfg = loadSignerConfig(prod.signer, NO_ENV);
    expect(cfg.server).toMatchObject({ host: '0.0.0.0', port: 7899, clientCaFile: path.join(prod.dir, 'tls/internal-ca.crt') });
    expect(cfg.storage).toMatchObject({ backend: 'postgres', defaultAlias: 'prod_2025' });
    expect(JSON.stringify(JSON.parse(fs.readFileSync(prod.signer, 'utf8')))).not.toMatch(/passphrase|password/i);
  });

  it('the production examples fail loudly without their certificate files (nothing is silently optional)', () => {
    expect(() => loadConfig(path.join(EXAMPLES, 'production/server.json'), {}, NO_ENV)).toThrow(/server\.tls_cert_file: cannot read/);
    expect(() => loadSignerConfig(path.join(EXAMPLES, 'production/signer.json'), NO_ENV)).toThrow(/server\.client_ca_file: cannot read/);
  });

  it('dev-tls is the throwaway dev PKI: labelled so, localhost only, and its leaves chain to its CA', () => {
    expect(fs.readFileSync(path.join(EXAMPLES, 'README.md'), 'utf8')).toMatch(/THROWAWAY/);
    expect(fs.readFileSync(path.join(DEV_TLS, 'README.md'), 'utf8')).toMatch(/THROWAWAY/);
    const ca = new crypto.X509Certificate(fs.readFileSync(path.join(DEV_TLS, 'ca.crt')));
    expect(ca.subject).toMatch(/throwaway/);
    for (const leaf of ['server', 'signer', 'client']) {
      const cert = new crypto.X509Certificate(fs.readFileSync(path.join(DEV_TLS, `${leaf}.crt`)));
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
      // each key file holds the private key of its certificate
      const key = crypto.createPrivateKey(fs.readFileSync(path.join(DEV_TLS, `${leaf}.key`)));
      expect(cert.checkPrivateKey(key)).toBe(true);
    }
  });
});
