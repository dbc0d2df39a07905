/**
 * signer/wire.ts: the signer's messages in protobuf binary form. The byte strings below are
 * written out by hand from the protobuf encoding rules (tag = field << 3 | wire type); the e2e
 * tests check the same messages against grpc-js/protobufjs and the real Go binaries.
 */
import { decodeMessage, encodeMessage, MESSAGES, WireError } from '../../signer/wire';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('signer wire format', () => {
  it('encodes a SignatureRequest as protobuf does: nested KeyID, then the bytes', () => {
    const bytes = encodeMessage(MESSAGES.SignatureRequest, { keyID: { ID: 'ab' }, content: Buffer.from([1, 2, 3]) });
    // 0a 04 (keyID, 4 bytes) [0a 02 'a' 'b'], 12 03 (content, 3 bytes) 01 02 03
    expect(bytes).toEqual(hex('0a04 0a026162 1203 010203'));
    expect(decodeMessage(MESSAGES.SignatureRequest, bytes)).toEqual({ keyID: { ID: 'ab' }, content: Buffer.from([1, 2, 3]) });
  });

  it('leaves fields at their proto3 default out, and fills them in on decoding', () => {
    expect(encodeMessage(MESSAGES.GetKeyInfoResponse, { keyInfo: null, publicKey: Buffer.alloc(0), role: '' })).toHaveLength(0);
    expect(decodeMessage(MESSAGES.GetKeyInfoResponse, Buffer.alloc(0))).toEqual({ keyInfo: null, publicKey: Buffer.alloc(0), role: '' });
    expect(decodeMessage(MESSAGES.HealthCheckResponse, Buffer.alloc(0))).toEqual({ status: 'UNKNOWN' });
  });

  it('encodes enums and uint32 as varints, multi-byte when large', () => {
    expect(encodeMessage(MESSAGES.HealthCheckResponse, { status: 'NOT_SERVING' })).toEqual(hex('0802'));
    expect(encodeMessage(MESSAGES.DeleteGunKeysResponse, { deleted: 300 })).toEqual(hex('08ac02'));
    expect(decodeMessage(MESSAGES.DeleteGunKeysResponse, hex('08ac02'))).toEqual({ deleted: 300 });
    expect(encodeMessage(MESSAGES.DeleteGunKeysResponse, { deleted: 2 ** 32 - 1 })).toEqual(hex('08ffffffff0f'));
    expect(() => encodeMessage(MESSAGES.DeleteGunKeysResponse, { deleted: -1 })).toThrow(WireError);
    expect(() => encodeMessage(MESSAGES.HealthCheckResponse, { status: 'BOGUS' })).toThrow(WireError);
  });

  it('round-trips every message with every field set', () => {
    const keyInfo = { keyID: { ID: 'k'.repeat(64) }, algorithm: { algorithm: 'ecdsa' } };
    const samples: Array<[keyof typeof MESSAGES, Record<string, unknown>]> = [
      ['CreateKeyRequest', { algorithm: 'ed25519', gun: 'docker.io/library/ü', role: 'timestamp' }],
      ['PublicKey', { keyInfo, publicKey: Buffer.alloc(91, 7) }],
      ['GetKeyInfoResponse', { keyInfo, publicKey: Buffer.alloc(32, 9), role: 'snapshot' }],
      ['Signature', { keyInfo, algorithm: { algorithm: 'eddsa' }, content: Buffer.alloc(64, 1) }],
      ['SignatureRequest', { keyID: { ID: 'x' }, content: Buffer.alloc(70_000, 2) }],
      ['HealthCheckRequest', { service: 'grpc.health.v1.Health.Signer' }],
      ['DeleteGunKeysRequest', { gun: 'example.com/a' }],
    ];
    for (const [name, value] of samples) {
      expect(decodeMessage(MESSAGES[name], encodeMessage(MESSAGES[name], value))).toEqual(value);
    }
  });

  it('skips unknown fields of every wire type (a newer peer may add fields)', () => {
    // field 9 varint, field 10 fixed64, field 11 bytes, field 12 fixed32, then role = "t"
    const bytes = hex('4801 510000000000000000 5a0161 6500000000 1a0174');
    expect(decodeMessage(MESSAGES.GetKeyInfoResponse, bytes)).toEqual({ keyInfo: null, publicKey: Buffer.alloc(0), role: 't' });
  });

  it('keeps an enum value it does not know as its number', () => {
    expect(decodeMessage(MESSAGES.HealthCheckResponse, hex('0809'))).toEqual({ status: '9' });
  });

  it('refuses malformed input with WireError, never anything else', () => {
    const bad: Array<[string, Buffer]> = [
      ['truncated length', hex('0a05616263')],
      ['truncated varint', hex('0880')],
      ['varint of 11 bytes', hex('08ffffffffffffffffffff01')],
      ['wrong wire type for a string field', hex('0801')],
      ['field number 0', hex('0001')],
      ['a group (proto2)', hex('0b')],
      ['invalid UTF-8 in a string', hex('0a02c328')],
      ['nested length past the parent', hex('0a0a0a02')],
    ];
    for (const [why, bytes] of bad) {
      let thrown: unknown;
      try {
        decodeMessage(why === 'nested length past the parent' ? MESSAGES.SignatureRequest : MESSAGES.CreateKeyRequest, bytes);
      } catch (e) {
        thrown = e;
      }
      expect([why, thrown instanceof WireError]).toEqual([why, true]);
    }
  });

  it('survives random corruption of a valid message (WireError or a decoded value)', () => {
    const good = encodeMessage(MESSAGES.Signature, { keyInfo: { keyID: { ID: 'abc' }, algorithm: { algorithm: 'ecdsa' } }, algorithm: { algorithm: 'ecdsa' }, content: Buffer.alloc(64, 3) });
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(good.subarray(0, 1 + (rand() % good.length)));
      b[rand() % b.length] = rand() % 256;
      try {
        const m = decodeMessage(MESSAGES.Signature, b);
        expect(Buffer.isBuffer(m.content)).toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(WireError);
      }
    }
  });
});
