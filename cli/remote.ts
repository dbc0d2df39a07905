/**
 * HTTP access to a Notary-compatible trust server: metadata downloads with hard size caps
 * (spec 1.3, 5.11), the multipart publish (1.4.1), the key routes (1.5), repository deletion
 * (1.6), and Docker token authentication (6.2).
 *
 * Every response body is bounded: a body larger than its cap is refused by `Content-Length`
 * before reading and again by counting the bytes as they stream, so a malicious server can
 * neither exhaust memory nor stall us past the request deadline ("endless data").
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { isJsonObject, JsonValue, LIMITS, matchesSchema, parseJson, parsePublicKey, PublicKey } from '../tuf';
import { isValidGun, isValidRole } from '../tuf/roles';

/** One home for the bounds of the HTTP client. */
export const REMOTE_LIMITS = {
  /** the first download of root.json and every `<v>.root.json` (Go allows 100 MiB; we are stricter) */
  maxRootBytes: LIMITS.maxRootBytes,
  /** timestamp.json, as the Go client caps it */
  maxTimestampBytes: LIMITS.maxTimestampBytes,
  /** GET/POST `<role>.key` responses */
  maxKeyBytes: LIMITS.maxKeyBytes,
  /** error bodies we read to explain a failure (the Go client reads 1 KiB) */
  maxErrorBodyBytes: 16 * 1024,
  /** token server responses */
  maxTokenBytes: 64 * 1024,
  /** a WWW-Authenticate header we are willing to parse */
  maxChallengeBytes: 4096,
  /** the ping of /v2/ (the Go client gives up after 5 s) */
  pingTimeoutMs: 5000,
  /** any other single request, from connect to the last byte */
  defaultTimeoutMs: 60_000,
  /** publishing uploads whole targets files: this many times the request timeout */
  publishTimeoutFactor: 10,
  /** tokens living shorter than this are treated as living this long (distribution's rule) */
  minTokenLifetimeS: 60,
} as const;

/** What went wrong talking to the server; the CLI maps these to exit codes. */
export type RemoteErrorCode =
  | 'OFFLINE' // the server did not answer the ping: only cached data may be used
  | 'NETWORK' // connection refused/reset, DNS, TLS failure
  | 'TIMEOUT' // the request deadline passed
  | 'UNAUTHORIZED' // 401 even after authenticating
  | 'NOT_FOUND' // 404 where absence is an error
  | 'REJECTED' // 400: the server refused the request (validation errors carry details)
  | 'SERVER' // 5xx
  | 'STATUS' // any other unexpected status
  | 'TOO_LARGE' // a response above its cap: a malicious or broken server
  | 'BAD_RESPONSE' // a response body that is not what the route returns
  | 'AUTH' // the token server failed or the challenge is unusable
  | 'INVALID_REQUEST' // a GUN, metadata name or role we refuse to put on the wire
  | 'CONFIG'; // unusable client settings (URL, TLS files)

export interface RemoteErrorInit {
  status?: number;
  /** Notary's error code from the body, e.g. INVALID_UPDATE */
  serverCode?: string;
  /** the body's detail as one line, e.g. "ErrBadTargets: valid signatures did not meet threshold for targets" */
  detail?: string;
  url?: string;
  cause?: unknown;
}

