/**
 * Settings: notary's config.json fields (spec 5.2), case-insensitive like viper, paths resolved
 * where notary resolves them, flags over file over defaults.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SERVER, loadConfig } from '../../cli/config';
import { CliError } from '../../cli/output';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-config-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const ctx = (extra: Record<string, string> = {}) => ({ env: { ...extra }, cwd: dir, home: path.join(dir, 'home') });

it('defaults to ~/.notary and the notary-server URL', () => {
  const c = loadConfig({}, ctx());
  expect(c.trustDir).toBe(path.join(dir, 'home/.notary'));
  expect(c.server).toBe(DEFAULT_SERVER);
  expect(c.trustPinning).toEqual({ certs: {}, ca: {}, disableTofu: false });
  expect(c.configFile).toBeUndefined();
});

it('reads every notary config field, case-insensitively, resolving TLS files against the file', () => {
  const cfgDir = path.join(dir, 'cfg');
  fs.mkdirSync(cfgDir, { recursive: true });
  const id = 'a'.repeat(64);
  fs.writeFileSync(
    path.join(cfgDir, 'config.json'),
    JSON.stringify({
      Trust_Dir: '~/trust',
      remote_server: { URL: 'https://notary.example.com:4443/', root_ca: 'root-ca.crt', tls_client_cert: 'c.crt', TLS_CLIENT_KEY: '/abs/c.key', skipTLSVerify: true },
      trust_pinning: { certs: { 'docker.io/library/alpine': [id] }, ca: { 'docker.io/myorg/': 'ca-bundle.pem' }, disable_tofu: true },
    }),
  );
  const c = loadConfig({ configFile: 'cfg/config.json' }, ctx());
  expect(c.configFile).toBe(path.join(cfgDir, 'config.json'));
  expect(c.trustDir).toBe(path.join(dir, 'home/trust'));
  expect(c.server).toBe('https://notary.example.com:4443');
  expect(c.rootCA).toBe(path.join(cfgDir, 'root-ca.crt'));
  expect(c.tlsClientCert).toBe(path.join(cfgDir, 'c.crt'));
  expect(c.tlsClientKey).toBe('/abs/c.key');
  expect(c.skipTLSVerify).toBe(true);
  expect(c.trustPinning.certs).toEqual({ 'docker.io/library/alpine': [id] });
  // trust_pinning.ca is relative to the working directory, as notary uses it
  expect(c.trustPinning.ca).toEqual({ 'docker.io/myorg/': path.join(dir, 'ca-bundle.pem') });
  expect(c.trustPinning.disableTofu).toBe(true);

  // flags win over the file
  const f = loadConfig({ configFile: 'cfg/config.json', server: 'http://127.0.0.1:1', trustDir: 'td', tlscacert: 'x.crt' }, ctx());
  expect(f.server).toBe('http://127.0.0.1:1');
  expect(f.trustDir).toBe(path.join(dir, 'td'));
  expect(f.rootCA).toBe(path.join(dir, 'x.crt'));
});

it('finds <trust dir>/config.json without -c', () => {
  const td = path.join(dir, 'td2');
  fs.mkdirSync(td, { recursive: true });
  fs.writeFileSync(path.join(td, 'config.json'), '{"remote_server":{"url":"https://from-trust-dir:4443"}}');
  expect(loadConfig({ trustDir: td }, ctx()).server).toBe('https://from-trust-dir:4443');
});

it('refuses broken configs with usage errors', () => {
  const bad = (content: string) => {
    const f = path.join(dir, `bad-${Math.random()}.json`);
    fs.writeFileSync(f, content);
    return () => loadConfig({ configFile: f }, ctx());
  };
  expect(bad('{not json')).toThrow(CliError);
  expect(bad('[]')).toThrow(/JSON object/);
  expect(bad('{"remote_server":{"tls_client_cert":"c.crt"}}')).toThrow(/together/);
  expect(bad('{"trust_pinning":{"certs":{"g":["short"]}}}')).toThrow(/64-hex/);
  expect(bad('{"remote_server":{"url":"ftp://x"}}')).toThrow(/https/);
  expect(() => loadConfig({ configFile: path.join(dir, 'missing.json') }, ctx())).toThrow(/cannot read/);
});
