import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSignerConfig, parseListenAddress, parseSignerConfig } from '../../signer/config';
import { SignerError } from '../../signer/errors';

describe('signer configuration', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-signer-config-'));
    for (const f of ['signer.crt', 'signer.key', 'ca.crt']) fs.writeFileSync(path.join(dir, f), 'x');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const good = () => ({
    server: { grpc_addr: ':7899', tls_cert_file: 'signer.crt', tls_key_file: 'signer.key', client_ca_file: 'ca.crt' },
    storage: { backend: 'sqlite3', db_url: 'data/signer.db', default_alias: 'alias.one' },
    logging: { level: 'warning' },
  });

  it("accepts a notary-signer style file and resolves paths against the config's folder", () => {
    const c = parseSignerConfig(good(), dir, {});
    expect(c.server).toEqual({
      host: '0.0.0.0',
      port: 7899,
      tlsCertFile: path.join(dir, 'signer.crt'),
      tlsKeyFile: path.join(dir, 'signer.key'),
      clientCaFile: path.join(dir, 'ca.crt'),
    });
    expect(c.storage).toEqual({ backend: 'sqlite', path: path.join(dir, 'data/signer.db'), defaultAlias: 'alias.one' });
    expect(c.logging.level).toBe('warn');
  });

  it('reads a PostgreSQL backend and takes the default alias from NOTARY_SIGNER_DEFAULT_ALIAS', () => {
    const json = { ...good(), storage: { backend: 'postgres', db_url: 'postgres://u@127.0.0.1:5432/signer' } };
    const c = parseSignerConfig(json, dir, { NOTARY_SIGNER_DEFAULT_ALIAS: 'fromenv' });
    expect(c.storage).toEqual({ backend: 'postgres', url: 'postgres://u@127.0.0.1:5432/signer', defaultAlias: 'fromenv' });
  });

  it('lists every problem at once, including the mandatory client CA of mutual TLS', () => {
    const json = {
      server: { grpc_addr: 'nowhere', tls_cert_file: 'missing.crt', tls_key_file: 'signer.key' },
      storage: { backend: 'mysql', default_alias: 'bad-alias!' },
      logging: { level: 'loud' },
      extra: true,
    };
    let err: unknown;
    try {
      parseSignerConfig(json, dir, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SignerError);
    expect((err as SignerError).code).toBe('CONFIG');
    const msg = (err as Error).message;
    for (const part of [
      'config.extra: unknown setting',
      'server.grpc_addr: "nowhere" is not host:port',
      `server.tls_cert_file: cannot read ${path.join(dir, 'missing.crt')}`,
      'server.client_ca_file: required',
      'storage.default_alias: "bad-alias!"',
      'storage.backend: "mysql" is not supported',
      'logging.level: "loud"',
    ]) {
      expect(msg).toContain(part);
    }
  });

  it('requires a default alias', () => {
    const json = { ...good(), storage: { backend: 'sqlite', path: 'x.db' } };
    expect(() => parseSignerConfig(json, dir, {})).toThrow(/storage.default_alias: required/);
  });

  it('reports an unreadable or non-JSON file clearly', () => {
    expect(() => loadSignerConfig(path.join(dir, 'none.json'))).toThrow(/cannot read the signer configuration .*none.json: ENOENT/);
    fs.writeFileSync(path.join(dir, 'broken.json'), '{"server":');
    expect(() => loadSignerConfig(path.join(dir, 'broken.json'))).toThrow(/is not valid JSON/);
  });

  it('parses listen addresses like Go does', () => {
    expect(parseListenAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::1]:7899')).toEqual({ host: '::1', port: 7899 });
    expect(parseListenAddress('localhost:7899')).toEqual({ host: 'localhost', port: 7899 });
    expect(parseListenAddress('127.0.0.1:70000')).toBeNull();
    expect(parseListenAddress('127.0.0.1')).toBeNull();
  });
});
