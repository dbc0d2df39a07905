/**
 * Storage behind one interface: `openStore` picks the backend from configuration.
 */
import { PostgresStore, type PostgresStoreOptions } from './postgres';
import { SqliteStore, type SqliteStoreOptions } from './sqlite';
import { TufStore } from './types';

export * from './types';
export { MAX_CHANGE_RECORDS } from './common';
export { SqliteStore } from './sqlite';
export type { SqliteStoreOptions } from './sqlite';
export { PostgresStore, CHANGE_CHANNEL } from './postgres';
export type { PostgresStoreOptions } from './postgres';

export type StoreConfig =
  | ({ backend: 'sqlite'; path: string } & SqliteStoreOptions)
  | ({ backend: 'postgres'; url: string } & PostgresStoreOptions);

export async function openStore(cfg: StoreConfig): Promise<TufStore> {
  switch (cfg.backend) {
    case 'sqlite':
      return SqliteStore.open(cfg.path, cfg);
    case 'postgres':
      return PostgresStore.open(cfg.url, cfg);
    default: {
      const never: never = cfg;
      throw new Error(`unknown storage backend ${JSON.stringify((never as { backend: unknown }).backend)}`);
    }
  }
}
