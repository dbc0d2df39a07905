/**
 * Parsed stored metadata kept by hash: the same document comes back for the same bytes and
 * kind, never for other bytes under the same hash (a row changed behind our back), memory
 * stays bounded by count and by size, and targets that no delegation could need are not kept.
 */
import * as crypto from 'node:crypto';
import { generatePrivateKey, parseMetadata, Metadata } from '../../../tuf';
import { ParsedMetadataCache } from '../../../server/service/parsed';
import { RepoSim, targetMeta } from '../helpers';

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

const releases = generatePrivateKey('ecdsa');

/** A targets document that delegates (what is kept); `tags` makes it larger. */
function targetsOfSize(sim: RepoSim, version: number, tags = 0, delegates = true): Metadata {
  const targets = Object.fromEntries(Array.from({ length: tags }, (_, i) => [`tag-${i}`, targetMeta(String(i))]));
  return parseMetadata(sim.targets(version, targets, delegates ? [{ name: 'targets/releases', key: releases }] : []).bytes, 'targets');
}

describe('ParsedMetadataCache', () => {
  const sim = new RepoSim('example.com/parsed');

  it('gives back the same parsed document for the same bytes and kind only', () => {
    const c = new ParsedMetadataCache();
    const md = targetsOfSize(sim, 1);
    c.set('targets', sha256(md.bytes), md);
    expect(c.get('targets', sha256(md.bytes), Buffer.from(md.bytes))).toBe(md);
    expect(c.get('snapshot', sha256(md.bytes), md.bytes)).toBeUndefined();
  });

  it('does not answer for other bytes stored under the same hash (a row changed behind our back)', () => {
    const c = new ParsedMetadataCache();
    const md = targetsOfSize(sim, 1);
    const other = targetsOfSize(sim, 2);
    c.set('targets', sha256(md.bytes), md);
    expect(c.get('targets', sha256(md.bytes), other.bytes)).toBeUndefined();
  });

  it('holds at most the configured number of documents, dropping the least recently used', () => {
    const c = new ParsedMetadataCache(2, 1024 * 1024);
    const [a, b, d] = [1, 2, 3].map((v) => targetsOfSize(sim, v)) as [Metadata, Metadata, Metadata];
    c.set('targets', sha256(a.bytes), a);
    c.set('targets', sha256(b.bytes), b);
    expect(c.get('targets', sha256(a.bytes), a.bytes)).toBe(a);
    c.set('targets', sha256(d.bytes), d);
    expect(c.size).toBe(2);
    expect(c.get('targets', sha256(b.bytes), b.bytes)).toBeUndefined();
    expect(c.get('targets', sha256(a.bytes), a.bytes)).toBe(a);
    expect(c.get('targets', sha256(d.bytes), d.bytes)).toBe(d);
  });

  it('holds at most the configured number of bytes, and never one document above a sixteenth of them', () => {
    const small = targetsOfSize(sim, 1);
    const c = new ParsedMetadataCache(100, small.bytes.length * 32);
    const docs = Array.from({ length: 40 }, (_, i) => targetsOfSize(sim, i + 1));
    for (const md of docs) c.set('targets', sha256(md.bytes), md);
    expect(c.size).toBeLessThanOrEqual(32);
    expect(c.size).toBeGreaterThan(16);
    expect(c.get('targets', sha256(docs[39]!.bytes), docs[39]!.bytes)).toBe(docs[39]);
    const big = targetsOfSize(sim, 11, 40);
    expect(big.bytes.length).toBeGreaterThan(small.bytes.length * 2);
    c.set('targets', sha256(big.bytes), big);
    expect(c.get('targets', sha256(big.bytes), big.bytes)).toBeUndefined();
  });

  it('keeps targets only when they delegate: no publish reads the others back', () => {
    const c = new ParsedMetadataCache();
    const plain = targetsOfSize(sim, 1, 3, false);
    const parent = targetsOfSize(sim, 2, 3, true);
    c.set('targets', sha256(plain.bytes), plain);
    c.set('targets', sha256(parent.bytes), parent);
    expect(c.get('targets', sha256(plain.bytes), plain.bytes)).toBeUndefined();
    expect(c.get('targets', sha256(parent.bytes), parent.bytes)).toBe(parent);
    expect(c.size).toBe(1);
  });
});
