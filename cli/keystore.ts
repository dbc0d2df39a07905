/**
 * The private keys of a trust dir, in the files the real notary client reads and writes
 * (spec 3.6): `<trustDir>/private/<canonical key ID>.key`, mode 0600 in a 0700 directory, PEM with
 * `role:` (and for targets/snapshot/timestamp keys `gun:`) headers around an encrypted PKCS#8.
 *
 * Encryption is PBES2 with PBKDF2-HMAC-SHA1 (2048 iterations, 8-byte salt, no PRF element) and
 * AES-256-CBC, built by hand: Node's own export writes an HMAC-SHA256 PRF that notary cannot read.
 * The inner PrivateKeyInfo is written as notary's Go code writes it: ECDSA with version 1 and a
 * SEC1 key, Ed25519 under OID 1.3.6.1.4.1.11591.15.1 with the 96-byte public||seed||public form.
 * Reading also accepts RFC 8410 Ed25519, standard PKCS#8, HMAC-SHA256 PRFs, AES-128-CBC, the
 * legacy `EC PRIVATE KEY` / `ED25519 PRIVATE KEY` / `RSA PRIVATE KEY` blocks (with or without
 * legacy PEM encryption), and the pre-0.4 `root_keys/` and `tuf_keys/` layout, which is migrated
 * on open as notary does.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { children, decodeOid, decodeUnsigned, der, Node, OID, readNode } from '../tuf/asn1';
import { TufError } from '../tuf/errors';
import { PemBlock, pemDecodeAll, pemEncode, PrivateKey, PrivateKeyType, privateKeyFromKeyObject, generatePrivateKey } from '../tuf/keys';
import { isBaseRole } from '../tuf/roles';
import { CliError } from './output';
import { PassphraseSource } from './passphrase';

export const PBKDF2_ITERATIONS = 2048;
/** refuse key files that ask for absurd work or size (a key file is a few hundred bytes) */
const MAX_ITERATIONS = 10_000_000;
const MAX_KEY_FILE_BYTES = 64 * 1024;
const MAX_KEY_FILES = 10_000;

const KEY_ID_RE = /^[0-9a-f]{64}$/;

function keyfileError(msg: string, cause?: unknown): TufError {
  return new TufError('KEYFILE', msg, cause !== undefined ? { cause } : undefined);
}

// ---------------------------------------------------------------------------------------------
// PKCS#8 PrivateKeyInfo, as Go notary writes and reads it

/** The inner PrivateKeyInfo DER of a key, in the form notary's Go code writes. */
export function privateKeyInfoDer(key: PrivateKey): Buffer {
  switch (key.keytype) {
    case 'ecdsa': {
      // version 1 (openssl's habit, kept by notary), SEQUENCE{ecPublicKey, curve}, SEC1 key
      const sec1 = key.keyObject.export({ format: 'der', type: 'sec1' });
      return der.sequence(der.smallInteger(1), der.sequence(der.oid(OID.ecPublicKey), der.oid(OID.prime256v1)), der.octetString(sec1));
    }
    case 'ed25519': {
      // Go form: 32-byte public key then the 64-byte Go private key (seed || public)
      const jwk = key.keyObject.export({ format: 'jwk' });
      const seed = Buffer.from(jwk.d as string, 'base64url');
      const pub = Buffer.from(jwk.x as string, 'base64url');
      return der.sequence(der.smallInteger(0), der.sequence(der.oid(OID.ed25519Go)), der.octetString(Buffer.concat([pub, seed, pub])));
    }
    default: {
      const never: never = key.keytype;
      throw keyfileError(`cannot write ${String(never)} keys`);
    }
  }
}

function ed25519FromSeed(seed: Buffer, expectPublic?: Buffer): crypto.KeyObject {
  // createPrivateKey from a JWK needs `x`; derive it from the seed through a PKCS#8 wrapper instead
  const pkcs8 = der.sequence(der.smallInteger(0), der.sequence(der.oid(OID.ed25519)), der.octetString(der.octetString(seed)));
  const obj = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  if (expectPublic) {
    const x = Buffer.from(crypto.createPublicKey(obj).export({ format: 'jwk' }).x as string, 'base64url');
    if (!x.equals(expectPublic)) throw keyfileError('ed25519 private key does not match its public key');
  }
  return obj;
}

