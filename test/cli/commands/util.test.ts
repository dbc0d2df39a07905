/**
 * Argument parsing of the commands: image references with registry ports, digests, list flags.
 */
import { collect, parseImageRef, parseRoles, parseSha256Digest } from '../../../cli/commands/util';
import { delegationKeyFromPem } from '../../../cli/commands/delegation';
import * as crypto from 'node:crypto';

it('splits <gun>:<tag> at the last colon with no slash after it (registry ports stay in the GUN)', () => {
  expect(parseImageRef('registry:5000/team/app:v1.2')).toEqual({ gun: 'registry:5000/team/app', tag: 'v1.2' });
  expect(parseImageRef('docker.io/library/alpine:3.19')).toEqual({ gun: 'docker.io/library/alpine', tag: '3.19' });
  expect(parseImageRef('registry:5000/team/app')).toBeNull();
  expect(parseImageRef('app:-bad')).toBeNull();
  expect(parseImageRef(':v1')).toBeNull();
});

it('accepts only sha256:<64 hex> digests', () => {
  expect(parseSha256Digest('sha256:' + 'AB'.repeat(32)).toString('hex')).toBe('ab'.repeat(32));
  expect(() => parseSha256Digest('sha512:' + 'a'.repeat(64))).toThrow(/sha256:<64 hex/);
  expect(() => parseSha256Digest('sha256:' + 'a'.repeat(63))).toThrow();
});

it('reads cobra-style list flags (repeated or comma-separated) and checks role names', () => {
  expect(collect('b,c', collect('a'))).toEqual(['a', 'b', 'c']);
  expect(parseRoles(undefined)).toEqual(['targets']);
  expect(parseRoles(['targets/releases', 'targets/releases'])).toEqual(['targets/releases']);
  expect(() => parseRoles(['root'])).toThrow(/invalid role/);
});

it('takes delegation keys from PUBLIC KEY PEM (ecdsa, ed25519) and refuses private keys', () => {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  expect(delegationKeyFromPem(ec.publicKey.export({ format: 'pem', type: 'spki' }) as string, 'ec.pem', Date.now()).keytype).toBe('ecdsa');
  const ed = crypto.generateKeyPairSync('ed25519');
  const k = delegationKeyFromPem(ed.publicKey.export({ format: 'pem', type: 'spki' }) as string, 'ed.pem', Date.now());
  expect(k.keytype).toBe('ed25519');
  expect(k.publicBytes).toHaveLength(32);
  expect(() => delegationKeyFromPem(ec.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 'priv.pem', Date.now())).toThrow(/expected CERTIFICATE or PUBLIC KEY/);
});
