/**
 * A repository simulator (after python-tuf's RepositorySimulator and tuf-js's repo-mock): builds
 * signed Notary-style repositories in memory with our TUF core, lets a test tamper with any file,
 * rotate any key or re-sign anything, and serves the result over a real local HTTP(S) server
 * speaking the notary-server routes the client uses:
 *
 *   GET  /v2/                                    ping (401 + Bearer challenge with token auth on)
 *   GET  /v2/<gun>/_trust/tuf/<name>.json        metadata: current, `<role>.<sha256>`, `<v>.<role>`
 *   POST /v2/<gun>/_trust/tuf/                   multipart publish (recorded, not applied)
 *   GET|POST /v2/<gun>/_trust/tuf/<role>.key     the simulator's timestamp/snapshot public keys
 *   DELETE /v2/<gun>/_trust/tuf/                 recorded
 *   GET  /token                                  a tiny token server (when auth is on)
 *
 * Every served name maps to bytes or to a responder function, so a test can serve anything: an
 * old file, a huge one, an endless stream, a 500.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import busboy from 'busboy';
import {
  DEFAULT_EXPIRY_MS,
  DelegatedRole,
  fileMetaJson,
  fileMetaOf,
  formatGoTime,
  generatePrivateKey,
  JsonObject,
  makeRootCertificateKey,
  Metadata,
  MetadataKind,
  PrivateKey,
  PrivateKeyType,
  PublicKey,
  publicKeyJson,
  Root,
  rootSigned,
  serializeMetadata,
  sha256Hex,
  sign,
  signingBytes,
  signMetadata,
  Snapshot,
  snapshotSigned,
  Targets,
  targetsSigned,
  Timestamp,
  timestampSigned,
  parseMetadata,
} from '../../tuf';

export type Responder = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A root key: the private key and the self-signed certificate root.json lists. */
export interface RootSigner {
  key: PrivateKey;
  cert: PublicKey;
}

export type OnlineRole = 'targets' | 'snapshot' | 'timestamp';

interface RoleState {
  name: string;
  version: number;
  /** absolute expiry (ms); undefined = default lifetime from the simulator's clock */
  expires?: number;
  targets: Map<string, JsonObject>;
  delegations: DelegatedRole[];
  delegationKeys: Map<string, PublicKey>;
  /** the keys that sign this role (delegations); `targets` uses the simulator's targets keys */
  signers: PrivateKey[];
  dirty: boolean;
}

export interface SimulatorOptions {
  gun?: string;
  /** the simulator's clock (ms); expiries and certificates are made from it */
  now?: number;
  /** key counts and thresholds of the base roles (count defaults to the threshold) */
  thresholds?: Partial<Record<'root' | OnlineRole, number>>;
  keyCounts?: Partial<Record<'root' | OnlineRole, number>>;
}

export interface AuthOptions {
  username: string;
  password: string;
  service?: string;
  /** token lifetime in seconds */
  expiresIn?: number;
}

export interface UploadPart {
  field: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
}

export interface Upload {
  gun: string;
  contentType: string;
  parts: UploadPart[];
}

const KEY_TYPE: Record<OnlineRole, PrivateKeyType> = { targets: 'ed25519', snapshot: 'ecdsa', timestamp: 'ed25519' };

function notFound(res: http.ServerResponse): void {
  res.statusCode = 404;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end('{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}\n');
}

/** Whole seconds, so that re-signed files keep their length (mix-and-match tests need that). */
function expiryString(ms: number): string {
  return formatGoTime(Math.floor(ms / 1000) * 1000);
}

export class RepositorySimulator {
  readonly gun: string;
  now: number;

  rootKeys: RootSigner[] = [];
  rootThreshold: number;
  /** keys that also sign the next root: the previous root's keys during a cross-signed rotation */
  private rootCosigners: RootSigner[] = [];
  keys: Record<OnlineRole, PrivateKey[]>;
  thresholds: Record<OnlineRole, number>;

