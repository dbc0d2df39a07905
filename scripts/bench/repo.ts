/**
 * Identical repositories for every server under test, built with tuf/ and published as the Go
 * client publishes (client-held root, targets and snapshot keys; the server holds the timestamp
 * key and makes the timestamp).
 *
 * The keys, the root certificate, the expiry strings and the tags are made once per bench run
 * and shared by every server, so the content and the sizes of what each server stores and serves
 * are the same. The one difference is the timestamp key each server's own signer creates: it
 * changes the key ID and key bytes in root.json, never their length (ECDSA P-256 everywhere).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JsonObject, parseJson } from '../../tuf/canonical';
import { DEFAULT_EXPIRY_MS } from '../../tuf/limits';
import { fileMetaJson, fileMetaOf, parseMetadata, rootSigned, signMetadata, snapshotSigned, targetsSigned } from '../../tuf/metadata';
import { checkFileMeta, verifyThreshold } from '../../tuf/verify';
import { generatePrivateKey, parsePublicKey, pemEncode, PrivateKey, PublicKey } from '../../tuf/keys';
import { expiryFrom } from '../../tuf/time';
import { makeRootCertificateKey } from '../../tuf/x509';
import { HttpsClient } from './http';

const TIMESTAMP_KEY_WAIT_MS = 30_000;

/** Everything that is the same on every server: keys, expiries, GUN and tags. */
export interface RepoSpec {
  gun: string;
  tagCount: number;
  root: PrivateKey;
  rootCert: PublicKey;
  targets: PrivateKey;
  snapshot: PrivateKey;
  expires: { root: string; targets: string; snapshot: string };
}

export function makeRepoSpec(gun: string, tagCount: number, at: number = Date.now()): RepoSpec {
  // whole seconds: Go writes no fraction then, so the expiry strings (and sizes) are the same every run
  const now = Math.floor(at / 1000) * 1000;
  const root = generatePrivateKey('ecdsa');
  return {
    gun,
    tagCount,
    root,
    rootCert: makeRootCertificateKey(gun, root, new Date(now)),
    targets: generatePrivateKey('ecdsa'),
    snapshot: generatePrivateKey('ecdsa'),
    expires: {
      root: expiryFrom(now, DEFAULT_EXPIRY_MS.root),
      targets: expiryFrom(now, DEFAULT_EXPIRY_MS.targets),
      snapshot: expiryFrom(now, DEFAULT_EXPIRY_MS.snapshot),
    },
  };
}

/** A deterministic tag: the same name, length and digest on every server and in every run. */
export function tagName(i: number): string {
  return `release-${String(i).padStart(6, '0')}`;
}

function tagMeta(name: string): JsonObject {
  const digest = crypto.createHash('sha256').update(`image manifest of ${name}`).digest();
  return fileMetaJson(1000 + (digest[0] ?? 0), { sha256: digest });
}

/** What one server holds of one repository, as the publishing client tracks it. */
export class PublishedRepo {
  /** target name -> file meta, in insertion order */
  private readonly tags = new Map<string, JsonObject>();
  private version = 0;
  private rootBytes: Buffer = Buffer.alloc(0);
  /** bytes of the last targets.json this client published */
  lastTargets: Buffer = Buffer.alloc(0);
  timestampKey: PublicKey | null = null;

  constructor(
    readonly spec: RepoSpec,
    readonly client: HttpsClient,
  ) {}

  get gun(): string {
    return this.spec.gun;
  }

  get tagCount(): number {
    return this.tags.size;
  }

  private path(file: string): string {
    return `/v2/${this.spec.gun}/_trust/tuf/${file}`;
  }

  /** Ask the server for its timestamp key, then publish root v1, targets v1 and snapshot v1. */
  async create(): Promise<void> {
    this.timestampKey = await this.fetchTimestampKey();
    const s = this.spec;
    const role = (k: PublicKey) => ({ keyids: [k.id], threshold: 1 });
    const root = signMetadata(
      'root',
      rootSigned({
        keys: [s.rootCert, s.targets.public, s.snapshot.public, this.timestampKey],
        roles: { root: role(s.rootCert), targets: role(s.targets.public), snapshot: role(s.snapshot.public), timestamp: role(this.timestampKey) },
        version: 1,
        expires: s.expires.root,
      }),
      [{ key: s.root, keyid: s.rootCert.id }],
    );
    this.rootBytes = root.bytes;
    for (let i = 1; i <= s.tagCount; i++) {
      const name = tagName(i);
      this.tags.set(name, tagMeta(name));
    }
    const files = this.signTargetsAndSnapshot();
    await this.post([{ role: 'root', bytes: root.bytes }, ...files]);
  }