/** The multipart body of a publish (spec 1.4.1): one part per file, field `files`, file name = role. */
export function multipartBody(files: MetadataFile[]): { body: Buffer; contentType: string } {
  const boundary = crypto.randomBytes(30).toString('hex');
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${f.role}"\r\nContent-Type: application/octet-stream\r\n\r\n`, 'utf8'),
      f.bytes,
      Buffer.from('\r\n', 'utf8'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`, 'utf8'));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

export class RemoteError extends Error {
  readonly code: RemoteErrorCode;
  readonly status?: number;
  readonly serverCode?: string;
  readonly detail?: string;
  readonly url?: string;
  constructor(code: RemoteErrorCode, message: string, init: RemoteErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'RemoteError';
    this.code = code;
    this.status = init.status;
    this.serverCode = init.serverCode;
    this.detail = init.detail;
    this.url = init.url;
  }
}

export type Credentials = { username: string; password: string } | { token: string };

export interface RemoteOptions {
  /** base URL of the trust server, e.g. https://notary.example.com:4443 */
  url: string;
  /** PEM bundle that replaces the system roots (spec 5.2 `root_ca`) */
  caFile?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
  insecureSkipVerify?: boolean;
  /** Basic credentials (for a token server or a Basic challenge), or a ready bearer token */
  auth?: Credentials;
  /** deadline of one request, connect to last byte */
  timeoutMs?: number;
  /** sent as User-Agent */
  userAgent?: string;
}

/** Token scope actions (spec 6.2): reads, writes, and admin operations (delete, key rotation). */
export type Access = 'pull' | 'push,pull' | '*';

export interface PingResult {
  /** what the server asked for on /v2/: nothing, a bearer token, or Basic credentials */
  auth: 'none' | 'bearer' | 'basic';
}

export interface MetadataFile {
  /** role name without `.json`: `root`, `targets`, `snapshot`, `targets/releases` */
  role: string;
  bytes: Buffer;
}

interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

interface RawResponse {
  status: number;
  /** every WWW-Authenticate value, unjoined */
  challenges: string[];
  body: Buffer;
}

/** Basic credentials from NOTARY_AUTH (base64 of `user:password`, spec 5.3), or VOUCH_AUTH. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const raw = env.VOUCH_AUTH ?? env.NOTARY_AUTH;
  if (!raw) return undefined;
  const decoded = Buffer.from(raw.trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new RemoteError('CONFIG', 'NOTARY_AUTH must be the base64 of "username:password"');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

// RFC 3986 pchar: keep what Go leaves unescaped in a path (":" and "@" included, for registry
// hosts with ports), percent-encode everything else.
function encodeSegment(s: string): string {
  return s.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]/g, (c) =>
    Array.from(Buffer.from(c, 'utf8'))
      .map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0'))
      .join(''),
  );
}

function gunPath(gun: string): string {
  if (!isValidGun(gun)) throw new RemoteError('INVALID_REQUEST', `refusing to use invalid GUN ${JSON.stringify(gun.slice(0, 300))}`);
  return gun.split('/').map(encodeSegment).join('/');
}

const METADATA_NAME = /^(?:([1-9][0-9]*)\.)?([a-z0-9_/-]+?)(?:\.([0-9a-f]{64}))?$/;

/** `root`, `timestamp`, `3.root`, `snapshot.<sha256>`, `targets/releases.<sha256>`. */
export function isMetadataName(name: string): boolean {
  const m = METADATA_NAME.exec(name);
  return m !== null && isValidRole(m[2] as string);
}

/**
 * Parse `WWW-Authenticate` values, one challenge per value as distribution's client does:
 * `Bearer realm="..",service="..",scope=".."` or `Basic realm=".."`. Other schemes are ignored.
 */
export function parseChallenges(values: string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const value of values) {
    if (value.length > REMOTE_LIMITS.maxChallengeBytes) continue;
    const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+([\s\S]*))?$/.exec(value);
    if (!m) continue;
    const scheme = (m[1] as string).toLowerCase();
    if (scheme !== 'bearer' && scheme !== 'basic') continue;
    const params: Record<string, string> = {};
    const rest = m[2] ?? '';
    const re = /\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
    let p: RegExpExecArray | null;
    while (re.lastIndex < rest.length && (p = re.exec(rest)) !== null) {
      if (p[0].length === 0) break;
      params[(p[1] as string).toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] as string);
    }
    out.push({ scheme, params });
  }
  return out;
}

function describeDetail(detail: JsonValue | undefined): string | undefined {
  if (detail === undefined || detail === null) return undefined;
  if (typeof detail === 'string') return detail.slice(0, 1024) || undefined;
  if (isJsonObject(detail)) {
    // validation errors: {"Name":"ErrBadTargets","Error":{"Msg":"..."}} (spec 1.9)
    const name = typeof detail.Name === 'string' ? detail.Name : undefined;
    const err = detail.Error;
    const msg = isJsonObject(err) && typeof err.Msg === 'string' ? err.Msg : typeof err === 'string' ? err : undefined;
    if (name && msg) return `${name}: ${msg}`.slice(0, 1024);
    if (msg) return msg.slice(0, 1024);
    if (name) return name;
    return undefined;
  }
  return undefined;
}

/** Notary's error envelope (spec 1.9) -> code and a one-line detail; undefined when not one. */
export function parseErrorBody(body: Buffer): { serverCode: string; message: string; detail?: string } | undefined {
  let doc: JsonValue;
  try {
    doc = parseJson(body, REMOTE_LIMITS.maxErrorBodyBytes);
  } catch {
    return undefined;
  }
  if (!matchesSchema('error', doc) || !isJsonObject(doc) || !Array.isArray(doc.errors)) return undefined;
  const first = doc.errors[0];
  if (!isJsonObject(first)) return undefined;
  return { serverCode: String(first.code), message: String(first.message), detail: describeDetail(first.detail) };
}

function readFileBounded(file: string, what: string): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new RemoteError('CONFIG', `cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (st.size > 1024 * 1024) throw new RemoteError('CONFIG', `${what} ${file} is larger than 1 MiB`);
  return fs.readFileSync(file);
}

/** A client of one trust server. Cheap to construct; call close() to drop kept-alive sockets. */
export class Remote {
  readonly baseUrl: URL;
  /** the URL's path prefix without a trailing slash ("" for most servers) */
  private readonly basePath: string;
  private readonly agent: http.Agent;
  /** for a token realm on another https origin: the same trusted CAs, no client certificate */
  private readonly foreignAgent: https.Agent;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly credentials?: Credentials;
  private challenge: Challenge | null = null;
  private readonly tokens = new Map<string, CachedToken>();

  constructor(opts: RemoteOptions) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch (e) {
      throw new RemoteError('CONFIG', `invalid server URL ${JSON.stringify(opts.url)}`, { cause: e });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new RemoteError('CONFIG', `server URL must be http(s): ${opts.url}`);
    }
    if (url.username || url.password) throw new RemoteError('CONFIG', 'put credentials in NOTARY_AUTH, not in the server URL');
    this.basePath = url.pathname.replace(/\/+$/, '');
    url.search = '';
    url.hash = '';
    this.baseUrl = url;
    this.timeoutMs = opts.timeoutMs ?? REMOTE_LIMITS.defaultTimeoutMs;
    this.userAgent = opts.userAgent ?? 'vouch';
    this.credentials = opts.auth;
    if ((opts.clientCertFile === undefined) !== (opts.clientKeyFile === undefined)) {
      throw new RemoteError('CONFIG', 'a TLS client certificate and its key must be given together');
    }
    // root_ca replaces the system roots (spec 5.2), for the token server too (one Go transport)
    const ca = opts.caFile ? readFileBounded(opts.caFile, 'CA file') : undefined;
    const tls: https.AgentOptions = { keepAlive: true, maxSockets: 8, minVersion: 'TLSv1.2', ca, rejectUnauthorized: !opts.insecureSkipVerify };
    this.foreignAgent = new https.Agent(tls);
    if (url.protocol === 'https:') {
      this.agent = new https.Agent({
        ...tls,
        cert: opts.clientCertFile ? readFileBounded(opts.clientCertFile, 'client certificate') : undefined,
        key: opts.clientKeyFile ? readFileBounded(opts.clientKeyFile, 'client key') : undefined,
      });
    } else {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    }
  }

  /** Drop kept-alive connections. */
  close(): void {
    this.agent.destroy();
    this.foreignAgent.destroy();
  }

  // -------------------------------------------------------------------------------------------
  // Routes

  /**
   * GET /v2/ without credentials: learns the auth challenge (spec 6.2 step 1). A 200 or 401
   * means the server is there; anything else throws (the update then works offline).
   */
  async ping(): Promise<PingResult> {
    const res = await this.send('GET', '/v2/', { timeoutMs: Math.min(this.timeoutMs, REMOTE_LIMITS.pingTimeoutMs), maxBytes: 4096, authorization: undefined });
    if (res.status >= 200 && res.status < 300) {
      this.challenge = null;
      return { auth: 'none' };
    }
    if (res.status === 401) {
      const challenges = parseChallenges(res.challenges);
      const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
      if (!chosen) throw new RemoteError('AUTH', 'the server requires authentication but sent no usable challenge', { status: 401 });
      this.challenge = chosen;
      return { auth: chosen.scheme };
    }
    throw this.statusError(res, '/v2/');
  }

  /**
   * One metadata file by name (`root`, `timestamp`, `3.root`, `snapshot.<sha256>`, ...), at most
   * `maxBytes` long; null when the server has no such file (404).
   */
  async getMetadata(gun: string, name: string, maxBytes: number): Promise<Buffer | null> {
    if (!isMetadataName(name)) throw new RemoteError('INVALID_REQUEST', `refusing to request invalid metadata name ${JSON.stringify(name.slice(0, 300))}`);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RemoteError('INVALID_REQUEST', `invalid size limit for ${name}`);
    const path = `/v2/${gunPath(gun)}/_trust/tuf/${name.split('/').map(encodeSegment).join('/')}.json`;
    const res = await this.request('GET', path, { gun, access: 'pull', maxBytes });
    if (res.status === 200) return res.body;
    if (res.status === 404) return null;
    throw this.statusError(res, path);
  }

  /** POST the files in one multipart update (spec 1.4.1): field `files`, file name = role. */
  async publish(gun: string, files: MetadataFile[]): Promise<void> {
    for (const f of files) {
      if (!isValidRole(f.role)) throw new RemoteError('INVALID_REQUEST', `refusing to publish invalid role ${JSON.stringify(f.role.slice(0, 300))}`);
    }
    const { body, contentType } = multipartBody(files);
    const path = `/v2/${gunPath(gun)}/_trust/tuf/`;
    const res = await this.request('POST', path, {
      gun,
      access: 'push,pull',
      maxBytes: REMOTE_LIMITS.maxErrorBodyBytes,
      body,
      contentType,
      timeoutMs: this.timeoutMs * REMOTE_LIMITS.publishTimeoutFactor,
    });
    if (res.status !== 200) throw this.statusError(res, path);
  }

  /** The server-held key of a role (GET `<role>.key`, spec 1.5). */
  async getKey(gun: string, role: 'timestamp' | 'snapshot'): Promise<PublicKey> {
    return this.keyRequest('GET', gun, role, 'push,pull');
  }

  /** Ask the server for a new key of a role (POST `<role>.key`); the root is not changed. */
  async rotateKey(gun: string, role: 'timestamp' | 'snapshot'): Promise<PublicKey> {
    return this.keyRequest('POST', gun, role, '*');
  }

  /** DELETE every stored version of the GUN's metadata (spec 1.6). */
  async deleteRepository(gun: string): Promise<void> {
    const path = `/v2/${gunPath(gun)}/_trust/tuf/`;
    const res = await this.request('DELETE', path, { gun, access: '*', maxBytes: REMOTE_LIMITS.maxErrorBodyBytes });
    if (res.status !== 200) throw this.statusError(res, path);
  }

  private async keyRequest(method: 'GET' | 'POST', gun: string, role: 'timestamp' | 'snapshot', access: Access): Promise<PublicKey> {
    if (role !== 'timestamp' && role !== 'snapshot') throw new RemoteError('INVALID_REQUEST', `the server holds no ${String(role)} keys`);
    const path = `/v2/${gunPath(gun)}/_trust/tuf/${role}.key`;
    const res = await this.request(method, path, { gun, access, maxBytes: REMOTE_LIMITS.maxKeyBytes });
    if (res.status !== 200) throw this.statusError(res, path);
    try {
      const doc = parseJson(res.body, REMOTE_LIMITS.maxKeyBytes);
      if (!matchesSchema('publickey', doc)) throw new Error('not a public key object');
      return parsePublicKey(doc);
    } catch (e) {
      throw new RemoteError('BAD_RESPONSE', `the server's ${role} key is not a valid public key`, { status: 200, url: path, cause: e });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Authentication (spec 6.2)

  private async authorization(gun: string, access: Access, forceRefresh: boolean): Promise<string | undefined> {
    const creds = this.credentials;
    if (creds && 'token' in creds) return `Bearer ${creds.token}`;
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      if (!creds) return undefined;
      return 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64');
    }
    const scope = `repository:${gun}:${access}`;
    const cached = this.tokens.get(scope);
    if (cached && !forceRefresh && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    const token = await this.fetchToken(ch, scope);
    this.tokens.set(scope, token);
    return `Bearer ${token.token}`;
  }

  private async fetchToken(ch: Challenge, scope: string): Promise<CachedToken> {
    const realmText = ch.params.realm;
    if (!realmText) throw new RemoteError('AUTH', 'the server\'s Bearer challenge names no realm');
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch (e) {
      throw new RemoteError('AUTH', `the token realm ${JSON.stringify(realmText.slice(0, 200))} is not a URL`, { cause: e });
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new RemoteError('AUTH', 'the token realm must be an http(s) URL');
    const creds = this.credentials && 'username' in this.credentials ? this.credentials : undefined;
    // never send a password in clear text to a realm when the trust server itself uses TLS
    if (creds && realm.protocol === 'http:' && this.baseUrl.protocol === 'https:') {
      throw new RemoteError('AUTH', `refusing to send credentials to a plain-http token realm ${realm.origin}`);
    }
    // parameters sorted by name, `account` only with credentials (spec 6.2 step 2)
    const params: [string, string][] = [];
    if (creds) params.push(['account', creds.username]);
    params.push(['scope', scope]);
    if (ch.params.service !== undefined) params.push(['service', ch.params.service]);
    for (const [k, v] of params) realm.searchParams.append(k, v);
    const headers: Record<string, string> = {};
    if (creds) headers.authorization = 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64');
    const res = await this.rawRequest('GET', realm, { headers, maxBytes: REMOTE_LIMITS.maxTokenBytes, timeoutMs: this.timeoutMs });
    if (res.status !== 200) {
      throw new RemoteError(res.status === 401 ? 'UNAUTHORIZED' : 'AUTH', `the token server refused to issue a token (${res.status})`, { status: res.status, url: realm.origin + realm.pathname });
    }
    let doc: JsonValue;
    try {
      doc = parseJson(res.body, REMOTE_LIMITS.maxTokenBytes);
    } catch (e) {
      throw new RemoteError('AUTH', 'the token server answered with malformed JSON', { cause: e });
    }
    if (!isJsonObject(doc)) throw new RemoteError('AUTH', 'the token server answered with no token');
    // `access_token` wins over `token`
    const token = typeof doc.access_token === 'string' && doc.access_token ? doc.access_token : typeof doc.token === 'string' ? doc.token : '';
    if (!token || token.length > REMOTE_LIMITS.maxTokenBytes || /[\s\u0000-\u001f]/.test(token)) {
      throw new RemoteError('AUTH', 'the token server answered with no usable token');
    }
    let lifetimeS = typeof doc.expires_in === 'number' && Number.isFinite(doc.expires_in) ? doc.expires_in : 0;
    if (lifetimeS < REMOTE_LIMITS.minTokenLifetimeS) lifetimeS = REMOTE_LIMITS.minTokenLifetimeS;
    let issued = Date.now();
    if (typeof doc.issued_at === 'string') {
      const t = Date.parse(doc.issued_at);
      if (Number.isFinite(t) && t <= Date.now()) issued = t;
    }
    return { token, expiresAt: issued + lifetimeS * 1000 };
  }

  // -------------------------------------------------------------------------------------------
  // Transport

  /**
   * A request with authentication: a 401 carrying a new challenge (or an expired token) gets one
   * retry with a fresh token.
   */
  private async request(
    method: string,
    path: string,
    opts: { gun: string; access: Access; maxBytes: number; body?: Buffer; contentType?: string; timeoutMs?: number },
  ): Promise<RawResponse> {
    let authorization = await this.authorization(opts.gun, opts.access, false);
    for (let attempt = 0; ; attempt++) {
      const res = await this.send(method, path, { ...opts, authorization });
      if (res.status !== 401 || attempt > 0) return res;
      const challenges = parseChallenges(res.challenges);
      const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
      if (!chosen || (this.credentials && 'token' in this.credentials)) return res;
      if (chosen.scheme === 'basic' && !this.credentials) return res;
      this.challenge = chosen;
      authorization = await this.authorization(opts.gun, opts.access, true);
      if (authorization === undefined) return res;
    }
  }

  private send(
    method: string,
    path: string,
    opts: { maxBytes: number; body?: Buffer; contentType?: string; timeoutMs?: number; authorization: string | undefined },
  ): Promise<RawResponse> {
    const url = new URL(this.baseUrl.href);
    url.pathname = this.basePath + path;
    const headers: Record<string, string> = {};
    if (opts.authorization) headers.authorization = opts.authorization;
    if (opts.contentType) headers['content-type'] = opts.contentType;
    return this.rawRequest(method, url, { headers, body: opts.body, maxBytes: opts.maxBytes, timeoutMs: opts.timeoutMs ?? this.timeoutMs });
  }

  /**
   * One HTTP exchange. A 200 body above `maxBytes` is refused (TOO_LARGE) by Content-Length and
   * by counting; other statuses keep at most the error-body bound.
   */
  private rawRequest(
    method: string,
    url: URL,
    opts: { headers: Record<string, string>; body?: Buffer; maxBytes: number; timeoutMs: number },
  ): Promise<RawResponse> {
    const lib = url.protocol === 'https:' ? https : http;
    const shown = url.origin + url.pathname;
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: '*/*', ...opts.headers };
    if (opts.body) headers['content-length'] = String(opts.body.length);
    // only the trust server's own origin gets our client certificate
    const agent = url.origin === this.baseUrl.origin ? this.agent : url.protocol === 'https:' ? this.foreignAgent : undefined;
    return new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      const fail = (e: RemoteError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(e);
      };
      const timer = setTimeout(() => fail(new RemoteError('TIMEOUT', `${method} ${shown} took longer than ${opts.timeoutMs} ms`, { url: shown })), opts.timeoutMs);
      const req = lib.request(url, { method, headers, agent }, (res) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        const cap = ok ? opts.maxBytes : REMOTE_LIMITS.maxErrorBodyBytes;
        const declared = Number(res.headers['content-length']);
        if (ok && Number.isFinite(declared) && declared > cap) {
          fail(new RemoteError('TOO_LARGE', `${shown} is ${declared} bytes, more than the ${cap} allowed`, { status, url: shown }));
          res.destroy();
          return;
        }
        const challenges = res.headersDistinct['www-authenticate'] ?? [];
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          total += chunk.length;
          if (total > cap) {
            if (ok) {
              fail(new RemoteError('TOO_LARGE', `${shown} sent more than the ${cap} bytes allowed`, { status, url: shown }));
              res.destroy();
              return;
            }
            // an error body is only read to explain the failure: keep its head
            chunks.push(chunk.subarray(0, chunk.length - (total - cap)));
            settled = true;
            clearTimeout(timer);
            res.destroy();
            resolve({ status, challenges, body: Buffer.concat(chunks) });
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status, challenges, body: Buffer.concat(chunks) });
        });
        res.on('error', (e) => fail(new RemoteError('NETWORK', `${method} ${shown}: ${e.message}`, { url: shown, cause: e })));
        res.on('aborted', () => fail(new RemoteError('NETWORK', `${method} ${shown}: the server closed the connection`, { url: shown })));
      });
      req.on('error', (e) => fail(new RemoteError('NETWORK', `${method} ${shown}: ${e.message}`, { url: shown, cause: e })));
      req.end(opts.body);
    });
  }

  private statusError(res: RawResponse, path: string): RemoteError {
    const parsed = parseErrorBody(res.body);
    const init: RemoteErrorInit = { status: res.status, serverCode: parsed?.serverCode, detail: parsed?.detail, url: path };
    const because = parsed ? `: ${parsed.serverCode}${parsed.detail ? ` (${parsed.detail})` : ` (${parsed.message})`}` : '';
    const s = res.status;
    if (s === 400) return new RemoteError('REJECTED', `the trust server rejected the request${because}`, init);
    if (s === 401) return new RemoteError('UNAUTHORIZED', `not authorized by the trust server${because}`, init);
    if (s === 404) return new RemoteError('NOT_FOUND', `the trust server has no ${path}${because}`, init);
    if (s >= 500) return new RemoteError('SERVER', `the trust server failed (${s})${because}`, init);
    return new RemoteError('STATUS', `unexpected answer ${s} from the trust server${because}`, init);
  }
}