  rootVersion = 0;
  rootExpires?: number;
  private rootDirty = true;
  readonly roles = new Map<string, RoleState>();
  snapshotVersion = 0;
  snapshotExpires?: number;
  timestampVersion = 0;
  timestampExpires?: number;

  /** the published documents */
  readonly rootHistory = new Map<number, Root>();
  root!: Root;
  snapshot!: Snapshot;
  timestamp!: Timestamp;
  readonly targetsFiles = new Map<string, Targets>();
  /** every version of every targets role ever published, by role then version */
  readonly targetsHistory = new Map<string, Map<number, Targets>>();
  readonly snapshotHistory = new Map<number, Snapshot>();
  readonly timestampHistory = new Map<number, Timestamp>();

  /** served name (path under `_trust/tuf/`, without `.json`) -> bytes or responder */
  readonly served = new Map<string, Buffer | Responder>();
  /** `METHOD /path` of every request, in order */
  readonly requests: string[] = [];
  readonly uploads: Upload[] = [];
  readonly deletions: string[] = [];
  readonly tokenRequests: string[] = [];
  /** answer every request (but the token server) with this status, e.g. 500; null = normal */
  failWith: number | null = null;
  /** answer /v2/ with this status instead of 200 */
  pingStatus = 200;
  /** a hook that may answer any request first; return true when it did */
  hook?: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => boolean;

  private server?: http.Server;
  private auth?: AuthOptions;
  private readonly tokens = new Map<string, { scope: string; actions: string[]; expires: number }>();
  url = '';

