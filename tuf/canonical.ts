/**
 * Canonical JSON exactly as Notary's Go encoder (docker/go/canonical/json) writes it, and a
 * strict JSON parser for data that crosses a trust boundary.
 *
 * Canonical form (spec 2.2): object members sorted by the UTF-8 bytes of their keys, no
 * whitespace, strings escape only `"` and `\`, integers only.
 * File form (spec 2.1): the canonical bytes after Go's HTML-escaping pass (`<>&`, U+2028/9).
 */
import { TufError } from './errors';
import { LIMITS } from './limits';

/** A parsed JSON value. Integers beyond 2^53 stay exact as bigint; other numbers are rejected. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Compare two strings by their UTF-8 bytes (equivalently, by code points). JavaScript's default
 * order is by UTF-16 code units, which puts astral characters (surrogates, 0xD800-0xDFFF) before
 * U+E000..U+FFFF; Go puts them after.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) {
      // a surrogate encodes a code point >= 0x10000, above every BMP code unit
      return sa ? 1 : -1;
    }
    return ca - cb;
  }
  return a.length - b.length;
}

function checkWellFormed(s: string): void {
  // lone surrogates have no UTF-8 form; Go would replace them, changing signed bytes
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) throw new TufError('CANONICAL', 'string holds a lone surrogate');
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw new TufError('CANONICAL', 'string holds a lone surrogate');
    }
  }
}

/** Characters a string's canonical form must look at: the two escaped ones and surrogates. */
const NEEDS_CARE = /["\\\ud800-\udfff]/;
const SURROGATE = /[\ud800-\udfff]/;

function quoted(s: string): string {
  // the common case (hex, base64, names, dates): nothing to escape or check
  if (!NEEDS_CARE.test(s)) return '"' + s + '"';
  if (SURROGATE.test(s)) checkWellFormed(s);
  return '"' + s.replace(/["\\]/g, (m) => '\\' + m) + '"';
}

/** Member names in canonical order: by UTF-8 bytes (compareUtf8). */
function sortedKeys(o: JsonObject): string[] {
  const keys = Object.keys(o);
  // without surrogates, UTF-16 order (the default sort) is UTF-8 byte order
  for (const k of keys) if (SURROGATE.test(k)) return keys.sort(compareUtf8);
  return keys.sort();
}

function writeCanonical(v: JsonValue, depth: number): string {
  if (depth > LIMITS.jsonDepth) throw new TufError('CANONICAL', 'value nested too deeply');
  switch (typeof v) {
    case 'string':
      return quoted(v);
    case 'number':
      if (!Number.isSafeInteger(v)) throw new TufError('CANONICAL', `canonical JSON holds integers only, not ${v}`);
      return String(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      break;
  }
  if (v === null) return 'null';
  let out: string;
  if (Array.isArray(v)) {
    out = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ',';
      out += writeCanonical(v[i] as JsonValue, depth + 1);
    }
    return out + ']';
  }
  if (typeof v !== 'object') throw new TufError('CANONICAL', `not a JSON value: ${typeof v}`);
  out = '{';
  const keys = sortedKeys(v);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (i > 0) out += ',';
    out += quoted(k) + ':' + writeCanonical(v[k] as JsonValue, depth + 1);
  }
  return out + '}';
}

/** Canonical JSON text of a value: the bytes that signatures cover. */
export function canonicalString(v: JsonValue): string {
  return writeCanonical(v, 0);
}

export function canonicalBytes(v: JsonValue): Buffer {
  return Buffer.from(canonicalString(v), 'utf8');
}

/** Go's HTML-safe escaping pass over already-encoded JSON text (encoding/json HTMLEscape). */
export function htmlEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** What Go's encoder writes for a value: canonical form plus HTML escaping. */
export function goJsonString(v: JsonValue): string {
  return htmlEscape(canonicalString(v));
}

// ---------------------------------------------------------------------------------------------
// Strict parser

/** Where the value of a member of the top-level object lies in the text. */
interface MemberSpan {
  start: number;
  end: number;
  /** the text is exactly what canonicalString writes for the parsed value */
  canonical: boolean;
}

/**
 * The parser also notes where the text departs from canonical form (spec 2.2): whitespace,
 * object members out of order, any escape but \" and \\, and `-0`. A value whose text holds no
 * departure is, character for character, what canonicalString writes for the parsed value, so
 * a signature can be checked over that text without serialising the value again.
 */
class Parser {
  private i = 0;
  /** departures from canonical form seen so far */
  private departures = 0;
  /** members of the top-level object (the document), by name */
  readonly members = new Map<string, MemberSpan>();
  constructor(private readonly s: string) {}

  fail(msg: string): never {
    throw new TufError('JSON_PARSE', `invalid JSON at offset ${this.i}: ${msg}`);
  }

  ws(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      // space, tab, line feed, carriage return (NaN past the end stops the loop)
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    // canonical form has no whitespace
    if (i !== this.i) this.departures++;
    this.i = i;
  }

  parseDocument(): JsonValue {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('trailing data');
    return v;
  }

  value(depth: number): JsonValue {
    if (depth > LIMITS.jsonDepth) this.fail('nested too deeply');
    const c = this.s.charCodeAt(this.i);
    switch (c) {
      case 0x7b: // {
        return this.object(depth);
      case 0x5b: // [
        return this.array(depth);
      case 0x22: // "
        return this.string();
      case 0x74: // t
        return this.literal('true', true);
      case 0x66: // f
        return this.literal('false', false);
      case 0x6e: // n
        return this.literal('null', null);
      default:
        if (Number.isNaN(c)) return this.fail('unexpected end of input');
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        return this.fail(`unexpected character ${JSON.stringify(this.s[this.i])}`);
    }
  }

  literal<T extends JsonValue>(word: string, v: T): T {
    if (this.s.startsWith(word, this.i)) {
      this.i += word.length;
      return v;
    }
    return this.fail('bad literal');
  }

  number(): number | bigint {
    const s = this.s;
    const start = this.i;
    let j = start;
    if (s.charCodeAt(j) === 0x2d) j++; // '-'
    const firstDigit = j;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (c < 0x30 || c > 0x39) break;
      j++;
    }
    if (j === firstDigit) this.fail('bad number');
    if (s.charCodeAt(firstDigit) === 0x30 && j - firstDigit > 1) this.fail('leading zero');
    if (j - start > 400) this.fail('number too long');
    const c = s.charCodeAt(j);
    if (c === 0x2e || c === 0x65 || c === 0x45) {
      // TUF metadata holds integers only (Notary's verify path cannot represent anything else)
      throw new TufError('JSON_TYPE', `non-integer number at offset ${start}`);
    }
    this.i = j;
    const text = s.slice(start, j);
    // canonical form writes it as 0
    if (text === '-0') this.departures++;
    const n = Number(text);
    if (Number.isSafeInteger(n)) return n;
    return BigInt(text);
  }

  string(): string {
    // fast path: no escapes
    const start = ++this.i;
    let j = start;
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(j);
      if (Number.isNaN(c)) this.fail('unterminated string');
      if (c === 0x22) {
        this.i = j + 1;
        return s.slice(start, j);
      }
      if (c === 0x5c) break;
      if (c < 0x20) {
        this.i = j;
        this.fail('control character in string');
      }
      j++;
    }
    const parts: string[] = [s.slice(start, j)];
    this.i = j;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (Number.isNaN(c)) this.fail('unterminated string');
      if (c === 0x22) {
        this.i++;
        return parts.join('');
      }
      if (c < 0x20) this.fail('control character in string');
      if (c !== 0x5c) {
        parts.push(s[this.i] as string);
        this.i++;
        continue;
      }
      const e = s[this.i + 1];
      this.i += 2;
      // canonical form escapes only these two
      if (e !== '"' && e !== '\\') this.departures++;
      switch (e) {
        case '"':
          parts.push('"');
          break;
        case '\\':
          parts.push('\\');
          break;
        case '/':
          parts.push('/');
          break;
        case 'b':
          parts.push('\b');
          break;
        case 'f':
          parts.push('\f');
          break;
        case 'n':
          parts.push('\n');
          break;
        case 'r':
          parts.push('\r');
          break;
        case 't':
          parts.push('\t');
          break;
        case 'u': {
          const hex = s.slice(this.i, this.i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
          parts.push(String.fromCharCode(parseInt(hex, 16)));
          this.i += 4;
          break;
        }
        default:
          this.i -= 2;
          this.fail('bad escape');
      }
    }
  }

  array(depth: number): JsonValue[] {
    this.i++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c === 0x5d) return out; // ]
      if (c !== 0x2c) this.fail('expected , or ]');
    }
  }

  object(depth: number): JsonObject {
    this.i++;
    const out: JsonObject = {};
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    let previous: string | undefined;
    for (;;) {
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x22) this.fail('expected string key');
      const k = this.string();
      if (Object.prototype.hasOwnProperty.call(out, k)) this.fail(`duplicate key ${JSON.stringify(k)}`);
      // canonical form sorts members by the UTF-8 bytes of their names
      if (previous !== undefined && compareUtf8(previous, k) > 0) this.departures++;
      previous = k;
      this.ws();
      if (this.s.charCodeAt(this.i++) !== 0x3a) this.fail('expected :');
      this.ws();
      const start = this.i;
      const before = this.departures;
      const v = this.value(depth + 1);
      if (depth === 0) this.members.set(k, { start, end: this.i, canonical: this.departures === before });
      // a key named "__proto__" is data, never the prototype
      if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      else out[k] = v;
      this.ws();
      const c = this.s.charCodeAt(this.i++);
      if (c === 0x7d) return out; // }
      if (c !== 0x2c) this.fail('expected , or }');
    }
  }
}

