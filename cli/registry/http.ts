/**
 * One bounded HTTP(S) exchange on node's http/https: no redirects followed, no compression asked
 * for (a manifest's digest is over the exact bytes), a body bound, a whole-request timeout, and
 * failures turned into RegistryErrors that say which host and why.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { RegistryError, printable } from './errors';

export interface Transport {
  /** PEM CA certificates trusted for TLS (the defaults plus any --registry-cacert) */
  readonly ca: string[] | undefined;
  readonly timeoutMs: number;
  readonly userAgent: string;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD';
  url: URL;
  headers: Record<string, string>;
  /** bound on the body */
  maxBodyBytes: number;
  /** past the bound: fail with TOO_LARGE, or keep the first maxBodyBytes (for error bodies) */
  overflow: 'fail' | 'truncate';
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Node's codes for a certificate that does not verify. */
const CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|INVALID_CA|HOSTNAME_MISMATCH/;

// Duck-typed: errors made by node internals may come from another realm (jest's sandbox), where
// `instanceof Error` is false.
function errnoCode(e: unknown): string {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : '';
}

function errorMessage(e: unknown): string {
  return typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : String(e);
}

/**
 * True when a TLS attempt failed because the other end speaks plain HTTP (its answer is not a TLS
 * record). Only then may a loopback or explicitly allowed registry be retried over http.
 */
export function isPlainHttpAnswer(e: unknown): boolean {
  const cause = e instanceof RegistryError ? e.cause : e;
  const code = errnoCode(cause);
  const msg = errorMessage(cause);
  return code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || /wrong version number|packet length too long/i.test(msg);
}

function transportError(e: unknown, url: URL): RegistryError {
  if (e instanceof RegistryError) return e;
  const code = errnoCode(e);
  const msg = errorMessage(e);
  const where = `${url.protocol}//${url.host}`;
  if (CERT_ERROR.test(code)) {
    return new RegistryError('TLS', `${where}: TLS certificate not trusted (${code}: ${printable(msg)}); pass the registry's CA with --registry-cacert`, { cause: e });
  }
  return new RegistryError('NETWORK', `${where}: ${code ? `${code}: ` : ''}${printable(msg)}`, { cause: e });
}

export function httpRequest(req: HttpRequest, transport: Transport): Promise<HttpResponse> {
  const { url } = req;
  const isHttps = url.protocol === 'https:';
  if (!isHttps && url.protocol !== 'http:') {
    return Promise.reject(new RegistryError('PROTOCOL', `unsupported URL scheme ${printable(url.protocol)}`));
  }
  const options: https.RequestOptions = {
    method: req.method,
    protocol: url.protocol,
    // brackets belong to the URL form of an IPv6 address, not to the socket address
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port || (isHttps ? 443 : 80),
    path: `${url.pathname}${url.search}`,
    headers: { 'User-Agent': transport.userAgent, 'Accept-Encoding': 'identity', ...req.headers },
    agent: false,
  };
  if (isHttps && transport.ca) options.ca = transport.ca;
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      reject(transportError(e, url));
    };
    const request = (isHttps ? https : http).request(options, (res) => {
      const status = res.statusCode ?? 0;
      const encoding = res.headers['content-encoding'];
      if (encoding !== undefined && encoding !== 'identity') {
        fail(new RegistryError('PROTOCOL', `${url.host} answered with Content-Encoding ${printable(encoding)}, which was not asked for`));
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (req.overflow === 'fail' && req.method !== 'HEAD' && Number.isFinite(declared) && declared > req.maxBodyBytes) {
        fail(new RegistryError('TOO_LARGE', `${url.host}${url.pathname}: response of ${declared} bytes is over the ${req.maxBodyBytes}-byte bound`));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        if (total + chunk.length > req.maxBodyBytes) {
          if (req.overflow === 'fail') {
            fail(new RegistryError('TOO_LARGE', `${url.host}${url.pathname}: response is over the ${req.maxBodyBytes}-byte bound`));
            return;
          }
          chunks.push(chunk.subarray(0, req.maxBodyBytes - total));
          total = req.maxBodyBytes;
          // enough read: keep what we have and hang up
          settled = true;
          clearTimeout(timer);
          request.destroy();
          resolve({ status, headers: res.headers, body: Buffer.concat(chunks) });
          return;
        }
        chunks.push(chunk);
        total += chunk.length;
      });
      res.on('aborted', () => fail(new Error('connection closed before the response was complete')));
      res.on('error', fail);
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    const timer = setTimeout(() => fail(new Error(`no complete answer within ${transport.timeoutMs} ms`)), transport.timeoutMs);
    request.on('error', fail);
    request.end();
  });
}

/** A single header's value (the first, if repeated). */
export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Every value of a header that may repeat (WWW-Authenticate). */
export function headerValues(res: HttpResponse, name: string): string[] {
  const v = res.headers[name.toLowerCase()];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}
