import type { Kysely } from 'kysely';

/**
 * A handle on a wider database seen as one of only `Model`'s tables. kysely's types are invariant in
 * the database type, so a query function takes `<DB extends Model>(db: Kysely<DB>)` (which checks
 * that the caller's database has those tables) and queries through this.
 */
export function narrow<Model>(db: object): Kysely<Model> {
  return db as Kysely<Model>;
}
