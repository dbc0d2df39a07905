/** Ports and readiness for tests that start real processes on loopback. */
import * as https from 'node:https';
import * as net from 'node:net';

/** A TCP port that was free a moment ago on 127.0.0.1 (the scripts use the same). */
export { freePort } from '../../scripts/proc-util';

/** Resolve once something accepts TCP connections on host:port, or reject after `timeoutMs`. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface HttpsResponse {
  status: number;
  body: Buffer;
  headers: Record<string, unknown>;
}

/** GET over TLS trusting `ca` (e.g. the dev PKI's CA), on a fresh connection; any status resolves. */
export function httpsGet(url: string, ca: Buffer): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      })
      .on('error', reject);
  });
}
