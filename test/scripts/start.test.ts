/**
 * scripts/start.ts without processes: how flags and environment pick the port and the data dir,
 * and what lands in the data dir (the running service is tested in test/e2e/start-dev.test.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { devPassphrase, parseStartArgs, writeDevConfigs, writeDevServerConfig } from '../../scripts/start';
import { loadConfig } from '../../server/config';
import { loadSignerConfig } from '../../signer/config';

describe('npm start options', () => {
  const cwd = '/work/checkout';

  it('defaults to port 4443 and ./data', () => {
    expect(parseStartArgs([], {}, cwd)).toEqual({ port: 4443, data: '/work/checkout/data', signerPort: 0 });
  });

  it('reads VOUCH_PORT, VOUCH_DATA and VOUCH_SIGNER_PORT; flags win over them', () => {
    const env = { VOUCH_PORT: '5000', VOUCH_DATA: 'd1', VOUCH_SIGNER_PORT: '7000' };
    expect(parseStartArgs([], env, cwd)).toEqual({ port: 5000, data: '/work/checkout/d1', signerPort: 7000 });
    expect(parseStartArgs(['--port', '6000', '--data=/abs', '--signer-port', '0'], env, cwd)).toEqual({ port: 6000, data: '/abs', signerPort: 0 });
  });

  it('refuses ports that are not ports and unknown options', () => {
    expect(() => parseStartArgs(['--port', '0'], {}, cwd)).toThrow(/--port: "0" is not a port number/);
    expect(() => parseStartArgs(['--port', '4443x'], {}, cwd)).toThrow(/not a port number/);
    expect(() => parseStartArgs([], { VOUCH_PORT: '70000' }, cwd)).toThrow(/VOUCH_PORT: "70000"/);
    expect(() => parseStartArgs(['--data'], {}, cwd)).toThrow(/--data needs a value/);
    expect(() => parseStartArgs(['--verbose'], {}, cwd)).toThrow(/unknown option --verbose/);
    expect(parseStartArgs(['--help'], {}, cwd)).toBe('help');
  });
});

describe('the dev data dir', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-start-unit-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes configs the real loaders accept, with the server pointed at the signer', () => {
    const data = path.join(dir, 'data');
    const files = writeDevConfigs({ port: 4999, data, signerPort: 0 });
    writeDevServerConfig(files.serverConfig, 4999, 45678);
    const server = loadConfig(files.serverConfig, {}, {});
    expect(server.server).toMatchObject({ host: '127.0.0.1', port: 4999 });
    expect(server.server.tls?.certFile).toBe(path.join(data, 'tls/server.crt'));
    expect(server.trustService).toMatchObject({ type: 'remote', port: 45678, tlsCaFile: path.join(data, 'tls/ca.crt') });
    expect(server.storage).toEqual({ backend: 'sqlite', path: path.join(data, 'server.db') });
    const signer = loadSignerConfig(files.signerConfig, {});
    expect(signer.storage).toEqual({ backend: 'sqlite', path: path.join(data, 'signer.db'), defaultAlias: 'dev' });
    expect(signer.server.clientCaFile).toBe(path.join(data, 'tls/ca.crt'));
    expect(JSON.parse(fs.readFileSync(files.clientConfig, 'utf8'))).toEqual({ remote_server: { url: 'https://localhost:4999', root_ca: 'tls/ca.crt' } });
    expect(fs.statSync(data).mode & 0o777).toBe(0o700);
  });

  it('makes the dev passphrase once, keeps it 0600, and tightens a loosened mode', () => {
    const data = path.join(dir, 'pass');
    fs.mkdirSync(data);
    const first = devPassphrase(data);
    const file = path.join(data, 'DEV-ONLY-signer-passphrase');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.chmodSync(file, 0o644);
    expect(devPassphrase(data)).toBe(first);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(first.length).toBeGreaterThanOrEqual(32);
  });
});
