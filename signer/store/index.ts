/** Open the configured key store. */
import { StorageConfig } from '../config';
import { PostgresKeyStore } from './postgres';
import { SqliteKeyStore } from './sqlite';
import { KeyStore } from './types';

export * from './types';
export { SqliteKeyStore } from './sqlite';
export { PostgresKeyStore } from './postgres';

export async function openKeyStore(storage: StorageConfig): Promise<KeyStore> {
  let store: KeyStore;
  switch (storage.backend) {
    case 'sqlite':
      store = new SqliteKeyStore(storage.path);
      break;
    case 'postgres':
      store = new PostgresKeyStore(storage.url);
      break;
    default: {
      const never: never = storage;
      throw new Error(`unknown storage backend ${String(never)}`);
    }
  }
  try {
    await store.init();
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
  return store;
}
