/**
 * Test tools for the metadata server: a repository simulator that builds signed Notary
 * repositories in memory (root certificate, targets, delegations, client snapshots), a raw
 * multipart builder, a raw HTTP client (no URL normalisation, so path tricks reach the server
 * as sent), and a server under test: the real app in-process on an ephemeral port, a real
 * SQLite file, the in-process key service.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  DEFAULT_EXPIRY_MS,
  DelegatedRole,
  expiryFrom,
  fileMetaOf,
  generatePrivateKey,
  JsonObject,
  makeRootCertificateKey,
  Metadata,
  parsePublicKey,
  PrivateKey,
  PublicKey,
  Root,
  signMetadata,
  Snapshot,
  snapshotSigned,
  Targets,
  targetsSigned,
} from '../../tuf';
import { LocalKeyService } from '../../signer/local';
import type { KeyService } from '../../signer/api';
import { SqliteStore } from '../../server/storage/sqlite';
import type { TufStore } from '../../server/storage/types';
import { RunningServer, ServerParts, startServer } from '../../server/server';
import { rootWithOneKeyPerRole } from '../helpers/tuf';

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A request exactly as given: the path is not normalised or re-encoded. */
export function request(
  base: string,
  method: string,
  rawPath: string,
  opts: { headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<Response> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: rawPath, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

export interface Part {
  /** the multipart file name (the role); omit for a part without one */
  filename?: string;
  /** the form field name; Notary's client sends `files` */
  name?: string;
  body: Buffer | string;
}

/** A multipart/form-data body as Notary's Go client sends it. */
export function multipart(parts: Part[], boundary = `vouchtest${crypto.randomBytes(8).toString('hex')}`): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let disp = `form-data; name="${p.name ?? 'files'}"`;
    if (p.filename !== undefined) disp += `; filename="${p.filename}"`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\nContent-Type: application/octet-stream\r\n\r\n`));
    chunks.push(Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

// ---------------------------------------------------------------------------------------------
// The server under test

/** A pino destination that keeps every line, so tests can read (and check) the logs. */
export class LogSink extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestServer {
  url: string;
  running: RunningServer;
  store: TufStore;
  keys: KeyService;
  dir: string;
  logs: LogSink;
  /** the clock the server uses; tests move it */
  clock: { now: number };
  close(): Promise<void>;
}

export async function startTestServer(
  opts: Partial<Omit<ServerParts, 'store' | 'log'>> & { keys?: KeyService; dbFile?: string; watchIntervalMs?: number } = {},
): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-server-test-'));
  const store = SqliteStore.open(opts.dbFile ?? path.join(dir, 'server.db'), { watchIntervalMs: opts.watchIntervalMs ?? 100 });
  const keys = opts.keys ?? new LocalKeyService();
  const logs = new LogSink();
  const clock = { now: Date.now() };
  const running = await startServer({
    keyAlgorithm: 'ed25519',
    ...opts,
    store,
    keys,
    log: pino({ level: 'debug' }, logs),
    now: opts.now ?? (() => clock.now),
  });
  return {
    url: running.url,
    running,
    store,
    keys,
    dir,
    logs,
    clock,
    async close() {
      await running.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Repository simulator

export const DAY = 24 * 3600 * 1000;

/** Keys and signed metadata of one GUN, built the way the notary client builds them. */
export class RepoSim {
  rootKey: PrivateKey = generatePrivateKey('ecdsa');
  rootCert: PublicKey;
  targetsKey: PrivateKey = generatePrivateKey('ecdsa');
  /** the client's snapshot key; null when the server holds the snapshot key */
  snapshotKey: PrivateKey | null = generatePrivateKey('ecdsa');
  /** set from the server's GET snapshot.key when the server manages the snapshot */
  serverSnapshotKey: PublicKey | null = null;
  timestampKey: PublicKey | null = null;
  delegationKeys = new Map<string, PrivateKey>();
  now: () => number;

  constructor(readonly gun: string, opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
    this.rootCert = makeRootCertificateKey(gun, this.rootKey, new Date(this.now()));
  }

  /** Ask the server for its timestamp (and, with `serverSnapshot`, snapshot) key, as `notary init` does. */
  async fetchServerKeys(url: string, serverSnapshot = false): Promise<void> {
    const ts = await request(url, 'GET', `/v2/${this.gun}/_trust/tuf/timestamp.key`);
    if (ts.status !== 200) throw new Error(`timestamp.key: ${ts.status} ${ts.text}`);
    this.timestampKey = parsePublicKey(ts.json());
    if (serverSnapshot) {
      const sn = await request(url, 'GET', `/v2/${this.gun}/_trust/tuf/snapshot.key`);
      if (sn.status !== 200) throw new Error(`snapshot.key: ${sn.status} ${sn.text}`);
      this.serverSnapshotKey = parsePublicKey(sn.json());
      this.snapshotKey = null;
    }
  }

  get snapshotPublic(): PublicKey {
    const k = this.serverSnapshotKey ?? this.snapshotKey?.public;
    if (!k) throw new Error('no snapshot key');
    return k;
  }

  expires(role: keyof typeof DEFAULT_EXPIRY_MS, offsetMs = 0): string {
    return expiryFrom(this.now() + offsetMs, DEFAULT_EXPIRY_MS[role]);
  }

  rootSignedBody(version: number, extra: { rootCerts?: PublicKey[]; expires?: string } = {}): JsonObject {
    if (!this.timestampKey) throw new Error('fetch the server keys first');
    const certs = extra.rootCerts ?? [this.rootCert];
    return rootWithOneKeyPerRole({
      root: certs,
      targets: this.targetsKey.public,
      snapshot: this.snapshotPublic,
      timestamp: this.timestampKey,
      version,
      expires: extra.expires ?? this.expires('root'),
    });
  }

  root(version = 1, signers: Array<{ key: PrivateKey; cert: PublicKey }> = [{ key: this.rootKey, cert: this.rootCert }], body?: JsonObject): Root {
    return signMetadata('root', body ?? this.rootSignedBody(version), signers.map((s) => ({ key: s.key, keyid: s.cert.id })));
  }

  targets(version: number, targets: JsonObject = {}, delegations: Array<{ name: string; key: PrivateKey; paths?: string[] }> = [], opts: { expires?: string; key?: PrivateKey } = {}): Targets {
    for (const d of delegations) this.delegationKeys.set(d.name, d.key);
    const roles: DelegatedRole[] = delegations.map((d) => ({ name: d.name, keyids: [d.key.public.id], threshold: 1, paths: d.paths ?? [''] }));
    return signMetadata(
      'targets',
      targetsSigned({ targets, delegationKeys: delegations.map((d) => d.key.public), delegations: roles, version, expires: opts.expires ?? this.expires('targets') }),
      [{ key: opts.key ?? this.targetsKey }],
    );
  }

  delegation(
    name: string,
    version: number,
    targets: JsonObject = {},
    children: Array<{ name: string; key: PrivateKey; paths?: string[] }> = [],
    opts: { key?: PrivateKey; expires?: string } = {},
  ): Targets {
    const key = opts.key ?? this.delegationKeys.get(name);
    if (!key) throw new Error(`no key for ${name}`);
    for (const d of children) this.delegationKeys.set(d.name, d.key);
    const roles: DelegatedRole[] = children.map((d) => ({ name: d.name, keyids: [d.key.public.id], threshold: 1, paths: d.paths ?? [''] }));
    return signMetadata(
      'targets',
      targetsSigned({ targets, delegationKeys: children.map((d) => d.key.public), delegations: roles, version, expires: opts.expires ?? this.expires('targets') }),
      [{ key }],
    );
  }

  /** A client-signed snapshot over the exact bytes of `files` (role -> document). */
  snapshot(version: number, files: Record<string, Metadata | Buffer>, opts: { expires?: string; key?: PrivateKey } = {}): Snapshot {
    const key = opts.key ?? this.snapshotKey;
    if (!key) throw new Error('the server holds the snapshot key');
    const meta: JsonObject = {};
    for (const [role, f] of Object.entries(files)) meta[role] = fileMetaOf(Buffer.isBuffer(f) ? f : f.bytes);
    return signMetadata('snapshot', snapshotSigned({ meta, version, expires: opts.expires ?? this.expires('snapshot') }), [{ key }]);
  }
}

/** A target's file meta for some bytes. */
export function targetMeta(content: string): JsonObject {
  return fileMetaOf(Buffer.from(content));
}

export function sha256(b: Buffer | string): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** POST the given documents (role -> document) as one publish. */
export function publish(url: string, gun: string, files: Record<string, Metadata | Buffer | string>, extraParts: Part[] = []): Promise<Response> {
  const parts: Part[] = Object.entries(files).map(([role, f]) => ({ filename: role, body: typeof f === 'string' || Buffer.isBuffer(f) ? f : f.bytes }));
  const { body, contentType } = multipart([...parts, ...extraParts]);
  return request(url, 'POST', `/v2/${gun}/_trust/tuf/`, { headers: { 'Content-Type': contentType }, body });
}

/** Every stored file of a GUN (role -> versions), to prove a refused request changed nothing. */
export async function storedState(store: TufStore, gun: string): Promise<string> {
  const out: string[] = [];
  for (const role of ['root', 'targets', 'snapshot', 'timestamp', 'targets/releases', 'targets/a', 'targets/a/b']) {
    const f = await store.getCurrent(gun, role);
    if (f) out.push(`${role}@${f.version}:${f.sha256}`);
  }
  const changes = await store.changes({ gun, changeId: '', records: 1000 });
  out.push(`changes:${changes.length}`);
  return out.join(' ');
}

/**
 * The in-process key service with switches a test can flip: a slow signer (to make publishes
 * overlap), a key holder that is down, or one that refuses to create keys.
 */
export class SwitchableKeyService implements KeyService {
  readonly inner = new LocalKeyService();
  signDelayMs = 0;
  down = false;
  signCalls = 0;

  private check(): void {
    if (this.down) throw new Error('rpc error: code = Unavailable desc = connection refused');
  }
  async createKey(...args: Parameters<KeyService['createKey']>) {
    this.check();
    return this.inner.createKey(...args);
  }
  async getKeyInfo(keyId: string) {
    this.check();
    return this.inner.getKeyInfo(keyId);
  }
  async sign(keyId: string, message: Buffer) {
    this.check();
    this.signCalls++;
    if (this.signDelayMs > 0) await new Promise((r) => setTimeout(r, this.signDelayMs));
    return this.inner.sign(keyId, message);
  }
  async deleteGunKeys(gun: string) {
    this.check();
    return this.inner.deleteGunKeys(gun);
  }
  async health() {
    this.check();
  }
  async close() {}
}
