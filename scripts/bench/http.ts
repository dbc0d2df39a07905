/**
 * The bench's HTTPS client: one keep-alive agent per server, trusting only the dev CA. Used to
 * load repositories (multipart POSTs shaped as the Go client sends them), to check what each
 * server serves before it is measured, and to time direct publishes.
 */
import * as https from 'node:https';
import { multipartBody } from '../../cli/remote';

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Bodies the bench reads are metadata files; nothing it asks for is near this large. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 60_000;

export class HttpsClient {
  private readonly agent: https.Agent;

  constructor(
    readonly baseUrl: string,
    ca: Buffer,
  ) {
    this.agent = new https.Agent({ ca, keepAlive: true, maxSockets: 8 });
  }

  request(method: string, path: string, opts: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<Response> {
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, agent: this.agent, headers: opts.headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new Error(`${method} ${path}: response larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  get(path: string): Promise<Response> {
    return this.request('GET', path);
  }

  /** POST a publish: one multipart part per role, field `files`, file name = role (spec 1.4.1). */
  postMetadata(gun: string, files: Array<{ role: string; bytes: Buffer }>): Promise<Response> {
    const { body, contentType } = multipartBody(files);
    return this.request('POST', `/v2/${gun}/_trust/tuf/`, { headers: { 'Content-Type': contentType, 'Content-Length': String(body.length) }, body });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Poll `path` until it answers 200 (notary-server reports healthy only once its signer is up). */
export async function waitUntilHealthy(client: HttpsClient, path: string, timeoutMs: number, alive: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (!alive()) throw new Error(`${what} exited before it was healthy`);
    try {
      const r = await client.get(path);
      if (r.status === 200) return;
      last = `HTTP ${r.status} ${r.body.toString('utf8').slice(0, 200)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what} not healthy after ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
