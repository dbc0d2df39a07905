import { canonicalString, compareUtf8, goJsonString, JsonObject, parseJson, TufError, computeKeyId } from '../../tuf';

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
