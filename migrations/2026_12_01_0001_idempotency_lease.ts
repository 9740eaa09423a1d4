import { type Kysely, sql } from 'kysely';

/**
 * An idempotency key is held for a lease, not until its request answers: a request that died (a
 * crash) leaves its key free again within seconds instead of blocking retries until the TTL.
 * Keys in flight when this runs are free at once.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table idempotency_keys add column locked_until timestamptz not null default now()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table idempotency_keys drop column locked_until`.execute(db);
}
