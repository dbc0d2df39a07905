/**
 * Minimal DER: enough to build root certificates (spec 3.4) and PKCS#8 key files that Go reads
 * (spec 3.6), and to take them apart again. Pure, no I/O.
 */
import { TufError } from './errors';

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export const der = {
  sequence: (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items)),
  set: (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items)),
  boolean: (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0x00])),
  null: (): Buffer => Buffer.from([0x05, 0x00]),
  octetString: (b: Buffer): Buffer => tlv(0x04, b),
  bitString: (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b])),
  printableString: (s: string): Buffer => tlv(0x13, Buffer.from(s, 'latin1')),
  utf8String: (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8')),
  /** explicit context-specific tag [n] */
  explicit: (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner),
  /** a non-negative integer from unsigned big-endian bytes */
  unsignedInteger(bytes: Buffer): Buffer {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    let b = bytes.subarray(i);
    if (b.length === 0) b = Buffer.from([0]);
    if ((b[0] as number) & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return tlv(0x02, b);
  },
  smallInteger(n: number): Buffer {
    const hex = n.toString(16);
    return der.unsignedInteger(Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex'));
  },
  oid(dotted: string): Buffer {
    const parts = dotted.split('.').map(Number);
    const first = parts[0] as number;
    const second = parts[1] as number;
    const out: number[] = [first * 40 + second];
    for (const p of parts.slice(2)) {
      const chunk: number[] = [p & 0x7f];
      let v = Math.floor(p / 128);
      while (v > 0) {
        chunk.unshift((v & 0x7f) | 0x80);
        v = Math.floor(v / 128);
      }
      out.push(...chunk);
    }
    return tlv(0x06, Buffer.from(out));
  },
  /** X.509 Time: UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 4.1.2.5) */
  time(d: Date): Buffer {
    const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
    const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
    if (d.getUTCFullYear() < 2050) return tlv(0x17, Buffer.from(digits.slice(2) + 'Z', 'latin1'));
    return tlv(0x18, Buffer.from(digits + 'Z', 'latin1'));
  },
};

export interface Node {
  tag: number;
  /** the content bytes */
  content: Buffer;
  /** the whole TLV */
  raw: Buffer;
}

/** Read one TLV at `offset`; throws a KEYFILE error on anything malformed. */
export function readNode(buf: Buffer, offset = 0): Node & { end: number } {
  const bad = (msg: string): never => {
    throw new TufError('KEYFILE', `malformed DER: ${msg}`);
  };
  if (offset + 2 > buf.length) bad('truncated header');
  const tag = buf[offset] as number;
  let len = buf[offset + 1] as number;
  let hdr = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) bad('unsupported length');
    if (offset + 2 + n > buf.length) bad('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[offset + 2 + i] as number);
    hdr += n;
  }
  const end = offset + hdr + len;
  if (end > buf.length) bad('truncated content');
  return { tag, content: buf.subarray(offset + hdr, end), raw: buf.subarray(offset, end), end };
}

/** The children of a constructed node. */
export function children(node: Node): Node[] {
  const out: Node[] = [];
  let off = 0;
  while (off < node.content.length) {
    const n = readNode(node.content, off);
    out.push(n);
    off = n.end;
  }
  return out;
}

export function decodeOid(content: Buffer): string {
  if (content.length === 0) throw new TufError('KEYFILE', 'malformed DER: empty OID');
  const first = content[0] as number;
  const parts = [Math.floor(first / 40), first % 40];
  let v = 0;
  for (const b of content.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

export function decodeUnsigned(content: Buffer): number {
  if (content.length > 6) throw new TufError('KEYFILE', 'malformed DER: integer too large');
  return content.reduce((acc, b) => acc * 256 + b, 0);
}

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ed25519: '1.3.101.112',
  ed25519Go: '1.3.6.1.4.1.11591.15.1',
  commonName: '2.5.4.3',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha1: '1.2.840.113549.2.7',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256cbc: '2.16.840.1.101.3.4.1.42',
  aes128cbc: '2.16.840.1.101.3.4.1.2',
} as const;