  constructor(opts: SimulatorOptions = {}) {
    this.gun = opts.gun ?? 'example.com/simulated/repo';
    this.now = opts.now ?? Date.now();
    const t = opts.thresholds ?? {};
    const c = opts.keyCounts ?? {};
    this.rootThreshold = t.root ?? 1;
    const rootCount = c.root ?? this.rootThreshold;
    for (let i = 0; i < rootCount; i++) this.rootKeys.push(this.newRootSigner());
    this.thresholds = { targets: t.targets ?? 1, snapshot: t.snapshot ?? 1, timestamp: t.timestamp ?? 1 };
    this.keys = { targets: [], snapshot: [], timestamp: [] };
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
      const n = c[role] ?? this.thresholds[role];
      for (let i = 0; i < n; i++) this.keys[role].push(generatePrivateKey(KEY_TYPE[role]));
    }
    this.roles.set('targets', { name: 'targets', version: 0, targets: new Map(), delegations: [], delegationKeys: new Map(), signers: [], dirty: true });
  }

  /** A new root key and its certificate for this GUN, valid from the simulator's clock. */
  newRootSigner(): RootSigner {
    const key = generatePrivateKey('ecdsa');
    return { key, cert: makeRootCertificateKey(this.gun, key, new Date(this.now)) };
  }

  // -------------------------------------------------------------------------------------------
  // Content

  private role(name: string): RoleState {
    const r = this.roles.get(name);
    if (!r) throw new Error(`simulator has no role ${name}`);
    return r;
  }

  /** Add a target with real payload bytes (sha256 + sha512 + length). */
  addTarget(role: string, name: string, payload: Buffer | string): JsonObject {
    const meta = fileMetaOf(Buffer.isBuffer(payload) ? payload : Buffer.from(payload));
    this.addTargetMeta(role, name, meta);
    return meta;
  }

  /** Add a target from its digest, as Docker does (sha256 only). */
  addTargetDigest(role: string, name: string, sha256: Buffer, length: number): void {
    this.addTargetMeta(role, name, fileMetaJson(length, { sha256 }));
  }

  addTargetMeta(role: string, name: string, meta: JsonObject): void {
    const r = this.role(role);
    r.targets.set(name, meta);
    r.dirty = true;
  }

  removeTarget(role: string, name: string): void {
    const r = this.role(role);
    r.targets.delete(name);
    r.dirty = true;
  }

  /** Declare a delegation in `parent`; returns its signing keys. */
  addDelegation(parent: string, name: string, opts: { paths?: string[]; threshold?: number; keys?: PrivateKey[]; keyCount?: number } = {}): PrivateKey[] {
    const p = this.role(parent);
    const threshold = opts.threshold ?? 1;
    const keys = opts.keys ?? Array.from({ length: opts.keyCount ?? threshold }, () => generatePrivateKey('ecdsa'));
    for (const k of keys) p.delegationKeys.set(k.public.id, k.public);
    p.delegations.push({ name, keyids: keys.map((k) => k.public.id), threshold, paths: opts.paths ?? [''] });
    p.dirty = true;
    this.roles.set(name, { name, version: 0, targets: new Map(), delegations: [], delegationKeys: new Map(), signers: keys, dirty: true });
    return keys;
  }

  /** Set a role's absolute expiry (ms); the role is re-signed at the next publish. */
  setExpires(role: 'root' | 'snapshot' | 'timestamp' | string, at: number): void {
    if (role === 'root') {
      this.rootExpires = at;
      this.rootDirty = true;
    } else if (role === 'snapshot') this.snapshotExpires = at;
    else if (role === 'timestamp') this.timestampExpires = at;
    else {
      const r = this.role(role);
      r.expires = at;
      r.dirty = true;
    }
  }

  /** Mark a targets role for re-signing (version + 1) at the next publish. */
  touch(role: string): void {
    if (role === 'root') this.rootDirty = true;
    else this.role(role).dirty = true;
  }

  // -------------------------------------------------------------------------------------------
  // Keys

  /**
   * Replace the root keys. Cross-signed (the default), the next root carries signatures by the
   * old keys too, as notary's rotation does; otherwise only by the new keys.
   */
  rotateRootKeys(opts: { count?: number; threshold?: number; crossSign?: boolean } = {}): RootSigner[] {
    const fresh = Array.from({ length: opts.count ?? 1 }, () => this.newRootSigner());
    if (opts.crossSign !== false) this.rootCosigners = [...this.rootCosigners, ...this.rootKeys];
    this.rootKeys = fresh;
    if (opts.threshold !== undefined) this.rootThreshold = opts.threshold;
    this.rootDirty = true;
    return fresh;
  }

  /** Replace an online role's keys (a new root names them); targets is re-signed with them. */
  rotateKeys(role: OnlineRole, opts: { count?: number; threshold?: number } = {}): PrivateKey[] {
    if (opts.threshold !== undefined) this.thresholds[role] = opts.threshold;
    const fresh = Array.from({ length: opts.count ?? this.thresholds[role] }, () => generatePrivateKey(KEY_TYPE[role]));
    this.keys[role] = fresh;
    this.rootDirty = true;
    if (role === 'targets') this.role('targets').dirty = true;
    return fresh;
  }

  // -------------------------------------------------------------------------------------------
  // Signing and publishing

  private defaultExpiry(kind: keyof typeof DEFAULT_EXPIRY_MS): number {
    return this.now + DEFAULT_EXPIRY_MS[kind];
  }

  /** The `signed` object of the next root. */
  rootSignedNext(version: number): JsonObject {
    const keys = new Map<string, PublicKey>();
    for (const s of this.rootKeys) keys.set(s.cert.id, s.cert);
    for (const role of ['targets', 'snapshot', 'timestamp'] as const) for (const k of this.keys[role]) keys.set(k.public.id, k.public);
    return rootSigned({
      keys: keys.values(),
      roles: {
        root: { keyids: this.rootKeys.map((s) => s.cert.id), threshold: this.rootThreshold },
        targets: { keyids: this.keys.targets.map((k) => k.public.id), threshold: this.thresholds.targets },
        snapshot: { keyids: this.keys.snapshot.map((k) => k.public.id), threshold: this.thresholds.snapshot },
        timestamp: { keyids: this.keys.timestamp.map((k) => k.public.id), threshold: this.thresholds.timestamp },
      },
      version,
      expires: expiryString(this.rootExpires ?? this.defaultExpiry('root')),
    });
  }

  /** Sign any `signed` object with private keys and/or root signers. */
  signDocument<K extends MetadataKind>(kind: K, signed: JsonObject, signers: (PrivateKey | RootSigner)[]): Metadata<Extract<Metadata['body'], { kind: K }>> {
    const keys = signers.map((s) => ('cert' in s ? { key: s.key, keyid: s.cert.id } : { key: s }));
    return signMetadata(kind, signed, keys) as Metadata<Extract<Metadata['body'], { kind: K }>>;
  }

  /** Serve a document under its plain name, by hash, and (for root) by version. */
  private serveDocument(role: string, md: Metadata, byVersion: boolean): void {
    this.served.set(role, md.bytes);
    this.served.set(`${role}.${sha256Hex(md.bytes)}`, md.bytes);
    if (byVersion) this.served.set(`${md.body.version}.${role}`, md.bytes);
  }

  /**
   * Publish: re-sign root if it changed, every changed targets role (version + 1), then a new
   * snapshot and timestamp, and serve them all.
   */
  publish(): void {
    if (this.rootDirty) {
      this.rootVersion++;
      const signers = new Map<string, RootSigner>();
      for (const s of [...this.rootCosigners, ...this.rootKeys]) signers.set(s.cert.id, s);
      this.root = this.signDocument('root', this.rootSignedNext(this.rootVersion), [...signers.values()]);
      this.rootHistory.set(this.rootVersion, this.root);
      this.serveDocument('root', this.root, true);
      this.rootCosigners = [];
      this.rootDirty = false;
    }
    const dirty = [...this.roles.values()].filter((r) => r.dirty).sort((a, b) => a.name.split('/').length - b.name.split('/').length);
    for (const r of dirty) {
      r.version++;
      const signed = targetsSigned({
        targets: Object.fromEntries(r.targets),
        delegationKeys: r.delegationKeys.values(),
        delegations: r.delegations,
        version: r.version,
        expires: expiryString(r.expires ?? this.defaultExpiry('targets')),
      });
      const md = this.signDocument('targets', signed, r.name === 'targets' ? this.keys.targets : r.signers);
      this.targetsFiles.set(r.name, md);
      let h = this.targetsHistory.get(r.name);
      if (!h) this.targetsHistory.set(r.name, (h = new Map()));
      h.set(r.version, md);
      this.serveDocument(r.name, md, true);
      r.dirty = false;
    }
    this.publishSnapshot();
    this.publishTimestamp();
  }

  /** A new snapshot over the current root and targets files (version + 1). */
  publishSnapshot(meta?: JsonObject): Snapshot {
    this.snapshotVersion++;
    const m: JsonObject = meta ?? { root: fileMetaOf(this.root.bytes) };
    if (!meta) for (const [name, md] of this.targetsFiles) m[name] = fileMetaOf(md.bytes);
    this.snapshot = this.signDocument('snapshot', snapshotSigned({ meta: m, version: this.snapshotVersion, expires: expiryString(this.snapshotExpires ?? this.defaultExpiry('snapshot')) }), this.keys.snapshot);
    this.snapshotHistory.set(this.snapshotVersion, this.snapshot);
    this.serveDocument('snapshot', this.snapshot, true);
    return this.snapshot;
  }

  /** A new timestamp (version + 1) naming the given snapshot bytes (default: the current one). */
  publishTimestamp(snapshotBytes: Buffer = this.snapshot.bytes): Timestamp {
    this.timestampVersion++;
    this.timestamp = this.signDocument(
      'timestamp',
      timestampSigned({ snapshotBytes, version: this.timestampVersion, expires: expiryString(this.timestampExpires ?? this.defaultExpiry('timestamp')) }),
      this.keys.timestamp,
    );
    this.timestampHistory.set(this.timestampVersion, this.timestamp);
    this.serveDocument('timestamp', this.timestamp, true);
    return this.timestamp;
  }

  // -------------------------------------------------------------------------------------------
  // Tampering helpers

  /** Serve bytes (or a responder) under a name, e.g. `timestamp` or `snapshot.<sha256>`. */
  serve(name: string, body: Buffer | Responder): void {
    this.served.set(name, body);
  }

  /** The name a client fetches a file by: `<role>.<sha256 of bytes>`. */
  static hashName(role: string, bytes: Buffer): string {
    return `${role}.${sha256Hex(bytes)}`;
  }

  /** The document re-serialised with one signature duplicated (same key ID twice). */
  static duplicateFirstSignature(md: Metadata): Buffer {
    const first = md.signatures[0];
    if (!first) throw new Error('no signature to duplicate');
    return serializeMetadata(md.signed, [first, first]);
  }

  /** Signature objects for a `signed` object, for hand-made documents. */
  static signatures(signed: JsonObject, signers: (PrivateKey | RootSigner)[]) {
    const message = signingBytes(signed);
    return signers.map((s) => ('cert' in s ? sign(s.key, message, s.cert.id) : sign(s, message)));
  }

  /**
   * Serve a folder of real metadata files (e.g. the notary 0.7 fixtures): each `x.json` under its
   * name and by the hash of its bytes (`<v>.root.json` also as `root.<sha256>`).
   */
  serveDirectory(dir: string): void {
    const walk = (rel: string) => {
      for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(r);
        else if (e.name.endsWith('.json')) {
          const bytes = fs.readFileSync(path.join(dir, r));
          const name = r.slice(0, -'.json'.length);
          const versioned = /^[0-9]+\.(.+)$/.exec(name);
          const role = versioned ? (versioned[1] as string) : name;
          this.served.set(name, bytes);
          this.served.set(`${role}.${sha256Hex(bytes)}`, bytes);
          const md = parseMetadata(bytes);
          this.served.set(`${md.body.version}.${role}`, bytes);
        }
      }
    };
    walk('');
  }

  // -------------------------------------------------------------------------------------------
  // HTTP(S)

  /** Start serving on 127.0.0.1; with `tls` over HTTPS; with `auth`, Docker token auth. */
  async start(opts: { tls?: { cert: Buffer; key: Buffer; ca?: Buffer; requireClientCert?: boolean }; auth?: AuthOptions } = {}): Promise<string> {
    this.auth = opts.auth;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024 * 1024) chunks.push(c);
      });
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks)));
    };
    const tls = opts.tls;
    this.server = tls
      ? https.createServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.requireClientCert, rejectUnauthorized: tls.requireClientCert }, handler)
      : http.createServer(handler);
    await new Promise<void>((resolve) => (this.server as http.Server).listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    this.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }

  private challenge(res: http.ServerResponse, scope: string, error?: string): void {
    const a = this.auth as AuthOptions;
    const realm = `${this.url}/token`;
    res.statusCode = 401;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('WWW-Authenticate', `Bearer realm="${realm}",service="${a.service ?? 'notary-sim'}",scope="${scope}"${error ? `,error="${error}"` : ''}`);
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[]}]}\n');
  }

  /** With token auth on: whether the request's bearer token grants `actions` on `resource`. */
  private authorized(req: http.IncomingMessage, res: http.ServerResponse, resource: string, actions: string[]): boolean {
    if (!this.auth) return true;
    const scope = `${resource}:${actions.join(',')}`;
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!m) {
      this.challenge(res, scope);
      return false;
    }
    const t = this.tokens.get(m[1] as string);
    if (!t || t.expires < Date.now() || !t.scope.startsWith(resource + ':')) {
      this.challenge(res, scope, 'invalid_token');
      return false;
    }
    if (!actions.every((a) => t.actions.includes(a) || t.actions.includes('*'))) {
      this.challenge(res, scope, 'insufficient_scope');
      return false;
    }
    return true;
  }

  private issueToken(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const a = this.auth as AuthOptions;
    this.tokenRequests.push(url.search);
    const basic = /^Basic (\S+)$/.exec(req.headers.authorization ?? '');
    const creds = basic ? Buffer.from(basic[1] as string, 'base64').toString('utf8') : null;
    if (creds !== `${a.username}:${a.password}` || url.searchParams.get('account') !== a.username) {
      res.statusCode = 401;
      res.end('{"details":"invalid credentials"}');
      return;
    }
    const scope = url.searchParams.get('scope') ?? '';
    const actions = scope.slice(scope.lastIndexOf(':') + 1).split(',');
    const token = crypto.randomBytes(16).toString('hex');
    this.tokens.set(token, { scope, actions, expires: Date.now() + (a.expiresIn ?? 300) * 1000 });
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ token, expires_in: a.expiresIn ?? 300, issued_at: new Date().toISOString() }));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    this.requests.push(`${req.method} ${req.url}`);
    if (this.hook && this.hook(req, res, body)) return;
    const url = new URL(req.url ?? '/', 'http://sim');
    const pathname = decodeURIComponent(url.pathname);
    if (this.auth && pathname === '/token') {
      this.issueToken(req, res, url);
      return;
    }
    if (this.failWith !== null) {
      res.statusCode = this.failWith;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end('{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}\n');
      return;
    }
    if (pathname === '/v2/') {
      if (!this.authorized(req, res, 'registry:catalog', ['*'])) return;
      res.statusCode = this.pingStatus;
      res.end('{}');
      return;
    }
    const prefix = `/v2/${this.gun}/_trust/tuf/`;
    if (!pathname.startsWith(prefix)) {
      notFound(res);
      return;
    }
    const rest = pathname.slice(prefix.length);
    const repo = `repository:${this.gun}`;
    if (rest === '' && req.method === 'POST') {
      if (!this.authorized(req, res, repo, ['push', 'pull'])) return;
      this.receiveUpload(req, res, body);
      return;
    }
    if (rest === '' && req.method === 'DELETE') {
      if (!this.authorized(req, res, repo, ['*'])) return;
      this.deletions.push(this.gun);
      res.end();
      return;
    }
    const key = /^(timestamp|snapshot)\.key$/.exec(rest);
    if (key) {
      if (!this.authorized(req, res, repo, req.method === 'POST' ? ['*'] : ['push', 'pull'])) return;
      const role = key[1] as 'timestamp' | 'snapshot';
      if (req.method === 'POST') this.keys[role] = [generatePrivateKey(KEY_TYPE[role])];
      const k = this.keys[role][0] as PrivateKey;
      const j = publicKeyJson(k.public.keytype, k.public.publicB64);
      // Go's field order: public before private
      res.end(`{"keytype":"${j.keytype as string}","keyval":{"public":"${k.public.publicB64}","private":null}}`);
      return;
    }
    if (req.method !== 'GET' || !rest.endsWith('.json')) {
      notFound(res);
      return;
    }
    if (!this.authorized(req, res, repo, ['pull'])) return;
    const served = this.served.get(rest.slice(0, -'.json'.length));
    if (served === undefined) {
      notFound(res);
      return;
    }
    if (typeof served === 'function') {
      served(req, res);
      return;
    }
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(served);
  }

  private receiveUpload(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const parts: UploadPart[] = [];
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, preservePath: true });
    } catch {
      res.statusCode = 400;
      res.end('{"errors":[{"code":"MALFORMED_UPLOAD","message":"The body of your request is malformed."}]}\n');
      return;
    }
    bb.on('file', (field, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => parts.push({ field, filename: info.filename ?? '', contentType: info.mimeType, bytes: Buffer.concat(chunks) }));
    });
    bb.on('close', () => {
      this.uploads.push({ gun: this.gun, contentType: req.headers['content-type'] ?? '', parts });
      res.end();
    });
    bb.end(body);
  }
}
