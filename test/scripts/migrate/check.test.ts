/**
 * The post-migration check on real fixture data: a repository is servable only when its root and
 * timestamp verify and the signer holds a timestamp key its root names.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkRepositories } from '../../../scripts/migrate/check';
import { SqliteStore } from '../../../server/storage';
import { SqliteKeyStore } from '../../../signer/store';
import { fixture } from '../../helpers/fixtures';

const GUN = 'example.com/notary-fixtures/server-snapshot';
const TIMESTAMP_KEY = 'f5a0ea8ec3ebee7c763d69f4a378959f491382af4ef1c7992bacbeed97bcf766';

describe('checkRepositories', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-migrate-check-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const storeWith = async (root: Buffer, timestamp: Buffer) => {
    const store = SqliteStore.open(path.join(dir, `s${++n}.db`), { watchIntervalMs: 0 });
    await store.update(GUN, [
      { role: 'root', version: 2, bytes: root },
      { role: 'timestamp', version: 3, bytes: timestamp },
    ]);
    return store;
  };

  it('passes the real fixture repository when no signer is checked', async () => {
    const store = await storeWith(fixture('server-snapshot/root.json'), fixture('server-snapshot/timestamp.json'));
    expect(await checkRepositories([GUN], store, null)).toEqual([]);
    await store.close();
  });

  it('reports a root whose signature does not verify (altered after signing)', async () => {
    const root = fixture('server-snapshot/root.json').toString().replace('"version":2', '"version":2,"x":1');
    const store = await storeWith(Buffer.from(root), fixture('server-snapshot/timestamp.json'));
    const findings = await checkRepositories([GUN], store, null);
    expect(findings).toHaveLength(1);
    expect(findings[0]?.problem).toMatch(/current root \(version 2\) does not verify/);
    await store.close();
  });

  it("reports a timestamp not signed by the root's timestamp key (another repository's)", async () => {
    const store = await storeWith(fixture('server-snapshot/root.json'), fixture('app/before-root-rotation/timestamp.json'));
    expect((await checkRepositories([GUN], store, null))[0]?.problem).toMatch(/timestamp \(version 3\) does not verify/);
    await store.close();
  });

  it('reports a signer that lacks the timestamp key', async () => {
    const store = await storeWith(fixture('server-snapshot/root.json'), fixture('server-snapshot/timestamp.json'));
    const keys = new SqliteKeyStore(path.join(dir, 'keys.db'));
    await keys.init();
    const findings = await checkRepositories([GUN], store, keys);
    expect(findings[0]?.problem).toMatch(new RegExp(`holds no timestamp key this root names \\(${TIMESTAMP_KEY.slice(0, 12)}\\)`));
    await keys.close();
    await store.close();
  });
});
