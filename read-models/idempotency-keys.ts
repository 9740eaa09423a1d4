import type { Generated, Insertable, Selectable } from 'kysely';

export const tableName = 'idempotency_keys';

/**
 * Worker state, not a projected table: one `Idempotency-Key` claim per caller scope, held by the
 * request handling it until `locked_until`, and the first successful answer once there is one,
 * sealed by master key `response_key_id` (it can hold a key shown once).
 */
export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number | null;
  response: Uint8Array | null;
  response_key_id: string | null;
  created_at: Generated<Date>;
  /** Until when the request handling it holds the key; after that (it died) a retry may take it over. */
  locked_until: Generated<Date>;
}

export type IdempotencyKeyRow = Selectable<IdempotencyKeysTable>;
export type NewIdempotencyKeyRow = Insertable<IdempotencyKeysTable>;

/** The database as far as this table goes. */
export type IdempotencyKeysModel = { [tableName]: IdempotencyKeysTable };
