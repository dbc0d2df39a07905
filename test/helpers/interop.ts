/**
 * Gates for tests that need real outside binaries (notary, notary-server, notary-signer,
 * docker-registry, PostgreSQL, docker). Locally a missing binary skips the suite loudly; in CI
 * (.ci/run sets VOUCH_REQUIRE_INTEROP=1) it is a failure.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const required = process.env.VOUCH_REQUIRE_INTEROP === '1';

export function findBinary(name: string, extraDirs: string[] = []): string | null {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(path.delimiter)];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * `describe` when every binary is present, else a loud skip (or, in CI, a failing test that
 * names what is missing).
 */
export function describeWith(binaries: string[], name: string, fn: () => void, extraDirs: string[] = []): void {
  const missing = binaries.filter((b) => findBinary(b, extraDirs) === null);
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  const msg = `${name}: missing ${missing.join(', ')} (apt-get install -y notary docker-registry postgresql-15)`;
  if (required) {
    describe(name, () => {
      it('has the binaries it needs', () => {
        throw new Error(msg);
      });
    });
  } else {
    // eslint-disable-next-line no-console
    console.warn(`SKIPPED ${msg}`);
    describe.skip(name, fn);
  }
}

export const PG_BIN_DIRS = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'];
