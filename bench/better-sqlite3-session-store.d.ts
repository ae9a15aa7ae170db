/** better-sqlite3-session-store ships no types: the part bench/peers.ts uses. */
declare module 'better-sqlite3-session-store' {
  import type session from 'express-session';
  import type { Database } from 'better-sqlite3';

  interface SqliteStoreOptions {
    client: Database;
    expired?: { clear?: boolean; intervalMs?: number };
  }
  function sqliteStore(expressSession: typeof session): new (options: SqliteStoreOptions) => session.Store;
  export default sqliteStore;
}
