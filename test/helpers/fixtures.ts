/** Paths to the real Notary 0.7 trust data in ../shared. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/notary-0.7');

export function fixture(rel: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, rel));
}
