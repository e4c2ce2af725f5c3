/**
 * Chooses the store engine from configuration (`KUMA_STORE_TYPE`): memory for tests
 * and throw-away runs, sqlite (default) for one CP with durable state, postgres for
 * several CP replicas sharing one database.
 */
import { UsageError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { MemoryStore } from './memory-store';
import { PostgresStore, type PostgresStoreConfig } from './postgres-store';
import { SqliteStore } from './sqlite-store';
import type { ResourceStore } from './store';

/** Store engines the configuration may name. */
export const STORE_TYPES = ['memory', 'sqlite', 'postgres'] as const;
/** A store engine name. */
export type StoreType = (typeof STORE_TYPES)[number];
const SUPPORTED: readonly StoreType[] = ['memory', 'sqlite', 'postgres'];

/** Options of createStore. */
export interface StoreConfig {
  type: StoreType | string;
  /** The CP work directory; sqlite keeps `kuma.db` here. Required for sqlite. */
  workDir?: string;
  /** Connection settings (config `store.postgres`, KUMA_STORE_POSTGRES_*). Required for postgres. */
  postgres?: PostgresStoreConfig;
  logger?: Logger;
}

/** Opens the configured store; UsageError for an unknown or unsupported type or a missing workDir. */
export async function createStore(config: StoreConfig): Promise<ResourceStore> {
  switch (config.type) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      if (!config.workDir) throw new UsageError('store type "sqlite" needs a work directory (KUMA_GENERAL_WORK_DIR)');
      return new SqliteStore({ dir: config.workDir, logger: config.logger });
    case 'postgres':
      if (!config.postgres) throw new UsageError('store type "postgres" needs connection settings (store.postgres, KUMA_STORE_POSTGRES_*)');
      return PostgresStore.open({ ...config.postgres, logger: config.logger });
    default:
      throw new UsageError(`unknown store type ${JSON.stringify(config.type)} (KUMA_STORE_TYPE); supported: ${SUPPORTED.join(', ')}`);
  }
}

export { MemoryStore } from './memory-store';
export { SqliteStore, StoreError, SQLITE_FILE_NAME } from './sqlite-store';
export { PostgresStore } from './postgres-store';
export type { ResourceStore, StoreEvent, TransactionOp, WriteOptions, ListOptions } from './store';
