import { type Kysely, sql } from 'kysely';

/**
 * The e-mail outbox: one row per queued message not yet sent or given up, written by the e-mail
 * worker's intake from `email.queued` (in the transaction that moves its `email_outbox` checkpoint)
 * and deleted once `email.sent` or `email.failed` is recorded. It holds the retry state only, never
 * the recipient or the content: those are read from the event when the message is sent, so erasing
 * the subject leaves nothing readable here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table email_outbox (
      tenant_id text not null,
      message_id text not null,
      seq bigint generated always as identity,
      stream text not null,
      event_position bigint not null,
      queued_at timestamptz not null,
      attempts integer not null default 0,
      next_attempt_at timestamptz not null,
      sending_since timestamptz,
      last_error text,
      primary key (tenant_id, message_id)
    )`.execute(db);
  await sql`create index email_outbox_due on email_outbox (tenant_id, next_attempt_at, seq)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table email_outbox`.execute(db);
}
