import { type Kysely, sql } from 'kysely';

/**
 * The webhook queue becomes an append-only log per endpoint read through a cursor, like a consumer
 * offset: `webhook_subscriptions.delivered_seq` says every message of the endpoint up to that `seq`
 * is finished, and the retry state of the first unfinished one (its attempts, when it is due) lives
 * on the same row. A delivery writes its attempt row and moves the cursor; it no longer rewrites the
 * message row (that rewrite, a new tuple and three index entries per delivery, was most of
 * PostgreSQL's work per delivery). A message row is written again only when it ends otherwise than
 * delivered: `outcome` is `failed` (given up) or `cancelled` (its endpoint was deleted).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table webhook_subscriptions
      add column delivered_seq bigint not null default 0,
      add column head_attempts integer not null default 0,
      add column next_attempt_at timestamptz`.execute(db);
  await sql`alter table webhook_messages add column outcome text`.execute(db);
  // The cursor of each endpoint: just before its first pending message, or at its last message.
  await sql`
    update webhook_subscriptions s set
      delivered_seq = coalesce(
        (select min(m.seq) - 1 from webhook_messages m where m.endpoint_id = s.endpoint_id and m.status = 'pending'),
        (select max(m.seq) from webhook_messages m where m.endpoint_id = s.endpoint_id),
        0),
      head_attempts = coalesce(
        (select m.attempts from webhook_messages m where m.endpoint_id = s.endpoint_id and m.status = 'pending'
         order by m.seq limit 1),
        0),
      next_attempt_at =
        (select m.next_attempt_at from webhook_messages m where m.endpoint_id = s.endpoint_id and m.status = 'pending'
         order by m.seq limit 1)`.execute(db);
  await sql`update webhook_messages set outcome = status where status in ('failed', 'cancelled')`.execute(db);
  // What these said per message is now read from the attempt log and the cursor.
  await sql`
    alter table webhook_messages
      drop column status,
      drop column attempts,
      drop column next_attempt_at,
      drop column last_attempt_at,
      drop column last_response_status,
      drop column last_error`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table webhook_messages
      add column status text not null default 'pending',
      add column attempts integer not null default 0,
      add column next_attempt_at timestamptz not null default now(),
      add column last_attempt_at timestamptz,
      add column last_response_status integer,
      add column last_error text`.execute(db);
  await sql`
    update webhook_messages m set status = coalesce(m.outcome,
      case when m.seq <= coalesce((select s.delivered_seq from webhook_subscriptions s
                                   where s.tenant_id = m.tenant_id and s.endpoint_id = m.endpoint_id), m.seq)
           then 'delivered' else 'pending' end)`.execute(db);
  await sql`create index webhook_messages_queue on webhook_messages (endpoint_id, seq) where status = 'pending'`.execute(
    db,
  );
  await sql`alter table webhook_messages drop column outcome`.execute(db);
  await sql`
    alter table webhook_subscriptions
      drop column delivered_seq,
      drop column head_attempts,
      drop column next_attempt_at`.execute(db);
}
