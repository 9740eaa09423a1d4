import { type Kysely, sql } from 'kysely';

/**
 * Webhooks: the endpoints read model, the signing secrets (sealed, never in events), and the delivery
 * worker's own tables: its checkpoint on the event stream, its view of who subscribes to what, the
 * per-endpoint message queue (the outbox it fills in the same transaction as its checkpoint) and
 * the log of every attempt.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table webhook_endpoints (
      tenant_id text not null,
      endpoint_id text not null,
      url text not null,
      event_types jsonb not null,
      description text,
      status text not null,
      disabled_reason text,
      disabled_detail text,
      disabled_at timestamptz,
      secret_id text not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, endpoint_id)
    )`.execute(db);
  await sql`
    create table webhook_secrets (
      tenant_id text not null,
      secret_id text not null,
      endpoint_id text not null,
      sealed bytea not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz,
      primary key (tenant_id, secret_id)
    )`.execute(db);
  await sql`create index webhook_secrets_endpoint on webhook_secrets (tenant_id, endpoint_id)`.execute(db);
  await sql`
    create table webhook_checkpoints (
      name text primary key,
      position bigint not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table webhook_subscriptions (
      tenant_id text not null,
      endpoint_id text not null,
      url text not null,
      event_types jsonb not null,
      enabled boolean not null,
      failing_since timestamptz,
      primary key (tenant_id, endpoint_id)
    )`.execute(db);
  await sql`
    create table webhook_messages (
      tenant_id text not null,
      message_id text not null,
      seq bigint generated always as identity,
      endpoint_id text not null,
      event_id uuid not null,
      event_position bigint not null,
      event_type text not null,
      origin text not null,
      status text not null,
      attempts integer not null default 0,
      next_attempt_at timestamptz not null,
      last_attempt_at timestamptz,
      last_response_status integer,
      last_error text,
      created_at timestamptz not null default now(),
      finished_at timestamptz,
      primary key (tenant_id, message_id)
    )`.execute(db);
  // The fan-out writes each (endpoint, event) once, whatever a crash makes it read twice.
  await sql`create unique index webhook_messages_once on webhook_messages (endpoint_id, event_id) where origin = 'stream'`.execute(
    db,
  );
  await sql`create index webhook_messages_queue on webhook_messages (endpoint_id, seq) where status = 'pending'`.execute(
    db,
  );
  await sql`create index webhook_messages_log on webhook_messages (tenant_id, endpoint_id, seq)`.execute(db);
  await sql`
    create table webhook_attempts (
      tenant_id text not null,
      message_id text not null,
      attempt integer not null,
      endpoint_id text not null,
      attempted_at timestamptz not null,
      outcome text not null,
      response_status integer,
      latency_ms integer not null,
      response_body text,
      error text,
      next_attempt_at timestamptz,
      primary key (tenant_id, message_id, attempt)
    )`.execute(db);
  await sql`create index webhook_attempts_endpoint on webhook_attempts (tenant_id, endpoint_id, attempted_at)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table webhook_attempts`.execute(db);
  await sql`drop table webhook_messages`.execute(db);
  await sql`drop table webhook_subscriptions`.execute(db);
  await sql`drop table webhook_checkpoints`.execute(db);
  await sql`drop table webhook_secrets`.execute(db);
  await sql`drop table webhook_endpoints`.execute(db);
}