/** Go's 96-byte ed25519 serialisation: public (32) || seed (32) || public (32). */
function ed25519FromGoBytes(raw: Buffer): crypto.KeyObject {
  if (raw.length !== 96) throw keyfileError('malformed ed25519 private key');
  const pub = raw.subarray(0, 32);
  const seed = raw.subarray(32, 64);
  if (!raw.subarray(64, 96).equals(pub)) throw keyfileError('malformed ed25519 private key');
  return ed25519FromSeed(seed, pub);
}

/** Parse a PrivateKeyInfo (any of the forms above) to a node key object. */
export function parsePrivateKeyInfo(info: Buffer): crypto.KeyObject {
  const top = readNode(info);
  if (top.tag !== 0x30) throw keyfileError('PKCS#8 is not a SEQUENCE');
  const [version, algo, priv] = children(top);
  if (!version || version.tag !== 0x02 || !algo || algo.tag !== 0x30 || !priv || priv.tag !== 0x04) {
    throw keyfileError('malformed PKCS#8 PrivateKeyInfo');
  }
  const algParts = children(algo);
  const oidNode = algParts[0];
  if (!oidNode || oidNode.tag !== 0x06) throw keyfileError('PKCS#8 without an algorithm');
  const alg = decodeOid(oidNode.content);
  switch (alg) {
    case OID.ecPublicKey:
      // re-wrap as a version-0 PKCS#8 (Go writes version 1; the SEC1 key inside may omit the
      // curve, which then comes from the AlgorithmIdentifier)
      return crypto.createPrivateKey({ key: der.sequence(der.smallInteger(0), algo.raw, priv.raw), format: 'der', type: 'pkcs8' });
    case OID.ed25519Go:
      return ed25519FromGoBytes(priv.content);
    case OID.ed25519: {
      const inner = readNode(priv.content);
      if (inner.tag !== 0x04) throw keyfileError('malformed ed25519 private key');
      return ed25519FromSeed(inner.content);
    }
    case OID.rsaEncryption:
      return crypto.createPrivateKey({ key: priv.content, format: 'der', type: 'pkcs1' });
    default:
      throw keyfileError(`unsupported private key algorithm ${alg}`);
  }
}

// ---------------------------------------------------------------------------------------------
// PBES2 (PKCS#5 v2) EncryptedPrivateKeyInfo

export function encryptPrivateKeyInfo(info: Buffer, passphrase: string, rand: (n: number) => Buffer = crypto.randomBytes): Buffer {
  const salt = rand(8);
  const iv = rand(16);
  const key = crypto.pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt, PBKDF2_ITERATIONS, 32, 'sha1');
  const cipher = crypto.createCipheriv('aes-256-cbc', key, iv);
  const encrypted = Buffer.concat([cipher.update(info), cipher.final()]);
  // PBKDF2 params are (salt, iterations) only: no key length, no PRF (HMAC-SHA1 is the default)
  const kdf = der.sequence(der.oid(OID.pbkdf2), der.sequence(der.octetString(salt), der.smallInteger(PBKDF2_ITERATIONS)));
  const scheme = der.sequence(der.oid(OID.aes256cbc), der.octetString(iv));
  const algorithm = der.sequence(der.oid(OID.pbes2), der.sequence(kdf, scheme));
  return der.sequence(algorithm, der.octetString(encrypted));
}

const PRF_DIGESTS: Record<string, string> = { [OID.hmacWithSha1]: 'sha1', [OID.hmacWithSha256]: 'sha256', '1.2.840.113549.2.10': 'sha384', '1.2.840.113549.2.11': 'sha512' };
const CIPHERS: Record<string, { name: string; keyLength: number }> = {
  [OID.aes256cbc]: { name: 'aes-256-cbc', keyLength: 32 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24 },
  [OID.aes128cbc]: { name: 'aes-128-cbc', keyLength: 16 },
};

function expect(n: Node | undefined, tag: number, what: string): Node {
  if (!n || n.tag !== tag) throw keyfileError(`malformed encrypted key: ${what}`);
  return n;
}

