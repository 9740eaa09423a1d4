import type { Generated, Insertable, Selectable } from 'kysely';

export const tableName = 'idempotency_keys';

/**
 * One row per `Idempotency-Key` (per caller scope): the request's hash and, once answered, its status
 * and its answer sealed with the master key (it can hold a key shown once).
 */
export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number | null;
  response: Uint8Array | null;
  created_at: Generated<Date>;
}

export type IdempotencyKeyRow = Selectable<IdempotencyKeysTable>;
export type NewIdempotencyKeyRow = Insertable<IdempotencyKeysTable>;

/** The database as far as this table goes. */
export type IdempotencyKeysModel = { [tableName]: IdempotencyKeysTable };
