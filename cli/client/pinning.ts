/**
 * Trust pinning (spec 5.7, notary's trustpinning/trustpin.go): which root certificates a client
 * accepts when it has no trusted root of its own for a GUN.
 *
 * Precedence for a GUN: pinned certificate IDs for the exact GUN, else for the longest `prefix*`
 * entry; else a pinned CA bundle for the longest matching prefix; else trust on first use,
 * unless `disable_tofu` is set. Once a root is cached it is the pin: later roots must be signed
 * by it (spec 3.5) and pins are not consulted again, except when the cached root has expired
 * and a fresh one must be bootstrapped (then pins apply but `disable_tofu` does not).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { keyCertificates, LIMITS, pemDecodeAll, PublicKey } from '../../tuf';

export interface TrustPinConfig {
  /** GUN or `prefix*` -> TUF key IDs of accepted root certificates (leaf + intermediates) */
  certs: ReadonlyMap<string, readonly string[]>;
  /** GUN prefix -> PEM bundle file of CAs a root certificate must chain to */
  ca: ReadonlyMap<string, string>;
  disableTofu: boolean;
}

export const NO_PINNING: TrustPinConfig = { certs: new Map(), ca: new Map(), disableTofu: false };

export type PinningErrorCode = 'PIN_CONFIG' | 'PIN_CA' | 'PIN_TOFU_DISABLED';

export class PinningError extends Error {
  readonly code: PinningErrorCode;
  constructor(code: PinningErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PinningError';
    this.code = code;
  }
}

