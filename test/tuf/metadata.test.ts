import {
  checkFileMeta,
  checkVersion,
  DEFAULT_EXPIRY_MS,
  expiryFrom,
  fileMetaJson,
  fileMetaOf,
  formatGoTime,
  generatePrivateKey,
  makeRootCertificateKey,
  MetadataKind,
  parseMetadata,
  parseRfc3339,
  serializeMetadata,
  signMetadata,
  snapshotSigned,
  targetsSigned,
  timestampSigned,
  TufError,
  verifyRoot,
  withFields,
  isDelegationName,
  isValidGun,
  parentRole,
  sign,
  Signature,
  signedMessage,
  signingBytes,
  verifyThreshold,
} from '../../tuf';
import { fixture } from '../helpers/fixtures';
import { rootWithOneKeyPerRole } from '../helpers/tuf';

/** A file's text with its signatures replaced by `sig` alone. */
function withSignature(text: string, sig: Signature): Buffer {
  return Buffer.from(`${text.slice(0, text.lastIndexOf(',"signatures":'))},"signatures":[${JSON.stringify(sig)}]}`);
}

function typedError(fn: () => unknown): TufError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TufError)) throw new Error(`expected a TufError, got ${String(e)}`);
    return e;
  }
  throw new Error('expected an error');
}

describe('expiry times', () => {
  it("formats as Go's RFC3339Nano: trailing fractional zeros trimmed, Z for UTC", () => {
    expect(formatGoTime(Date.parse('2029-11-22T11:54:54.920Z'))).toBe('2029-11-22T11:54:54.92Z');
    expect(formatGoTime(Date.parse('2029-11-22T11:54:54.000Z'))).toBe('2029-11-22T11:54:54Z');
    expect(formatGoTime(Date.parse('2029-11-22T11:54:54.001Z'))).toBe('2029-11-22T11:54:54.001Z');
  });

  it('parses RFC 3339 with any fraction and zone, and refuses impossible dates', () => {
    expect(parseRfc3339('2026-12-07T11:49:49.848991145Z')).toBe(Date.parse('2026-12-07T11:49:49.848Z'));
    expect(parseRfc3339('2026-12-07T12:49:49+01:00')).toBe(Date.parse('2026-12-07T11:49:49Z'));
    for (const bad of ['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-12-07 11:49:49Z', '2026-12-07T11:49:49', 'tomorrow']) {
      expect(typedError(() => parseRfc3339(bad)).code).toBe('JSON_TYPE');
    }
  });

  it('default lifetimes are 3650 / 1095 / 1095 / 14 days', () => {
    const day = 86400000;
    expect(DEFAULT_EXPIRY_MS).toEqual({ root: 3650 * day, targets: 1095 * day, snapshot: 1095 * day, timestamp: 14 * day });
    expect(expiryFrom(Date.parse('2026-01-01T00:00:00Z'), DEFAULT_EXPIRY_MS.timestamp)).toBe('2026-01-15T00:00:00Z');
  });
});

