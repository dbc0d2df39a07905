/**
 * Docker Content Trust naming of images (cli/images.ts) without a registry: the GUN of a
 * reference, the target meta written for a manifest digest, reading it back from signed
 * metadata, comparing with what a registry serves, and where a tag is signed.
 */
import * as crypto from 'node:crypto';
import { DEFAULT_EXPIRY_MS, expiryFrom, generatePrivateKey, parseMetadata, signMetadata, targetsSigned, fileMetaOf } from '../../tuf';
import {
  RELEASES_ROLE,
  compareDigest,
  imageGun,
  imageSigningRole,
  imageTargetMeta,
  parseTaggedReference,
  pinnedReference,
  resolveImage,
  trustedDigest,
} from '../../cli/images';
import { RegistryError, parseImageReference } from '../../cli/registry';
import { fixture } from '../helpers/fixtures';

const digestA = `sha256:${crypto.createHash('sha256').update('manifest A').digest('hex')}`;
const digestB = `sha256:${crypto.createHash('sha256').update('manifest B').digest('hex')}`;

describe('image names as Docker Content Trust uses them', () => {
  it('uses the fully qualified repository name as the GUN', () => {
    expect(imageGun(parseImageReference('alpine'))).toBe('docker.io/library/alpine');
    expect(imageGun(parseImageReference('registry:5000/team/app:v1'))).toBe('registry:5000/team/app');
    expect(imageGun(parseImageReference('index.docker.io/myorg/app'))).toBe('docker.io/myorg/app');
  });

  it('signs and verifies tags only: a digest-only reference is refused', () => {
    expect(parseTaggedReference('127.0.0.1:5000/app').tag).toBe('latest');
    expect(() => parseTaggedReference(`127.0.0.1:5000/app@${digestA}`)).toThrow(RegistryError);
    expect(() => parseTaggedReference(`127.0.0.1:5000/app@${digestA}`)).toThrow(/names no tag/);
  });

  it('refuses to resolve a digest-only reference before any network call', async () => {
    await expect(resolveImage(`127.0.0.1:1/app@${digestA}`, { credentials: null })).rejects.toMatchObject({ code: 'REFERENCE_INVALID' });
  });

  it('prints the reference that pulls exactly the trusted manifest', () => {
    expect(pinnedReference(parseImageReference('registry:5000/team/app:v1'), digestA)).toBe(`registry:5000/team/app@${digestA}`);
    expect(() => pinnedReference(parseImageReference('a/b'), 'sha256:xyz')).toThrow(/not a sha256 digest/);
  });
});

describe('target meta for an image', () => {
  it('records sha256 of the manifest and its length, nothing else, and reads back through signed targets', () => {
    const meta = imageTargetMeta({ digest: digestA, size: 1234 });
    expect(meta).toEqual({ hashes: { sha256: Buffer.from(digestA.slice(7), 'hex').toString('base64') }, length: 1234 });
    const key = generatePrivateKey('ecdsa');
    const signed = signMetadata(
      'targets',
      targetsSigned({ targets: { v1: meta }, version: 1, expires: expiryFrom(Date.now(), DEFAULT_EXPIRY_MS.targets) }),
      [{ key }],
    );
    const parsed = parseMetadata(signed.bytes, 'targets');
    const target = parsed.body.targets.get('v1');
    expect(target).toBeDefined();
    expect(trustedDigest(target!)).toEqual({ digest: digestA, size: 1234 });
  });

  it('refuses to write meta from something that is not a sha256 digest or a size', () => {
    expect(() => imageTargetMeta({ digest: 'sha512:abcd', size: 1 })).toThrow(/not a sha256 digest/);
    expect(() => imageTargetMeta({ digest: digestA, size: -1 })).toThrow(/not a manifest size/);
    expect(() => imageTargetMeta({ digest: digestA, size: 1.5 })).toThrow(/not a manifest size/);
  });

  it('a target without a sha256 hash names no image', () => {
    const sha512only = { length: 10, hashes: { sha512: crypto.createHash('sha512').update('x').digest() } };
    expect(() => trustedDigest(sha512only)).toThrow(/no sha256/);
  });
});

describe('compareDigest', () => {
  const signedA = { length: 100, hashes: { sha256: Buffer.from(digestA.slice(7), 'hex') } };

  it('matches when digest and size agree', () => {
    expect(compareDigest(signedA, { digest: digestA, size: 100 })).toEqual({ $case: 'match', digest: digestA, size: 100 });
    expect(compareDigest({ digest: digestA, size: 100 }, { digest: digestA, size: 100 }).$case).toBe('match');
  });

  it('reports a re-pushed tag as a mismatch showing both digests', () => {
    const r = compareDigest(signedA, { digest: digestB, size: 100 });
    expect(r.$case).toBe('mismatch');
    if (r.$case !== 'mismatch') return;
    expect(r.trusted).toEqual({ digest: digestA, size: 100 });
    expect(r.message).toContain(digestA);
    expect(r.message).toContain(digestB);
  });

  it('reports a size difference even when the digests agree', () => {
    const r = compareDigest(signedA, { digest: digestA, size: 101 });
    expect(r.$case).toBe('mismatch');
    if (r.$case === 'mismatch') expect(r.message).toMatch(/signed 100 bytes, served 101 bytes/);
  });

  it('fails closed on a target that has no sha256', () => {
    const r = compareDigest({ length: 100, hashes: {} }, { digest: digestA, size: 100 });
    expect(r.$case).toBe('mismatch');
    if (r.$case === 'mismatch') {
      expect(r.trusted).toBeNull();
      expect(r.message).toContain(digestA);
    }
  });
});

describe('where a tag is signed', () => {
  it('signs into targets/releases when the repository delegates it (real notary 0.7 data)', () => {
    const targets = parseMetadata(fixture('app/before-root-rotation/targets.json'), 'targets');
    expect(imageSigningRole(targets.body)).toBe(RELEASES_ROLE);
  });

  it('signs into targets otherwise', () => {
    const targets = parseMetadata(fixture('server-snapshot/targets.json'), 'targets');
    expect(targets.body.delegations.some((d) => d.name === RELEASES_ROLE)).toBe(false);
    expect(imageSigningRole(targets.body)).toBe('targets');
    const key = generatePrivateKey('ed25519');
    const other = signMetadata(
      'targets',
      targetsSigned({
        targets: { x: fileMetaOf(Buffer.from('x')) },
        delegationKeys: [key.public],
        delegations: [{ name: 'targets/qa', keyids: [key.public.id], threshold: 1, paths: [''] }],
        version: 1,
        expires: expiryFrom(Date.now(), DEFAULT_EXPIRY_MS.targets),
      }),
      [{ key }],
    );
    expect(imageSigningRole(other.body)).toBe('targets');
  });
});
