import { type Kysely, sql } from 'kysely';

/**
 * The sign-in throttle's counters (src/throttle.ts): one row per throttled key (an e-mail address's
 * keyed hash, an account, a client network's keyed hash), shared by every SigID process.
 * Operational state, not events: a row lives for minutes and is deleted once `expires_at` is past.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table throttle_counters (
      key text primary key,
      failures integer not null,
      window_started_at timestamptz not null,
      last_failure_at timestamptz not null,
      next_attempt_at timestamptz not null,
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index throttle_counters_expiry on throttle_counters (expires_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table throttle_counters`.execute(db);
}
