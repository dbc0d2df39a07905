import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalBytes, canonicalString, compareUtf8, goJsonString, JsonObject, JsonValue, parseDocument, parseJson, TufError, computeKeyId } from '../../tuf';
import { fixture, FIXTURES } from '../helpers/fixtures';

function parseError(input: string | Buffer): TufError {
  try {
    parseJson(input);
  } catch (e) {
    expect(e).toBeInstanceOf(TufError);
    return e as TufError;
  }
  throw new Error(`parsed without error: ${String(input).slice(0, 80)}`);
}

describe('canonical JSON as Notary writes it', () => {
  it('sorts object members by UTF-8 bytes, not UTF-16 code units (keys outside the BMP)', () => {
    const v = parseJson('{"😀":1,"\uE000":2,"b":3,"a":4,"é":5,"Z":6}');
    // UTF-8: Z(5a) < a < b < é(c3 a9) < U+E000(ee 80 80) < U+1F600(f0 9f 98 80)
    expect(canonicalString(v)).toBe('{"Z":6,"a":4,"b":3,"é":5,"\uE000":2,"😀":1}');
    // JavaScript's own order would put the astral key first
    expect(['\uE000', '😀'].sort()).toEqual(['😀', '\uE000']);
    expect(compareUtf8('😀', '\uE000')).toBeGreaterThan(0);
    expect(compareUtf8('ab', 'a')).toBeGreaterThan(0);
    expect(compareUtf8('a', 'a')).toBe(0);
  });

  it('escapes only quote and backslash; control characters and U+2028 stay raw', () => {
    const v = parseJson('{"s":"a\\"b\\\\c\\u0001\\n\\t\\u2028\\u2029<>&é"}');
    expect(canonicalString(v)).toBe('{"s":"a\\"b\\\\c\u0001\n\t\u2028\u2029<>&é"}');
  });

  it("Go's file form HTML-escapes <, >, & and U+2028/9 after canonicalising", () => {
    const v = parseJson('{"t":"a&b<c>é\\u2028"}');
    expect(goJsonString(v)).toBe('{"t":"a\\u0026b\\u003cc\\u003eé\\u2028"}');
  });

  it('keeps integers past 2^53 exact', () => {
    const v = parseJson('{"n":9007199254740993,"m":-9007199254740993,"k":123456789012345678901234567890}') as JsonObject;
    expect(typeof v.n).toBe('bigint');
    expect(canonicalString(v)).toBe('{"k":123456789012345678901234567890,"m":-9007199254740993,"n":9007199254740993}');
    expect(canonicalString(parseJson('[0,-1,9007199254740991]'))).toBe('[0,-1,9007199254740991]');
  });

  it('writes no whitespace and keeps array order', () => {
    expect(canonicalString(parseJson(' { "b" : [ 3 , 1 , 2 ] , "a" : { "y" : null , "x" : true } } '))).toBe('{"a":{"x":true,"y":null},"b":[3,1,2]}');
  });

  it('reproduces the key ID of spec 2.2 from its canonical key object', () => {
    const key = parseJson(
      '{"keytype":"ecdsa","keyval":{"public":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWgvaw6wL0+cK0G6jQnLavSVJCVorVFu48RtBpSOtNt0b9FttAdC31MKMMiROjVcoCoPAeU24+yKTAAn/J4vh2g==","private":null}}',
    );
    expect(canonicalString(key)).toBe(
      '{"keytype":"ecdsa","keyval":{"private":null,"public":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWgvaw6wL0+cK0G6jQnLavSVJCVorVFu48RtBpSOtNt0b9FttAdC31MKMMiROjVcoCoPAeU24+yKTAAn/J4vh2g=="}}',
    );
    expect(computeKeyId('ecdsa', 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWgvaw6wL0+cK0G6jQnLavSVJCVorVFu48RtBpSOtNt0b9FttAdC31MKMMiROjVcoCoPAeU24+yKTAAn/J4vh2g==')).toBe(
      '11e1cda2ef78f0ad0ac9bfee39fab49f12b51b02ba7009137d88a23702832821',
    );
  });

  it('refuses values that have no canonical form: floats and lone surrogates', () => {
    expect(() => canonicalString(1.5)).toThrow(TufError);
    expect(() => canonicalString(Number.MAX_SAFE_INTEGER + 2)).toThrow(TufError);
    expect(() => canonicalString({ s: '\ud800' })).toThrow(/lone surrogate/);
    expect(() => canonicalString(parseJson('"\\udc00x"'))).toThrow(/lone surrogate/);
    expect(canonicalString(parseJson('"\\ud83d\\ude00"'))).toBe('"😀"');
  });

  it('treats a "__proto__" member as data', () => {
    const v = parseJson('{"__proto__":{"polluted":1},"a":1}') as JsonObject;
    expect(Object.keys(v)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(canonicalString(v)).toBe('{"__proto__":{"polluted":1},"a":1}');
  });
});

describe('the strict parser gives typed errors on bad input', () => {
  it.each([
    ['truncated object', '{"a":1'],
    ['truncated string', '{"a":"abc'],
    ['empty input', ''],
    ['trailing data', '{} {}'],
    ['duplicate keys', '{"a":1,"a":2}'],
    ['nested duplicate keys', '{"x":{"k":1,"k":1}}'],
    ['single quotes', "{'a':1}"],
    ['trailing comma', '{"a":1,}'],
    ['bare control character in a string', '{"a":"\u0001"}'],
    ['bad escape', '{"a":"\\x41"}'],
    ['bad unicode escape', '{"a":"\\u12G4"}'],
    ['leading zero', '{"a":01}'],
    ['NaN', '{"a":NaN}'],
    ['a number 400 digits long', `{"a":${'9'.repeat(500)}}`],
  ])('%s', (_name, input) => {
    expect(parseError(input).code).toBe('JSON_PARSE');
  });

  it.each([
    ['a float', '{"a":1.5}'],
    ['an exponent', '{"a":1e3}'],
  ])('rejects %s: TUF metadata holds integers only', (_name, input) => {
    expect(parseError(input).code).toBe('JSON_TYPE');
  });

  it('rejects invalid UTF-8', () => {
    expect(parseError(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])).code).toBe('JSON_PARSE');
  });

  it('decodes each document afresh: a truncated sequence at the end of one does not leak into the next', () => {
    // "é truncated to its first byte; then a document starting with the byte that would complete it
    expect(parseError(Buffer.from([0x22, 0xc3])).message).toBe('document is not valid UTF-8');
    expect(parseError(Buffer.from([0xa9, 0x22])).message).toBe('document is not valid UTF-8');
    expect(parseJson(Buffer.from('"é"'))).toBe('é');
  });

  it('bounds nesting depth instead of overflowing the stack', () => {
    expect(parseError('['.repeat(100000) + ']'.repeat(100000)).message).toMatch(/nested too deeply/);
  });

  it('bounds document size', () => {
    expect(() => parseJson('{"a":"' + 'x'.repeat(100) + '"}', 50)).toThrow(/larger than 50 bytes/);
  });
});