/** Decrypt an EncryptedPrivateKeyInfo to the inner PrivateKeyInfo; a wrong passphrase throws. */
export function decryptPrivateKeyInfo(encryptedInfo: Buffer, passphrase: string): Buffer {
  const top = expect(readNode(encryptedInfo), 0x30, 'not a SEQUENCE');
  const [algorithm, data] = children(top);
  const algParts = children(expect(algorithm, 0x30, 'algorithm'));
  if (decodeOid(expect(algParts[0], 0x06, 'algorithm OID').content) !== OID.pbes2) throw keyfileError('only PBES2 encrypted keys are supported');
  const [kdf, scheme] = children(expect(algParts[1], 0x30, 'PBES2 parameters'));
  const kdfParts = children(expect(kdf, 0x30, 'key derivation'));
  if (decodeOid(expect(kdfParts[0], 0x06, 'KDF OID').content) !== OID.pbkdf2) throw keyfileError('only PBKDF2 key derivation is supported');
  const params = children(expect(kdfParts[1], 0x30, 'PBKDF2 parameters'));
  const salt = expect(params[0], 0x04, 'salt').content;
  const iterations = decodeUnsigned(expect(params[1], 0x02, 'iterations').content);
  if (iterations < 1 || iterations > MAX_ITERATIONS) throw keyfileError(`refusing PBKDF2 with ${iterations} iterations`);
  let prf = 'sha1';
  let keyLength: number | undefined;
  for (const p of params.slice(2)) {
    if (p.tag === 0x02) keyLength = decodeUnsigned(p.content);
    else if (p.tag === 0x30) {
      const prfOid = decodeOid(expect(children(p)[0], 0x06, 'PRF OID').content);
      const digest = PRF_DIGESTS[prfOid];
      if (!digest) throw keyfileError(`unsupported PBKDF2 PRF ${prfOid}`);
      prf = digest;
    }
  }
  const schemeParts = children(expect(scheme, 0x30, 'encryption scheme'));
  const cipherOid = decodeOid(expect(schemeParts[0], 0x06, 'cipher OID').content);
  const cipher = CIPHERS[cipherOid];
  if (!cipher) throw keyfileError(`unsupported key encryption cipher ${cipherOid}`);
  if (keyLength !== undefined && keyLength !== cipher.keyLength) throw keyfileError('PBKDF2 key length does not fit the cipher');
  const iv = expect(schemeParts[1], 0x04, 'IV').content;
  if (iv.length !== 16) throw keyfileError('malformed encrypted key: IV');
  const ciphertext = expect(data, 0x04, 'encrypted data').content;
  const key = crypto.pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt, iterations, cipher.keyLength, prf);
  try {
    const d = crypto.createDecipheriv(cipher.name, key, iv);
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch (e) {
    throw new WrongPassphraseError(e);
  }
}

export class WrongPassphraseError extends TufError {
  constructor(cause?: unknown) {
    super('KEYFILE', 'incorrect passphrase', cause !== undefined ? { cause } : undefined);
    this.name = 'WrongPassphraseError';
  }
}

// ---------------------------------------------------------------------------------------------
// Legacy PEM encryption (Proc-Type: 4,ENCRYPTED / DEK-Info), OpenSSL's EVP_BytesToKey with MD5

