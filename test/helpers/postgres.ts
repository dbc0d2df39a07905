/**
 * A private PostgreSQL cluster for tests. The logic lives in scripts/postgres.ts so that the
 * benchmark (a script, not a test) can start the same kind of cluster; this keeps the test API.
 *
 * Gate suites on the binaries with `describeWith(['initdb', 'postgres'], name, fn, PG_BIN_DIRS)`.
 */
export { findPostgresBinDir, startPostgres } from '../../scripts/postgres';
export type { PostgresCluster } from '../../scripts/postgres';
