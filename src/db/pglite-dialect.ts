import type { PGlite } from '@electric-sql/pglite';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import type { Mutex } from './mutex.ts';

/**
 * Kysely over PGlite's single connection. A connection is the mutex: kysely holds it from acquire
 * to release (a whole transaction included), so no other statement can run inside someone else's
 * transaction. Affected-row counts are reported, unlike kysely-pglite.
 */
export class PGliteDialect implements Dialect {
  readonly #pglite: PGlite;
  readonly #mutex: Mutex;

  constructor(pglite: PGlite, mutex: Mutex) {
    this.#pglite = pglite;
    this.#mutex = mutex;
  }

  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.#pglite, this.#mutex);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
}

class PGliteDriver implements Driver {
  readonly #pglite: PGlite;
  readonly #mutex: Mutex;
  readonly #releases = new WeakMap<DatabaseConnection, () => void>();

  constructor(pglite: PGlite, mutex: Mutex) {
    this.#pglite = pglite;
    this.#mutex = mutex;
  }

  async init() {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#mutex.acquire();
    const pglite = this.#pglite;
    const connection: DatabaseConnection = {
      async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
        const result = await pglite.query<R>(query.sql, query.parameters as unknown[]);
        const affected = result.affectedRows ?? 0;
        return affected > 0 || result.fields.length === 0
          ? { rows: result.rows, numAffectedRows: BigInt(affected) }
          : { rows: result.rows };
      },
      // biome-ignore lint/correctness/useYield: PGlite has no server-side cursors; streaming is not supported.
      async *streamQuery() {
        throw new Error('streaming queries are not supported on embedded PGlite');
      },
    };
    this.#releases.set(connection, release);
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    await this.#pglite.exec(`begin${isolation}`);
    void connection;
  }
  async commitTransaction() {
    await this.#pglite.exec('commit');
  }
  async rollbackTransaction() {
    await this.#pglite.exec('rollback');
  }
  async releaseConnection(connection: DatabaseConnection) {
    this.#releases.get(connection)?.();
    this.#releases.delete(connection);
  }
  async destroy() {}
}