const MAX_PIN_ENTRIES = 4096;
const MAX_CA_FILE_BYTES = 1024 * 1024;
const DAY_MS = 24 * 3600 * 1000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A member by case-insensitive name (viper reads notary's config keys case-insensitively). */
function member(obj: Record<string, unknown>, name: string): unknown {
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** Read the `trust_pinning` section of notary's config.json (spec 5.2); absent means TOFU. */
export function parseTrustPinning(section: unknown): TrustPinConfig {
  if (section === undefined || section === null) return NO_PINNING;
  if (!isRecord(section)) throw new PinningError('PIN_CONFIG', 'trust_pinning must be an object');
  const certs = new Map<string, string[]>();
  const rawCerts = member(section, 'certs');
  if (rawCerts !== undefined && rawCerts !== null) {
    if (!isRecord(rawCerts)) throw new PinningError('PIN_CONFIG', 'trust_pinning.certs must map GUNs to lists of key IDs');
    for (const [gun, ids] of Object.entries(rawCerts)) {
      if (certs.size >= MAX_PIN_ENTRIES) throw new PinningError('PIN_CONFIG', 'too many trust_pinning.certs entries');
      const list = typeof ids === 'string' ? [ids] : ids;
      if (!Array.isArray(list) || !list.every((id) => typeof id === 'string') || list.length > MAX_PIN_ENTRIES) {
        throw new PinningError('PIN_CONFIG', `trust_pinning.certs[${JSON.stringify(gun)}] must be a list of key IDs`);
      }
      certs.set(gun, list.map((id) => (id as string).toLowerCase()));
    }
  }
  const ca = new Map<string, string>();
  const rawCa = member(section, 'ca');
  if (rawCa !== undefined && rawCa !== null) {
    if (!isRecord(rawCa)) throw new PinningError('PIN_CONFIG', 'trust_pinning.ca must map GUN prefixes to CA bundle files');
    for (const [prefix, file] of Object.entries(rawCa)) {
      if (ca.size >= MAX_PIN_ENTRIES) throw new PinningError('PIN_CONFIG', 'too many trust_pinning.ca entries');
      if (typeof file !== 'string' || file === '') throw new PinningError('PIN_CONFIG', `trust_pinning.ca[${JSON.stringify(prefix)}] must be a file path`);
      ca.set(prefix, file);
    }
  }
  const tofu = member(section, 'disable_tofu');
  if (tofu !== undefined && typeof tofu !== 'boolean') throw new PinningError('PIN_CONFIG', 'trust_pinning.disable_tofu must be true or false');
  return { certs, ca, disableTofu: tofu === true };
}

/** How a GUN's first root is judged. */
export type PinMode = 'certs' | 'ca' | 'tofu';

export interface RootPin {
  mode: PinMode;
  /** where the pin came from: the certs/ca entry name, or "" for TOFU */
  entry: string;
  /** the root-role certificate keys the pin accepts (for tuf's verifyRoot `pin`) */
  filter(leaves: PublicKey[]): PublicKey[];
}

/** The pinned IDs for a GUN: an exact entry, else the longest `prefix*` entry. */
function certsFor(config: TrustPinConfig, gun: string): { entry: string; ids: readonly string[] } | null {
  const exact = config.certs.get(gun);
  if (exact) return { entry: gun, ids: exact };
  let best: { entry: string; ids: readonly string[] } | null = null;
  for (const [entry, ids] of config.certs) {
    if (!entry.endsWith('*')) continue;
    if (gun.startsWith(entry.slice(0, -1)) && (best === null || entry.length > best.entry.length)) best = { entry, ids };
  }
  return best;
}

/** The CA bundle for a GUN: the longest matching prefix. */
function caFor(config: TrustPinConfig, gun: string): { entry: string; file: string } | null {
  let best: { entry: string; file: string } | null = null;
  for (const [entry, file] of config.ca) {
    if (gun.startsWith(entry) && (best === null || entry.length >= best.entry.length)) best = { entry, file };
  }
  return best;
}

function usesWeakCrypto(cert: crypto.X509Certificate): boolean {
  const raw = cert.raw.toString('hex');
  if (raw.includes('06072a8648ce3d0401') || raw.includes('06092a864886f70d010105')) return true; // SHA-1
  const k = cert.publicKey;
  return k.asymmetricKeyType === 'rsa' && (k.asymmetricKeyDetails?.modulusLength ?? 0) < 2048;
}

function validAt(cert: crypto.X509Certificate, now: number): boolean {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  // one day of tolerance on NotBefore, as notary's certificate checks allow
  return from <= to && from <= now + DAY_MS && to > now;
}

/** Load a pinned CA bundle: PEM certificates only; expired or weak CAs are ignored. */
export function loadCaBundle(file: string, now: number): crypto.X509Certificate[] {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (st.size > MAX_CA_FILE_BYTES) throw new Error(`larger than ${MAX_CA_FILE_BYTES} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new PinningError('PIN_CA', `could not load root cert from CA path ${file}: ${(e as Error).message}`, { cause: e });
  }
  let blocks;
  try {
    blocks = pemDecodeAll(text, 256);
  } catch (e) {
    throw new PinningError('PIN_CA', `CA bundle ${file} is not valid PEM`, { cause: e });
  }
  if (blocks.length === 0) throw new PinningError('PIN_CA', `CA bundle ${file} holds no certificates`);
  const out: crypto.X509Certificate[] = [];
  for (const b of blocks) {
    if (b.type !== 'CERTIFICATE') throw new PinningError('PIN_CA', `CA bundle ${file} holds a ${b.type} block`);
    let cert: crypto.X509Certificate;
    try {
      cert = new crypto.X509Certificate(b.der);
    } catch (e) {
      throw new PinningError('PIN_CA', `CA bundle ${file} holds an unreadable certificate`, { cause: e });
    }
    if (validAt(cert, now) && !usesWeakCrypto(cert)) out.push(cert);
  }
  if (out.length === 0) throw new PinningError('PIN_CA', `invalid CA certs provided in ${file}: none is currently valid`);
  return out;
}

function issuedBy(child: crypto.X509Certificate, parent: crypto.X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/**
 * Whether `leaf` chains to one of `cas`, through the key's own intermediates (each a currently
 * valid CA certificate, used at most once). Bounded by the certificates per key.
 */
export function chainsToCa(leaf: crypto.X509Certificate, intermediates: crypto.X509Certificate[], cas: crypto.X509Certificate[], now: number): boolean {
  if (!validAt(leaf, now)) return false;
  const walk = (cert: crypto.X509Certificate, unused: crypto.X509Certificate[], depth: number): boolean => {
    if (cas.some((ca) => ca.raw.equals(cert.raw) || issuedBy(cert, ca))) return true;
    if (depth >= LIMITS.maxCertificatesPerKey) return false;
    return unused.some((int, i) => int.ca && validAt(int, now) && issuedBy(cert, int) && walk(int, unused.filter((_, j) => j !== i), depth + 1));
  };
  return walk(leaf, intermediates, 0);
}

/**
 * The pin check for a GUN. `firstContact` is true when no root of this GUN was ever trusted:
 * only then does `disable_tofu` refuse an unpinned GUN.
 */
export function rootPinFor(config: TrustPinConfig, gun: string, opts: { firstContact: boolean; now: number }): RootPin {
  const certs = certsFor(config, gun);
  if (certs) {
    const ids = new Set(certs.ids);
    // the TUF key ID of an x509 root key covers the leaf and its intermediates (spec 5.7)
    return { mode: 'certs', entry: certs.entry, filter: (leaves) => leaves.filter((k) => ids.has(k.id)) };
  }
  const ca = caFor(config, gun);
  if (ca) {
    const cas = loadCaBundle(ca.file, opts.now);
    return {
      mode: 'ca',
      entry: ca.entry,
      filter: (leaves) =>
        leaves.filter((k) => {
          const chain = keyCertificates(k);
          if (!chain || chain.length === 0) return false;
          return chainsToCa(chain[0] as crypto.X509Certificate, chain.slice(1), cas, opts.now);
        }),
    };
  }
  if (config.disableTofu && opts.firstContact) {
    throw new PinningError('PIN_TOFU_DISABLED', `trust on first use is disabled and no trust pinning matches ${gun}`);
  }
  return { mode: 'tofu', entry: '', filter: (leaves) => leaves };
}