  /**
   * GET timestamp.key. notary-server may report healthy a few seconds before its signer
   * connection works (it answers 500 meanwhile), so 5xx answers are retried for a while.
   */
  private async fetchTimestampKey(): Promise<PublicKey> {
    const deadline = Date.now() + TIMESTAMP_KEY_WAIT_MS;
    for (;;) {
      const res = await this.client.get(this.path('timestamp.key'));
      if (res.status === 200) return parsePublicKey(parseJson(res.body));
      if (res.status < 500 || Date.now() > deadline) {
        throw new Error(`GET timestamp.key of ${this.gun} from ${this.client.baseUrl}: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * Add the next tag: targets and snapshot one version up, signed by the client's keys, ready
   * to POST. Signing is client work and is not part of the timed request.
   */
  prepareNextTag(name: string = tagName(this.tags.size + 1)): Array<{ role: string; bytes: Buffer }> {
    this.tags.set(name, tagMeta(name));
    return this.signTargetsAndSnapshot();
  }

  /** The version the last prepared (or published) targets and snapshot carry. */
  get currentVersion(): number {
    return this.version;
  }

  /** Whether the last prepared targets list this tag. */
  hasTag(name: string): boolean {
    return this.tags.has(name);
  }

  /** A second client of the same repository (e.g. through another server process), in the same state. */
  clone(client: HttpsClient): PublishedRepo {
    const other = new PublishedRepo(this.spec, client);
    other.adoptStateOf(this);
    return other;
  }

  /** Take over another client's view (after its publish won a race against ours). */
  adoptStateOf(other: PublishedRepo): void {
    this.tags.clear();
    for (const [k, v] of other.tags) this.tags.set(k, v);
    this.version = other.version;
    this.rootBytes = other.rootBytes;
    this.lastTargets = other.lastTargets;
    this.timestampKey = other.timestampKey;
  }

  /** POST the files; resolve with the request's duration in ms (throws unless 200). */
  async post(files: Array<{ role: string; bytes: Buffer }>): Promise<number> {
    const t0 = process.hrtime.bigint();
    const res = await this.client.postMetadata(this.gun, files);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res.status !== 200) throw new Error(`publish to ${this.client.baseUrl} ${this.gun}: HTTP ${res.status} ${res.body.toString().slice(0, 500)}`);
    return ms;
  }

  private signTargetsAndSnapshot(): Array<{ role: string; bytes: Buffer }> {
    const s = this.spec;
    this.version++;
    const targetsJson: JsonObject = {};
    for (const [name, meta] of this.tags) targetsJson[name] = meta;
    const targets = signMetadata('targets', targetsSigned({ targets: targetsJson, version: this.version, expires: s.expires.targets }), [{ key: s.targets }]);
    const snapshot = signMetadata(
      'snapshot',
      snapshotSigned({ meta: { root: fileMetaOf(this.rootBytes), targets: fileMetaOf(targets.bytes) }, version: this.version, expires: s.expires.snapshot }),
      [{ key: s.snapshot }],
    );
    this.lastTargets = targets.bytes;
    return [
      { role: 'targets', bytes: targets.bytes },
      { role: 'snapshot', bytes: snapshot.bytes },
    ];
  }

  /** GET one current metadata file of this repository from `client` (default: the publishing one). */
  async fetch(role: string, client: HttpsClient = this.client): Promise<Buffer> {
    const res = await client.get(this.path(`${role}.json`));
    if (res.status !== 200) throw new Error(`GET ${role}.json of ${this.gun} from ${client.baseUrl}: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
    return res.body;
  }

  /**
   * Check what a client would get from `client` before anything is measured: a timestamp
   * signed by the server's timestamp key, naming the snapshot served (hashes and length), a
   * snapshot signed by the client's snapshot key naming the targets served, and those targets
   * byte-identical to the last ones published. Returns the sizes served.
   */
  async verifyServed(client: HttpsClient = this.client): Promise<{ timestamp: number; snapshot: number; targets: number }> {
    if (!this.timestampKey) throw new Error('repository not created yet');
    const what = `${this.gun} from ${client.baseUrl}`;
    const tsBytes = await this.fetch('timestamp', client);
    const ts = parseMetadata(tsBytes, 'timestamp');
    verifyThreshold(ts, new Map([[this.timestampKey.id, this.timestampKey]]), { keyids: [this.timestampKey.id], threshold: 1 }, 'timestamp');
    const snapBytes = await this.fetch('snapshot', client);
    checkFileMeta(snapBytes, ts.body.snapshot, `snapshot of ${what}`);
    const snap = parseMetadata(snapBytes, 'snapshot');
    const snapKey = this.spec.snapshot.public;
    verifyThreshold(snap, new Map([[snapKey.id, snapKey]]), { keyids: [snapKey.id], threshold: 1 }, 'snapshot');
    const targetsMeta = snap.body.meta.get('targets');
    if (!targetsMeta) throw new Error(`snapshot of ${what} names no targets`);
    const targets = await this.fetch('targets', client);
    checkFileMeta(targets, targetsMeta, `targets of ${what}`);
    if (!targets.equals(this.lastTargets)) throw new Error(`targets.json of ${what} is not the one last published`);
    return { timestamp: tsBytes.length, snapshot: snapBytes.length, targets: targets.length };
  }

  /**
   * Write the client-held targets and snapshot keys into a notary trust dir (spec 3.6:
   * `private/<key ID>.key`, PEM headers `gun` and `role`), so the real `notary` CLI can publish
   * into this repository. Unencrypted PKCS#8, which the Go client reads as it is.
   */
  static writeNotaryKeys(spec: RepoSpec, trustDir: string): void {
    const dir = path.join(trustDir, 'private');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const [role, key] of [
      ['targets', spec.targets],
      ['snapshot', spec.snapshot],
    ] as const) {
      const der = key.keyObject.export({ format: 'der', type: 'pkcs8' });
      fs.writeFileSync(path.join(dir, `${key.public.id}.key`), pemEncode('PRIVATE KEY', der, { gun: spec.gun, role }), { mode: 0o600 });
    }
  }
}
