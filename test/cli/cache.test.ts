/**
 * The trust dir metadata cache: notary's layout, private modes, exact bytes, GUN path safety.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CacheError, MetadataCache, repositoryDir } from '../../cli/cache';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-cache-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const GUN = 'docker.io/library/alpine';

it('stores exact bytes at tuf/<GUN>/metadata/<role>.json with delegations nested, files 0600 and dirs 0700', () => {
  const cache = new MetadataCache(dir);
  const bytes = Buffer.from('{"signed":{"x":"\\u003c"},"signatures":[]}\n ');
  cache.write(GUN, 'root', bytes);
  cache.write(GUN, 'targets/releases/nightly', Buffer.from('n'));
  const root = path.join(dir, 'tuf/docker.io/library/alpine/metadata/root.json');
  expect(fs.readFileSync(root).equals(bytes)).toBe(true);
  expect(cache.read(GUN, 'root')!.equals(bytes)).toBe(true);
  const nested = path.join(dir, 'tuf/docker.io/library/alpine/metadata/targets/releases/nightly.json');
  expect(fs.readFileSync(nested, 'utf8')).toBe('n');
  expect(fs.statSync(root).mode & 0o777).toBe(0o600);
  expect(fs.statSync(nested).mode & 0o777).toBe(0o600);
  for (const d of ['tuf', 'tuf/docker.io', 'tuf/docker.io/library/alpine/metadata', 'tuf/docker.io/library/alpine/metadata/targets/releases']) {
    expect(fs.statSync(path.join(dir, d)).mode & 0o777).toBe(0o700);
  }
  expect(cache.roles(GUN)).toEqual(['root', 'targets/releases/nightly']);
  // no temp files are left behind
  expect(fs.readdirSync(path.dirname(root))).toEqual(['root.json', 'targets']);
  expect(repositoryDir(dir, GUN)).toBe(path.join(dir, 'tuf/docker.io/library/alpine'));
});

it('overwrites atomically and removes one role or every role of a GUN, leaving other GUNs alone', () => {
  const cache = new MetadataCache(dir);
  cache.write(GUN, 'timestamp', Buffer.from('1'));
  cache.write(GUN, 'timestamp', Buffer.from('2'));
  expect(cache.read(GUN, 'timestamp')!.toString()).toBe('2');
  cache.write(GUN, 'snapshot', Buffer.from('s'));
  cache.write('docker.io/library/alpine2', 'root', Buffer.from('other'));
  cache.remove(GUN, 'timestamp');
  expect(cache.read(GUN, 'timestamp')).toBeNull();
  expect(cache.read(GUN, 'snapshot')!.toString()).toBe('s');
  cache.removeAll(GUN);
  expect(cache.roles(GUN)).toEqual([]);
  expect(cache.read('docker.io/library/alpine2', 'root')!.toString()).toBe('other');
});

it('refuses GUNs that would leave the trust dir, and invalid role names', () => {
  const cache = new MetadataCache(dir);
  for (const gun of ['..', '../evil', 'a/../../evil', '/etc', 'a//b', 'a/./b', 'a\\..\\b', '', 'a/b/', 'bad\u0000gun']) {
    expect(() => cache.write(gun, 'root', Buffer.from('x'))).toThrow(CacheError);
    expect(() => cache.read(gun, 'root')).toThrow(expect.objectContaining({ code: 'CACHE_GUN' }));
  }
  for (const role of ['../root', 'targets/../../x', 'Targets', 'root.json', 'targets/', 'foo']) {
    expect(() => cache.write(GUN, role, Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'CACHE_ROLE' }));
  }
  expect(fs.readdirSync(dir)).toEqual([]);
});

it('refuses a cached file above the caller bound, and one that is a symlink', () => {
  const cache = new MetadataCache(dir);
  cache.write(GUN, 'root', Buffer.alloc(100));
  expect(() => cache.read(GUN, 'root', 99)).toThrow(expect.objectContaining({ code: 'CACHE_TOO_LARGE' }));
  expect(cache.read(GUN, 'root', 100)!.length).toBe(100);
  const outside = path.join(dir, 'outside.json');
  fs.writeFileSync(outside, 'secret');
  fs.symlinkSync(outside, cache.file(GUN, 'targets'));
  expect(() => cache.read(GUN, 'targets')).toThrow(expect.objectContaining({ code: 'CACHE_IO' }));
});