const LEGACY_CIPHERS: Record<string, { name: string; keyLength: number; ivLength: number }> = {
  'DES-EDE3-CBC': { name: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
  'AES-128-CBC': { name: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  'AES-192-CBC': { name: 'aes-192-cbc', keyLength: 24, ivLength: 16 },
  'AES-256-CBC': { name: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
};

function legacyDecrypt(block: PemBlock, passphrase: string): Buffer {
  const dek = block.headers['DEK-Info'] ?? '';
  const [name = '', ivHex = ''] = dek.split(',');
  const c = LEGACY_CIPHERS[name.trim().toUpperCase()];
  if (!c) throw keyfileError(`unsupported legacy PEM cipher ${name}`);
  const iv = Buffer.from(ivHex.trim(), 'hex');
  if (iv.length !== c.ivLength) throw keyfileError('malformed DEK-Info');
  let key = Buffer.alloc(0);
  let prev = Buffer.alloc(0);
  while (key.length < c.keyLength) {
    prev = crypto.createHash('md5').update(Buffer.concat([prev, Buffer.from(passphrase, 'utf8'), iv.subarray(0, 8)])).digest();
    key = Buffer.concat([key, prev]);
  }
  try {
    const d = crypto.createDecipheriv(c.name, key.subarray(0, c.keyLength), iv);
    return Buffer.concat([d.update(block.der), d.final()]);
  } catch (e) {
    throw new WrongPassphraseError(e);
  }
}

// ---------------------------------------------------------------------------------------------
// Key files

export interface DecodedKey {
  keyObject: crypto.KeyObject;
  headers: Record<string, string>;
  encrypted: boolean;
}

function isEncryptedBlock(block: PemBlock): boolean {
  return block.type === 'ENCRYPTED PRIVATE KEY' || /ENCRYPTED/i.test(block.headers['Proc-Type'] ?? '');
}

const PRIVATE_BLOCK_TYPES = new Set(['ENCRYPTED PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'ED25519 PRIVATE KEY', 'RSA PRIVATE KEY']);

/** The first private-key PEM block of a text. */
export function privateKeyBlock(pemText: string): PemBlock {
  let blocks: PemBlock[];
  try {
    blocks = pemDecodeAll(pemText);
  } catch (e) {
    throw keyfileError('not a PEM private key', e);
  }
  const block = blocks.find((b) => PRIVATE_BLOCK_TYPES.has(b.type));
  if (!block) throw keyfileError(blocks.length === 0 ? 'no PEM block found' : `unsupported key type ${JSON.stringify(blocks[0]?.type)}`);
  return block;
}

export function blockIsEncrypted(block: PemBlock): boolean {
  return isEncryptedBlock(block);
}

/**
 * Decode a private-key PEM block; `passphrase` is needed only for encrypted blocks (a missing one
 * throws a KEYFILE error, a wrong one a WrongPassphraseError).
 */
export function decodePrivateKeyBlock(block: PemBlock, passphrase?: string): DecodedKey {
  const encrypted = isEncryptedBlock(block);
  if (encrypted && passphrase === undefined) throw keyfileError('the key is encrypted and no passphrase was given');
  let keyObject: crypto.KeyObject;
  try {
    switch (block.type) {
      case 'ENCRYPTED PRIVATE KEY': {
        const info = decryptPrivateKeyInfo(block.der, passphrase as string);
        try {
          keyObject = parsePrivateKeyInfo(info);
        } catch (e) {
          // a wrong passphrase that happens to leave valid padding lands here
          throw new WrongPassphraseError(e);
        }
        break;
      }
      case 'PRIVATE KEY':
        keyObject = parsePrivateKeyInfo(block.der);
        break;
      case 'EC PRIVATE KEY':
      case 'RSA PRIVATE KEY':
      case 'ED25519 PRIVATE KEY': {
        let body = block.der;
        if (encrypted) {
          body = legacyDecrypt(block, passphrase as string);
        }
        try {
          if (block.type === 'EC PRIVATE KEY') keyObject = crypto.createPrivateKey({ key: body, format: 'der', type: 'sec1' });
          else if (block.type === 'RSA PRIVATE KEY') keyObject = crypto.createPrivateKey({ key: body, format: 'der', type: 'pkcs1' });
          else keyObject = ed25519FromGoBytes(body);
        } catch (e) {
          if (encrypted) throw new WrongPassphraseError(e);
          throw e;
        }
        break;
      }
      default:
        throw keyfileError(`unsupported key type ${JSON.stringify(block.type)}`);
    }
  } catch (e) {
    if (e instanceof TufError) throw e;
    throw keyfileError(`could not decode the private key: ${(e as Error).message}`, e);
  }
  return { keyObject, headers: block.headers, encrypted };
}

/** Decode PEM text to a signing key. */
export function decodePrivateKeyPem(pemText: string, passphrase?: string): { key: PrivateKey; headers: Record<string, string>; encrypted: boolean } {
  const d = decodePrivateKeyBlock(privateKeyBlock(pemText), passphrase);
  return { key: privateKeyFromKeyObject(d.keyObject), headers: d.headers, encrypted: d.encrypted };
}

/** Whether a role's key file carries a `gun` header (spec 3.6). */
export function roleHasGun(role: string): boolean {
  return role === 'targets' || role === 'snapshot' || role === 'timestamp';
}

/**
 * The PEM text of a key file as notary writes it: `role` always, `gun` for targets, snapshot and
 * timestamp keys; encrypted when a passphrase is given (root keys always are).
 */
export function encodePrivateKeyPem(key: PrivateKey, opts: { role: string; gun?: string; passphrase?: string; extraHeaders?: Record<string, string> }): string {
  const headers: Record<string, string> = { ...(opts.extraHeaders ?? {}) };
  if (opts.role) headers.role = opts.role;
  if (opts.gun && roleHasGun(opts.role)) headers.gun = opts.gun;
  const info = privateKeyInfoDer(key);
  if (opts.passphrase !== undefined && opts.passphrase !== '') {
    return pemEncode('ENCRYPTED PRIVATE KEY', encryptPrivateKeyInfo(info, opts.passphrase), headers);
  }
  if (opts.role === 'root') throw keyfileError('root keys are always encrypted');
  return pemEncode('PRIVATE KEY', info, headers);
}

// ---------------------------------------------------------------------------------------------
// The key store of a trust dir

export interface KeyInfo {
  /** canonical key ID (the file name) */
  keyId: string;
  role: string;
  /** empty for root and delegation keys */
  gun: string;
  file: string;
  encrypted: boolean;
}

function writePrivateFile(file: string, text: string): void {
  // write then rename, so a crash never leaves half a key; 0600 from the start
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  fs.renameSync(tmp, file);
}

function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    fs.chmodSync(dir, 0o700);
  } catch {
    // not ours to fix (e.g. read-only); reading still works
  }
}

/** Read at most MAX_KEY_FILE_BYTES of a key file. */
function readKeyFile(file: string): string {
  const st = fs.statSync(file);
  if (st.size > MAX_KEY_FILE_BYTES) throw keyfileError(`${file} is too large to be a key file`);
  return fs.readFileSync(file, 'utf8');
}

export class KeyStore {
  readonly trustDir: string;
  readonly dir: string;
  private readonly passphrases: PassphraseSource;
  private readonly cache = new Map<string, PrivateKey>();

  constructor(trustDir: string, passphrases: PassphraseSource) {
    this.trustDir = trustDir;
    this.dir = path.join(trustDir, 'private');
    this.passphrases = passphrases;
    this.migrateLegacy();
  }

  private fileOf(keyId: string): string {
    if (!KEY_ID_RE.test(keyId)) throw new CliError('USAGE', `invalid key ID ${JSON.stringify(keyId.slice(0, 80))}`);
    return path.join(this.dir, `${keyId}.key`);
  }

  /**
   * Pre-0.4 trust dirs kept keys in `private/root_keys/` and `private/tuf_keys/<gun>/`, named
   * `<id>.key` or `<id>_<role>.key`. Move them to `private/<id>.key` with role and gun headers.
   */
  private migrateLegacy(): void {
    for (const sub of ['root_keys', 'tuf_keys']) {
      const base = path.join(this.dir, sub);
      if (!fs.existsSync(base)) continue;
      const files: string[] = [];
      const walk = (d: string, depth: number) => {
        if (depth > 32 || files.length > MAX_KEY_FILES) return;
        for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, ent.name);
          if (ent.isDirectory()) walk(p, depth + 1);
          else if (ent.isFile() && ent.name.endsWith('.key')) files.push(p);
        }
      };
      walk(base, 0);
      ensurePrivateDir(this.dir);
      for (const file of files) {
        const rel = path.relative(base, file).split(path.sep).join('/');
        let name = path.basename(rel, '.key');
        let role: string | undefined;
        const us = name.lastIndexOf('_');
        if (us >= 0) {
          role = name.slice(us + 1);
          name = name.slice(0, us);
        }
        if (sub === 'root_keys') role = role ?? 'root';
        const gunDir = path.posix.dirname(rel);
        const gun = sub === 'tuf_keys' && gunDir !== '.' ? gunDir : undefined;
        let block: PemBlock;
        try {
          block = privateKeyBlock(readKeyFile(file));
        } catch {
          continue; // not a key we can read: leave it where it is
        }
        const headers = { ...block.headers };
        if (role && !headers.role) headers.role = role;
        if (gun && !headers.gun) headers.gun = gun;
        if (!KEY_ID_RE.test(name)) continue;
        const dest = path.join(this.dir, `${name}.key`);
        if (!fs.existsSync(dest)) writePrivateFile(dest, pemEncode(block.type, block.der, headers));
        fs.rmSync(file);
      }
      fs.rmSync(base, { recursive: true, force: true });
    }
  }

  /** Every key file, in notary's `key list` order. */
  list(): KeyInfo[] {
    if (!fs.existsSync(this.dir)) return [];
    const out: KeyInfo[] = [];
    const names = fs.readdirSync(this.dir).filter((n) => n.endsWith('.key')).slice(0, MAX_KEY_FILES);
    for (const n of names) {
      const keyId = n.slice(0, -4);
      if (!KEY_ID_RE.test(keyId)) continue;
      const info = this.info(keyId);
      if (info) out.push(info);
    }
    // notary's `key list` order: by GUN (root and delegation keys, which have none, first), role, ID
    return out.sort((a, b) => (a.gun < b.gun ? -1 : a.gun > b.gun ? 1 : a.role < b.role ? -1 : a.role > b.role ? 1 : a.keyId < b.keyId ? -1 : 1));
  }

  /** What the file of a key says about it, without decrypting; null when absent or unreadable. */
  info(keyId: string): KeyInfo | null {
    const file = this.fileOf(keyId);
    if (!fs.existsSync(file)) return null;
    try {
      const block = privateKeyBlock(readKeyFile(file));
      return { keyId, role: block.headers.role ?? 'root', gun: block.headers.gun ?? '', file, encrypted: isEncryptedBlock(block) };
    } catch {
      return null;
    }
  }

  has(keyId: string): boolean {
    return KEY_ID_RE.test(keyId) && fs.existsSync(path.join(this.dir, `${keyId}.key`));
  }

  /** The signing key with this canonical ID, decrypted with its passphrase. */
  async get(keyId: string): Promise<PrivateKey> {
    const cached = this.cache.get(keyId);
    if (cached) return cached;
    const file = this.fileOf(keyId);
    if (!fs.existsSync(file)) throw new CliError('KEYS', `signing key not found: ${keyId}`);
    const block = privateKeyBlock(readKeyFile(file));
    const alias = block.headers.role ?? 'root';
    let decoded: DecodedKey | undefined;
    if (!isEncryptedBlock(block)) {
      decoded = decodePrivateKeyBlock(block);
    } else {
      for (let attempt = 0; !decoded; attempt++) {
        const pass = await this.passphrases({ alias, keyId, gun: block.headers.gun, createNew: false, attempt });
        try {
          decoded = decodePrivateKeyBlock(block, pass);
        } catch (e) {
          if (!(e instanceof WrongPassphraseError)) throw e;
        }
      }
    }
    const key = privateKeyFromKeyObject(decoded.keyObject);
    // a file named for another key is not that key
    if (key.public.id !== keyId) throw keyfileError(`key file ${keyId}.key holds key ${key.public.id}`);
    this.cache.set(keyId, key);
    return key;
  }

  /** Store a key under its canonical ID, encrypted with a new passphrase for its role. */
  async add(key: PrivateKey, role: string, gun?: string): Promise<KeyInfo> {
    const keyId = key.public.id;
    const passphrase = await this.passphrases({ alias: role, keyId, gun: roleHasGun(role) ? gun : undefined, createNew: true, attempt: 0 });
    const text = encodePrivateKeyPem(key, { role, gun, passphrase });
    ensurePrivateDir(this.dir);
    const file = this.fileOf(keyId);
    writePrivateFile(file, text);
    this.cache.set(keyId, key);
    return { keyId, role, gun: roleHasGun(role) ? (gun ?? '') : '', file, encrypted: true };
  }

  async generate(keytype: PrivateKeyType, role: string, gun?: string): Promise<PrivateKey> {
    const key = generatePrivateKey(keytype);
    await this.add(key, role, gun);
    return key;
  }

  remove(keyId: string): KeyInfo {
    const info = this.info(keyId);
    if (!info) throw new CliError('NOT_FOUND', `no key with ID ${keyId} in ${this.dir}`);
    fs.rmSync(info.file);
    this.cache.delete(keyId);
    return info;
  }

  /** Root keys we hold (canonical IDs), newest file first. */
  rootKeyIds(): string[] {
    const roots = this.list().filter((k) => k.role === 'root');
    return roots.sort((a, b) => fs.statSync(b.file).mtimeMs - fs.statSync(a.file).mtimeMs).map((k) => k.keyId);
  }

  /**
   * `key export`: the key files (still encrypted) with a `path` header naming the file, so that
   * `key import` (ours or notary's) can put them back.
   */
  exportPem(filter: { keyIds?: string[]; guns?: string[] } = {}): string {
    let keys = this.list();
    if (filter.keyIds && filter.keyIds.length > 0) keys = keys.filter((k) => filter.keyIds?.includes(k.keyId));
    if (filter.guns && filter.guns.length > 0) keys = keys.filter((k) => filter.guns?.includes(k.gun));
    return keys
      .map((k) => {
        const block = privateKeyBlock(readKeyFile(k.file));
        return pemEncode(block.type, block.der, { ...block.headers, path: k.keyId });
      })
      .join('');
  }

  /**
   * `key import`: notary's rules. A block's file name is its `path` header, or for an unencrypted
   * key its key ID; the role is its header, else `fallbackRole`, else `delegation`; a gun is kept
   * only for targets/snapshot/timestamp keys (and required for them); unencrypted keys are
   * encrypted with a new passphrase for their role; root keys must arrive encrypted.
   */
  async importPem(pemText: string, fallback: { role?: string; gun?: string } = {}): Promise<KeyInfo[]> {
    const blocks = pemDecodeAll(pemText).filter((b) => PRIVATE_BLOCK_TYPES.has(b.type));
    if (blocks.length === 0) throw new CliError('USAGE', 'no private key PEM blocks to import');
    const out: KeyInfo[] = [];
    ensurePrivateDir(this.dir);
    for (const block of blocks) {
      const headers = { ...block.headers };
      const role = headers.role || fallback.role || 'delegation';
      let gun = headers.gun || fallback.gun || '';
      if (!roleHasGun(role)) gun = '';
      else if (!gun) throw new CliError('USAGE', `a ${role} key needs a GUN to be imported (use --gun)`);
      const pathHeader = headers.path ? path.posix.basename(headers.path).replace(/\.key$/, '').replace(/_[^_]*$/, '') : '';
      delete headers.path;
      delete headers.gun;
      headers.role = role;
      if (gun) headers.gun = gun;
      const encrypted = isEncryptedBlock(block);
      let keyId: string;
      let text: string;
      if (!encrypted) {
        if (role === 'root') throw new CliError('USAGE', 'refusing to import an unencrypted root key: encrypt it first');
        const { keyObject } = decodePrivateKeyBlock(block);
        const key = privateKeyFromKeyObject(keyObject);
        keyId = key.public.id;
        const passphrase = await this.passphrases({ alias: role, keyId, gun: gun || undefined, createNew: true, attempt: 0 });
        text = encodePrivateKeyPem(key, { role, gun, passphrase });
        this.cache.set(keyId, key);
      } else {
        if (KEY_ID_RE.test(pathHeader)) keyId = pathHeader;
        else {
          // notary refuses encrypted keys without a path header; we learn the ID by decrypting
          // with the role's passphrase (e.g. a key from `key generate -o`)
          let decoded: DecodedKey | undefined;
          for (let attempt = 0; !decoded; attempt++) {
            const pass = await this.passphrases({ alias: role, keyId: 'imported', gun: gun || undefined, createNew: false, attempt });
            try {
              decoded = decodePrivateKeyBlock(block, pass);
            } catch (e) {
              if (!(e instanceof WrongPassphraseError)) throw e;
            }
          }
          const key = privateKeyFromKeyObject(decoded.keyObject);
          keyId = key.public.id;
          this.cache.set(keyId, key);
        }
        text = pemEncode(block.type, block.der, headers);
      }
      const file = this.fileOf(keyId);
      writePrivateFile(file, text);
      out.push({ keyId, role, gun, file, encrypted: true });
    }
    return out;
  }

  /** `key passwd`: decrypt with the old passphrase, re-encrypt with a new one. */
  async changePassphrase(keyId: string): Promise<KeyInfo> {
    const info = this.info(keyId);
    if (!info) throw new CliError('NOT_FOUND', `no key with ID ${keyId} in ${this.dir}`);
    this.cache.delete(keyId);
    const key = await this.get(keyId);
    const passphrase = await this.passphrases({ alias: info.role, keyId, gun: info.gun || undefined, createNew: true, attempt: 0 });
    writePrivateFile(info.file, encodePrivateKeyPem(key, { role: info.role, gun: info.gun, passphrase }));
    return { ...info, encrypted: true };
  }

  /** Drop decrypted keys from memory. */
  forget(): void {
    this.cache.clear();
  }
}

/** Whether an alias is a delegation-style key (not root/targets/snapshot/timestamp). */
export function isDelegationAlias(role: string): boolean {
  return !isBaseRole(role);
}
