import { type Kysely, sql } from 'kysely';

/** The PostgreSQL event store: one row per stream (its revision) and the append-only events table. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table sigid_streams (
      stream_name text primary key,
      tenant_id text not null,
      revision bigint not null
    )`.execute(db);
  await sql`
    create table sigid_events (
      global_position bigint generated always as identity primary key,
      event_id uuid not null unique,
      stream_name text not null,
      stream_revision bigint not null,
      tenant_id text not null,
      event_type text not null,
      event_version integer not null,
      data jsonb not null,
      actor_type text not null,
      actor_id text not null,
      correlation_id text not null,
      causation_id text,
      recorded_at timestamptz not null default now(),
      unique (stream_name, stream_revision)
    )`.execute(db);
  await sql`create index sigid_events_tenant on sigid_events (tenant_id, global_position)`.execute(db);
  await sql`create index sigid_events_tenant_type on sigid_events (tenant_id, event_type, global_position)`.execute(db);
  // Nothing is ever lost: the table refuses updates and deletes (crypto-shredding erases, not DELETE).
  await sql`
    create function sigid_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'sigid_events is append-only';
    end $$`.execute(db);
  await sql`
    create trigger sigid_events_append_only before update or delete or truncate on sigid_events
    for each statement execute function sigid_events_append_only()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table sigid_events`.execute(db);
  await sql`drop function sigid_events_append_only`.execute(db);
  await sql`drop table sigid_streams`.execute(db);
}