/** One decoder for every parse: without `stream`, each decode starts afresh, also after an error. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeDocument(input: string | Uint8Array, maxBytes: number): string {
  if (input.length > maxBytes) throw new TufError('JSON_PARSE', `document larger than ${maxBytes} bytes`);
  if (typeof input === 'string') return input;
  try {
    return UTF8.decode(input);
  } catch {
    throw new TufError('JSON_PARSE', 'document is not valid UTF-8');
  }
}

/**
 * Parse JSON strictly: duplicate keys, trailing data, non-integer numbers, invalid UTF-8 and
 * excessive nesting are errors. Integers outside the safe range come back as bigint.
 */
export function parseJson(input: string | Uint8Array, maxBytes: number = LIMITS.maxMetadataBytes): JsonValue {
  return new Parser(decodeDocument(input, maxBytes)).parseDocument();
}

/** A document parsed by parseDocument. */
export interface ParsedDocument {
  value: JsonValue;
  /**
   * The canonical bytes (canonicalBytes) of the value of a member of the top-level object,
   * taken from the document itself when its text there is already in canonical form; null
   * when it is not (or there is no such member), and the value must be serialised instead.
   */
  canonicalMember(name: string): Buffer | null;
}

/** parseJson, and where the document already holds members in canonical form. */
export function parseDocument(input: Uint8Array, maxBytes: number = LIMITS.maxMetadataBytes): ParsedDocument {
  const text = decodeDocument(input, maxBytes);
  const parser = new Parser(text);
  const value = parser.parseDocument();
  return {
    value,
    canonicalMember(name: string): Buffer | null {
      const span = parser.members.get(name);
      if (!span?.canonical) return null;
      // all ASCII: text offsets are byte offsets
      if (text.length === input.length) return Buffer.from(input.buffer, input.byteOffset + span.start, span.end - span.start);
      return Buffer.from(text.slice(span.start, span.end), 'utf8');
    },
  };
}
