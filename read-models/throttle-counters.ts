import type { Selectable } from 'kysely';

export const tableName = 'throttle_counters';

/**
 * Worker state, not a projected table: the sign-in throttle's failure counter per key
 * (src/throttle.ts). `key` is `{kind}:{purpose}:{value}`, the value never a raw e-mail or IP address
 * (keyed hashes) — an account id at most. An attempt before `next_attempt_at` is refused; once
 * `expires_at` is past the row counts nothing and the prune deletes it.
 */
export interface ThrottleCountersTable {
  key: string;
  failures: number;
  window_started_at: Date;
  last_failure_at: Date;
  next_attempt_at: Date;
  expires_at: Date;
}

export type ThrottleCounterRow = Selectable<ThrottleCountersTable>;

/** The database as far as this table goes. */
export type ThrottleCountersModel = { [tableName]: ThrottleCountersTable };