describe('new documents in Go-normal form', () => {
  const gun = 'example.com/vouch/app';
  const now = Date.parse('2026-11-23T12:00:00Z');
  const rootKey = generatePrivateKey('ecdsa');
  const rootCert = makeRootCertificateKey(gun, rootKey, new Date(now));
  const targetsKey = generatePrivateKey('ed25519');
  const snapshotKey = generatePrivateKey('ecdsa');
  const timestampKey = generatePrivateKey('ecdsa');

  function makeRoot() {
    return signMetadata(
      'root',
      rootWithOneKeyPerRole({
        root: [rootCert],
        targets: targetsKey.public,
        snapshot: snapshotKey.public,
        timestamp: timestampKey.public,
        version: 1,
        expires: expiryFrom(now, DEFAULT_EXPIRY_MS.root),
      }),
      [{ key: rootKey, keyid: rootCert.id }],
    );
  }

  it('a root signed by its certificate key validates as a root for its GUN', () => {
    const root = makeRoot();
    verifyRoot(root, { gun, now, checkExpiry: true });
    expect(root.bytes.toString()).toMatch(/^\{"signed":\{"_type":"Root","consistent_snapshot":false,"expires":"2036-11-20T12:00:00Z","keys":\{/);
    expect(root.bytes.toString()).toMatch(/"signatures":\[\{"keyid":"[0-9a-f]{64}","method":"ecdsa","sig":"[A-Za-z0-9+/]+={0,2}"\}\]\}$/);
  });

  it('targets always carry delegations, empty paths are omitted, custom is kept canonical', () => {
    const signed = targetsSigned({
      targets: { 'a&b': fileMetaJson(3, { sha256: Buffer.alloc(32, 1) }, { z: 1, a: '<x>' }) },
      delegations: [{ name: 'targets/releases', keyids: [targetsKey.public.id], threshold: 1, paths: [] }],
      delegationKeys: [targetsKey.public],
      version: 2,
      expires: '2029-11-22T11:40:40.032656509Z',
    });
    const md = signMetadata('targets', signed, [{ key: targetsKey }]);
    const text = md.bytes.toString();
    expect(text).toContain('"delegations":{"keys":{"' + targetsKey.public.id + '":{"keytype":"ed25519","keyval":{"private":null,"public":"');
    expect(text).toContain('"roles":[{"keyids":["' + targetsKey.public.id + '"],"name":"targets/releases","threshold":1}]');
    expect(text).toContain('"a\\u0026b":{"custom":{"a":"\\u003cx\\u003e","z":1},"hashes":{"sha256":"');
    // re-serialising what we parsed gives the same bytes
    expect(serializeMetadata(md.signed, md.signatures).equals(md.bytes)).toBe(true);
  });

  it('snapshot and timestamp meta carry length, sha256 and sha512 of the exact bytes', () => {
    const root = makeRoot();
    const targets = signMetadata('targets', targetsSigned({ targets: {}, version: 1, expires: expiryFrom(now, DEFAULT_EXPIRY_MS.targets) }), [{ key: targetsKey }]);
    const snapshot = signMetadata(
      'snapshot',
      snapshotSigned({ meta: { root: fileMetaOf(root.bytes), targets: fileMetaOf(targets.bytes) }, version: 1, expires: expiryFrom(now, DEFAULT_EXPIRY_MS.snapshot) }),
      [{ key: snapshotKey }],
    );
    const timestamp = signMetadata('timestamp', timestampSigned({ snapshotBytes: snapshot.bytes, version: 1, expires: expiryFrom(now, DEFAULT_EXPIRY_MS.timestamp) }), [
      { key: timestampKey },
    ]);
    checkFileMeta(snapshot.bytes, timestamp.body.snapshot, 'snapshot');
    checkFileMeta(root.bytes, snapshot.body.meta.get('root')!, 'root');
    checkFileMeta(targets.bytes, snapshot.body.meta.get('targets')!, 'targets');
    expect(Object.keys(timestamp.body.snapshot.hashes).sort()).toEqual(['sha256', 'sha512']);
    // mix-and-match: another targets file does not match the snapshot
    const other = signMetadata('targets', targetsSigned({ targets: {}, version: 2, expires: expiryFrom(now, DEFAULT_EXPIRY_MS.targets) }), [{ key: targetsKey }]);
    expect(() => checkFileMeta(other.bytes, snapshot.body.meta.get('targets')!, 'targets')).toThrow(/did not match|expected/);
  });

  it('checks signatures over the canonical bytes of `signed`, however the file writes it', () => {
    const keys = new Map([[targetsKey.public.id, targetsKey.public]]);
    const role = { keyids: [targetsKey.public.id], threshold: 1 };
    const expires = expiryFrom(now, DEFAULT_EXPIRY_MS.targets);
    const plain = signMetadata('targets', targetsSigned({ targets: { a: fileMetaOf(Buffer.from('a')) }, version: 1, expires }), [{ key: targetsKey }]);
    // Go's file form escapes & (the file no longer holds the canonical text)
    const escaped = signMetadata('targets', targetsSigned({ targets: { 'a&b': fileMetaOf(Buffer.from('a')) }, version: 1, expires }), [{ key: targetsKey }]);
    expect(escaped.bytes.toString()).toContain('a\\u0026b');
    const spaced = parseMetadata(Buffer.from(plain.bytes.toString().replace('"signed":{"_type":"Targets",', '"signed":{ "_type" : "Targets" ,')), 'targets');
    for (const md of [plain, parseMetadata(plain.bytes, 'targets'), parseMetadata(escaped.bytes, 'targets'), spaced]) {
      expect(signedMessage(md).equals(signingBytes(md.signed))).toBe(true);
      expect(verifyThreshold(md, keys, role, 'targets').size).toBe(1);
    }
    // a signature over the file's own non-canonical text does not count
    const spacedText = spaced.bytes.toString();
    const rawSigned = Buffer.from(spacedText.slice('{"signed":'.length, spacedText.lastIndexOf(',"signatures":')));
    expect(rawSigned.equals(signingBytes(spaced.signed))).toBe(false);
    const forged = parseMetadata(withSignature(spacedText, sign(targetsKey, rawSigned)), 'targets');
    expect(() => verifyThreshold(forged, keys, role, 'targets')).toThrow(/threshold/);
  });

  it('withFields keeps unknown members of a parsed document', () => {
    const md = parseMetadata(Buffer.from(fixture('app/before-root-rotation/targets.json').toString().replace('"_type":"Targets"', '"_type":"Targets","x-extra":{"k":1}')), 'targets');
    const next = withFields(md.signed, { version: 9 });
    expect(next['x-extra']).toEqual({ k: 1 });
    expect(next.version).toBe(9);
    expect(md.signed.version).toBe(5);
  });

  it('rollback: versions never go back (equal allowed only when asked)', () => {
    expect(() => checkVersion('targets', 4, 5, true)).toThrow(/lower than the trusted version/);
    expect(() => checkVersion('targets', 5, 5, false)).toThrow(TufError);
    expect(() => checkVersion('targets', 5, 5, true)).not.toThrow();
  });
});

describe('roles and GUNs', () => {
  it("follows Notary's delegation name rule", () => {
    for (const ok of ['targets/releases', 'targets/a/b-c_d', 'targets/0']) expect(isDelegationName(ok)).toBe(true);
    for (const bad of ['targets', 'targets/', 'targets//a', 'targets/A', 'targets/a.b', 'targets/../x', 'root/x', 'targets/' + 'a'.repeat(300)]) {
      expect(isDelegationName(bad)).toBe(false);
    }
    expect(parentRole('targets/a/b')).toBe('targets/a');
    expect(parentRole('targets/a')).toBe('targets');
    expect(parentRole('root')).toBeNull();
  });

  it('refuses path tricks in GUNs', () => {
    for (const ok of ['docker.io/library/alpine', 'registry:5000/Team/app', 'a']) expect(isValidGun(ok)).toBe(true);
    for (const bad of ['', '../etc', 'a/../b', 'a//b', 'a/', '/a', 'a/./b', 'a*', 'a\\b', 'a b', 'a\nb', 'x'.repeat(300)]) expect(isValidGun(bad)).toBe(false);
  });
});

describe('bad input to every parser gives a typed error, never a crash', () => {
  const kinds: MetadataKind[] = ['root', 'targets', 'snapshot', 'timestamp'];
  const sources: Record<MetadataKind, string> = {
    root: 'app/before-root-rotation/root.json',
    targets: 'app/before-root-rotation/targets.json',
    snapshot: 'app/before-root-rotation/snapshot.json',
    timestamp: 'app/before-root-rotation/timestamp.json',
  };

  it.each(kinds)('%s: truncated JSON', (kind) => {
    const bytes = fixture(sources[kind]);
    for (const n of [0, 1, 10, bytes.length >> 1, bytes.length - 1]) {
      expect(typedError(() => parseMetadata(bytes.subarray(0, n), kind)).code).toBe('JSON_PARSE');
    }
  });

  it.each(kinds)('%s: duplicate keys', (kind) => {
    const text = fixture(sources[kind]).toString().replace('"version":', '"version":1,"version":');
    expect(typedError(() => parseMetadata(Buffer.from(text), kind)).code).toBe('JSON_PARSE');
  });

  it.each(kinds)('%s: wrong types', (kind) => {
    const text = fixture(sources[kind]).toString();
    for (const bad of [text.replace(/"version":(\d+)/, '"version":"$1"'), text.replace(/"expires":"[^"]+"/, '"expires":12'), text.replace('"signatures":[', '"signatures":{"x":[').replace(/\]\}$/, ']}}'), '[]', '{"signed":[]}']) {
      const code = typedError(() => parseMetadata(Buffer.from(bad), kind)).code;
      expect(['JSON_TYPE', 'JSON_PARSE']).toContain(code);
    }
  });

  it.each(kinds)('%s: huge numbers', (kind) => {
    const text = fixture(sources[kind]).toString().replace(/"version":(\d+)/, '"version":123456789012345678901234567890');
    expect(typedError(() => parseMetadata(Buffer.from(text), kind)).code).toBe('JSON_TYPE');
    const neg = fixture(sources[kind]).toString().replace(/"version":(\d+)/, '"version":0');
    expect(typedError(() => parseMetadata(Buffer.from(neg), kind)).code).toBe('JSON_TYPE');
  });

  it('targets: a malformed entry is refused when the file is parsed, not when it is first read', () => {
    const text = fixture(sources.targets).toString();
    const entry = /"hashes":\{"sha256":"[^"]+"\},"length":\d+/;
    expect(text).toMatch(entry);
    for (const bad of ['"hashes":{"sha256":"not base64!"},"length":1', '"hashes":{"sha256":"AAAA"},"length":"1"', '"hashes":[],"length":1', '"length":1']) {
      expect(typedError(() => parseMetadata(Buffer.from(text.replace(entry, bad)), 'targets')).code).toBe('JSON_TYPE');
    }
    const md = parseMetadata(fixture(sources.targets), 'targets');
    expect(md.body.targets.size).toBeGreaterThan(0);
    for (const meta of md.body.targets.values()) expect(meta.hashes.sha256?.length).toBe(32);
  });

  it('a document of another kind than expected', () => {
    expect(typedError(() => parseMetadata(fixture(sources.targets), 'root')).message).toMatch(/expected Root metadata/);
  });

  it('a root naming a key it does not hold', () => {
    const text = fixture(sources.root).toString().replace(/"targets":\{"keyids":\["[0-9a-f]+"/, '"targets":{"keyids":["' + 'a'.repeat(64) + '"');
    expect(typedError(() => parseMetadata(Buffer.from(text), 'root')).message).toMatch(/does not hold/);
  });

  it('unknown key types parse, then verify nothing', () => {
    const text = fixture(sources.targets).toString().replace('"keytype":"ecdsa-x509"', '"keytype":"quantum-x509"');
    const md = parseMetadata(Buffer.from(text), 'targets');
    expect([...md.body.delegationKeys.values()][0]!.keytype).toBe('quantum-x509');
  });

  it('random byte corruption of every fixture: parse succeeds or throws TufError, nothing else', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let typed = 0;
    for (const kind of kinds) {
      const bytes = fixture(sources[kind]);
      for (let i = 0; i < 300; i++) {
        const b = Buffer.from(bytes);
        for (let j = 0; j < 1 + rand(4); j++) b[rand(b.length)] = rand(256);
        try {
          parseMetadata(b, kind);
        } catch (e) {
          expect(e).toBeInstanceOf(TufError);
          typed++;
        }
      }
    }
    expect(typed).toBeGreaterThan(100);
  });
});
