/** Paths to the real Notary 0.7 trust data in ../shared. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/notary-0.7');

export function fixture(rel: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, rel));
}

/** The GUNs the fixtures were made for. */
export const FIXTURE_APP_GUN = 'example.com/notary-fixtures/app';
export const FIXTURE_SERVER_SNAPSHOT_GUN = 'example.com/notary-fixtures/server-snapshot';

/** A moment at which every fixture is still valid (their timestamps expire on 2026-12-07). */
export const FIXTURE_NOW = Date.parse('2026-11-24T12:00:00Z');
