import {
  type Compilable,
  DummyDriver,
  type InferResult,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type RawBuilder,
  sql,
} from 'kysely';
import type { ReadModels } from '../../read-models/database.ts';
import type { Queryable } from './database.ts';

/**
 * Builds statements only (it has no connection): kysely checks their tables and columns against the
 * table types, and `run` sends them through any `Queryable`, a `Database.transaction`'s included.
 */
export const build = new Kysely<ReadModels>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Runs a statement made with `build`; its rows are typed by the statement. `prepare` as in `Queryable.query`. */
export async function run<Query extends Compilable<unknown>>(
  on: Queryable,
  query: Query,
  prepare?: string,
): Promise<{ rows: InferResult<Query>; rowCount: number }> {
  const compiled = query.compile();
  const result = await on.query(compiled.sql, compiled.parameters as unknown[], prepare);
  return { rows: result.rows as InferResult<Query>, rowCount: result.rowCount };
}

/** A table in a statement kept as SQL, its name checked against the table types. */
export function table(name: keyof ReadModels): RawBuilder<unknown> {
  return sql.table(name);
}

/** A column of `table` in a statement kept as SQL, its name checked. */
export function column<Table extends keyof ReadModels>(
  _table: Table,
  name: keyof ReadModels[Table] & string,
): RawBuilder<unknown> {
  return sql.ref(name);
}

/** Columns of `table`, comma-separated, their names checked. */
export function columns<Table extends keyof ReadModels>(
  table: Table,
  names: ReadonlyArray<keyof ReadModels[Table] & string>,
): RawBuilder<unknown> {
  return sql.join(names.map((name) => column(table, name)));
}