describe('canonical text found in the document itself (no second serialisation to check a signature)', () => {
  /** canonicalMember('s') of `{"s":<text>}`, as text, or null */
  const member = (text: string, name = 's') => parseDocument(Buffer.from(`{"${name}":${text}}`)).canonicalMember(name)?.toString('utf8') ?? null;

  it('takes canonical text as it stands, and it is exactly what canonicalBytes writes', () => {
    for (const text of [
      '{"a":1,"b":[true,false,null],"c":{"d":"e\\"f\\\\g","é":-5,"😀":9007199254740993}}',
      '{"Z":6,"a":4,"b":3,"é":5,"\uE000":2,"😀":1}',
      '"raw <>& and \u2028 are canonical (Go escapes them in files only)"',
      '[]',
      '{}',
      '0',
      '-12',
    ]) {
      expect(member(text)).toBe(text);
      expect(member(text)).toBe(canonicalString(parseJson(text)));
    }
  });

  it.each([
    ['whitespace', '{"a": 1}'],
    ['whitespace inside an array', '[1, 2]'],
    ['members out of UTF-8 order', '{"b":1,"a":2}'],
    ['members in UTF-16 but not UTF-8 order', '{"😀":1,"\uE000":2}'],
    ['an escaped slash', '"a\\/b"'],
    ['an escaped control character', '"a\\nb"'],
    ['a \\u escape of a plain character', '"\\u0041"'],
    ['Go\'s HTML escape', '"a\\u003cb"'],
    ['negative zero', '{"n":-0}'],
  ])('serialises again when the text has %s', (_name, text) => {
    expect(member(text)).toBeNull();
  });

  it('reads non-ASCII documents by their UTF-8 bytes, and never answers for a member that is not there', () => {
    const doc = Buffer.from('{"signatures":[],"signed":{"name":"é😀","v":1}}');
    expect(parseDocument(doc).canonicalMember('signed')?.equals(Buffer.from('{"name":"é😀","v":1}'))).toBe(true);
    expect(parseDocument(doc).canonicalMember('other')).toBeNull();
    // only members of the document itself
    expect(parseDocument(doc).canonicalMember('name')).toBeNull();
  });

  it('agrees with canonicalBytes on real Notary metadata, and finds every file Go wrote without <, > or &', () => {
    const files = ['server-snapshot', 'app/before-root-rotation', 'app/after-root-rotation'].flatMap((dir) =>
      fs.readdirSync(path.join(FIXTURES, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f)),
    );
    expect(files.length).toBeGreaterThanOrEqual(16);
    for (const f of files) {
      const bytes = fixture(f);
      const doc = parseDocument(bytes);
      const signed = (doc.value as JsonObject).signed as JsonObject;
      const found = doc.canonicalMember('signed');
      if (!/\\u00(3c|3e|26)/.test(bytes.toString('utf8'))) expect(found).not.toBeNull();
      if (found) expect(found.equals(canonicalBytes(signed))).toBe(true);
    }
  });

  it('never takes text that differs from canonicalBytes (random documents written many ways)', () => {
    // mulberry32: reproducible, and no short cycles in the low bits
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const pick = <T>(xs: T[]): T => xs[rand(xs.length)] as T;
    const pieces = ['a', 'b', 'Z', 'é', '\uE000', '😀', '"', '\\', '<', '&', '\u2028', '\n', '/', 'x y'];
    const str = () => Array.from({ length: rand(4) }, () => pick(pieces)).join('');
    const value = (depth: number): JsonValue => {
      switch (depth > 3 ? rand(4) : rand(7)) {
        case 0:
          return pick([0, 1, -7, 9007199254740991]);
        case 1:
          return str();
        case 2:
          return pick([true, false, null]);
        case 3:
          return BigInt('123456789012345678901234567890') * (rand(2) ? 1n : -1n);
        case 4:
        case 5: {
          const o: JsonObject = {};
          for (let i = rand(5); i > 0; i--) o[str() + String(rand(3))] = value(depth + 1);
          return o;
        }
        default:
          return Array.from({ length: rand(4) }, () => value(depth + 1));
      }
    };
    /** JSON text of v: canonical, Go's file form, or a writer with its own escapes (and order and spacing) */
    const write = (v: JsonValue, style: number): string => {
      if (style === 0) return canonicalString(v);
      if (style === 1) return goJsonString(v);
      const sp = () => (style === 3 && rand(2) ? ' ' : '');
      // JSON.stringify's escapes, and now and then an escape nobody needs
      const quote = (x: string) =>
        JSON.stringify(x).replace(/[^"\\]/g, (c) => (rand(40) ? c : c === '/' ? '\\/' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
      if (typeof v === 'bigint') return v.toString();
      if (v === 0 && !rand(4)) return '-0';
      if (typeof v === 'string') return quote(v);
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      if (Array.isArray(v)) return `[${sp()}${v.map((x) => write(x, style)).join(`,${sp()}`)}]`;
      // style 2 departs from canonical form only by escapes, style 3 also by order and spacing
      const keys = Object.keys(v).sort(compareUtf8);
      if (style === 3 && rand(2)) keys.reverse();
      return `{${keys.map((k) => `${sp()}${quote(k)}${sp()}:${sp()}${write(v[k] as JsonValue, style)}`).join(',')}}`;
    };
    let taken = 0;
    for (let i = 0; i < 3000; i++) {
      const v = value(0);
      const style = i % 4;
      const text = write(v, style);
      // canonical form writes control characters raw: such a value has no canonical JSON text
      if (/[\u0000-\u001f]/.test(text)) continue;
      const found = member(text);
      if (found !== null) {
        taken++;
        expect(found).toBe(canonicalString(parseJson(text)));
      }
      if (style === 0) expect(found).toBe(text);
    }
    expect(taken).toBeGreaterThan(1000);
  });
});
