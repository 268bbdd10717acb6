// The PostgreSQL storage, as the server and the tests open it; its parts are in postgres/.
export { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from './postgres/store.ts';
export { isConnectionError, mapError } from './postgres/sql.ts';
export type { Logger } from './migrate.ts';
