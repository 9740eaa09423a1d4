import { type Kysely, sql } from 'kysely';

/** The delivery log is pruned by age (SIGID_WEBHOOK_RETENTION): find old messages without a scan. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index webhook_messages_created on webhook_messages (created_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index webhook_messages_created`.execute(db);
}
