/**
 * The vouch-server command as a user runs it: `node dist/server/main.js --config f.json`,
 * configuration errors, flag overrides, HTTPS by default, a clean stop on SIGTERM.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureDevPki, DevPki } from '../../scripts/devpki';
import { freePort } from '../helpers/net';
import { run, startProcess, stopAll } from '../helpers/proc';

const MAIN = path.resolve(__dirname, '../../dist/server/main.js');

let dir: string;
let pki: DevPki;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-server-main-'));
  pki = ensureDevPki(path.join(dir, 'pki'));
});
afterAll(async () => {
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, cfg: unknown): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, JSON.stringify(cfg));
  return f;
}

function get(url: string): Promise<{ status: number; body: string }> {
  const mod = url.startsWith('https') ? https : http;
  return new Promise((resolve, reject) => {
    mod
      .get(url, { ca: fs.readFileSync(pki.caCert), agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('vouch-server', () => {
  it('refuses a bad configuration with exit code 2 and every problem listed', async () => {
    const f = writeConfig('bad.json', { server: { http_addr: 'nowhere' }, trust_service: { type: 'cloud' }, storage: { backend: 'mongodb' }, logging: { level: 'chatty' } });
    const r = await run(process.execPath, [MAIN, '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid configuration in ${f}`);
    for (const m of ['server.http_addr', 'HTTPS is the default', 'trust_service.type', 'storage.backend', 'logging.level']) expect(r.stderr).toContain(m);
  });

  it('needs --config (exit code 2)', async () => {
    const r = await run(process.execPath, [MAIN]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--config/);
  });

  it('serves HTTPS, applies --port and --data, prints its URL and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const f = writeConfig('server.json', {
      server: { http_addr: '127.0.0.1:1', tls_cert_file: 'pki/server.crt', tls_key_file: 'pki/server.key' },
      trust_service: { type: 'local' },
      storage: { backend: 'sqlite', path: 'not-used/server.db' },
    });
    const data = path.join(dir, 'data-dir');
    const p = startProcess(process.execPath, [MAIN, '--config', f, '--port', String(port), '--data', data]);
    await p.waitFor(new RegExp(`vouch-server listening on https://127\\.0\\.0\\.1:${port}\\n`));
    expect(fs.existsSync(path.join(data, 'server.db'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'not-used'))).toBe(false);
    expect(await get(`https://127.0.0.1:${port}/v2/`)).toEqual({ status: 200, body: '{}' });
    expect((await get(`https://127.0.0.1:${port}/_notary_server/health`)).body).toBe('{}');
    expect((await get(`https://127.0.0.1:${port}/metrics`)).body).toMatch(/vouch_http_requests_total\{operation="Ping"/);
    // plain HTTP on the TLS port gets nothing useful
    const plain = await get(`http://127.0.0.1:${port}/v2/`).then(
      (r) => r.status,
      (e: NodeJS.ErrnoException) => e.code ?? 'error',
    );
    expect(plain).not.toBe(200);
    p.child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => p.child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  });

  it('takes its port from VOUCH_SERVER_PORT and serves plain HTTP only when asked to', async () => {
    const port = await freePort();
    const f = writeConfig('plain.json', {
      server: { http_addr: '127.0.0.1:1', insecure_plain_http: true },
      trust_service: { type: 'local' },
      storage: { backend: 'sqlite', path: 'plain/server.db' },
    });
    const p = startProcess(process.execPath, [MAIN, '--config', f], { env: { ...process.env, VOUCH_SERVER_PORT: String(port) } });
    await p.waitFor(new RegExp(`listening on http://127\\.0\\.0\\.1:${port}\\n`));
    expect(await get(`http://127.0.0.1:${port}/v2/`)).toEqual({ status: 200, body: '{}' });
    await p.stop();
  });

  it('fails to start (exit code 1) when the port is taken', async () => {
    const port = await freePort();
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      const f = writeConfig('taken.json', {
        server: { http_addr: `127.0.0.1:${port}`, tls_cert_file: 'pki/server.crt', tls_key_file: 'pki/server.key' },
        trust_service: { type: 'local' },
        storage: { backend: 'sqlite', path: 'taken/server.db' },
      });
      const r = await run(process.execPath, [MAIN, '--config', f]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });
});
