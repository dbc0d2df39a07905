/**
 * sendBody: large cached bodies go out in chunks with backpressure, byte for byte, over real
 * TLS; a client that disconnects half way does not break the server.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { ensureDevPki } from '../../../scripts/devpki';
import { BODY_CHUNK_BYTES, sendBody } from '../../../server/http/send';

describe('sendBody', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-send-'));
  const pki = ensureDevPki(path.join(dir, 'pki'));
  const ca = fs.readFileSync(pki.caCert);
  const bodies: Record<string, Buffer> = {
    small: crypto.randomBytes(1000),
    exact: crypto.randomBytes(BODY_CHUNK_BYTES),
    large: crypto.randomBytes(3 * BODY_CHUNK_BYTES + 12345),
    // larger than what loopback socket buffers absorb, so a paused reader makes the server wait
    huge: crypto.randomBytes(8 * 1024 * 1024 + 7),
  };
  /** per request path: how often res.write said "wait for drain" */
  const waits: Record<string, number> = {};
  const serverErrors: unknown[] = [];
  let server: https.Server;
  let port: number;

  beforeAll(async () => {
    server = https.createServer({ cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) }, (req, res) => {
      const body = bodies[(req.url ?? '/').slice(1)] as Buffer;
      res.on('error', (e) => serverErrors.push(e));
      const write = res.write.bind(res) as (chunk: Buffer) => boolean;
      res.write = ((chunk: Buffer) => {
        const more = write(chunk);
        if (!more) waits[req.url ?? ''] = (waits[req.url ?? ''] ?? 0) + 1;
        return more;
      }) as typeof res.write;
      res.writeHead(200, { 'Content-Length': body.length });
      sendBody(res, body);
    });
    server.on('clientError', (e) => serverErrors.push(e));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const get = (name: string, slow: boolean): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: `/${name}`, ca, servername: 'localhost' }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            chunks.push(c);
            // a slow reader makes the server wait for 'drain' between chunks
            if (slow) {
              res.pause();
              setTimeout(() => res.resume(), 2);
            }
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        })
        .on('error', reject);
    });

  it.each(['small', 'exact', 'large'])('delivers the %s body byte for byte to a fast and to a slow reader', async (name) => {
    expect((await get(name, false)).equals(bodies[name] as Buffer)).toBe(true);
    expect((await get(name, true)).equals(bodies[name] as Buffer)).toBe(true);
  });

  it('waits for drain instead of queueing a huge body at once, and still delivers every byte', async () => {
    waits['/huge'] = 0;
    expect((await get('huge', true)).equals(bodies.huge as Buffer)).toBe(true);
    expect(waits['/huge']).toBeGreaterThan(0);
  }, 60_000);

  it('survives a client that disconnects half way through a large body', async () => {
    await new Promise<void>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
        socket.write('GET /large HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
      let received = 0;
      socket.on('data', (c: Buffer) => {
        received += c.length;
        if (received > BODY_CHUNK_BYTES) socket.destroy();
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    // the server still answers afterwards
    expect((await get('large', false)).equals(bodies.large as Buffer)).toBe(true);
    expect(serverErrors.filter((e) => !/ECONNRESET|EPIPE|socket hang up/.test(String(e)))).toEqual([]);
  });
});
