import { type Kysely, sql } from 'kysely';

/** Projection bookkeeping: one checkpoint row per projection and the events set aside as failing. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table projection_checkpoints (
      name text primary key,
      version integer not null,
      position bigint not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table projection_failures (
      projection text not null,
      event_id uuid not null,
      position bigint not null,
      event_type text not null,
      error text not null,
      attempts integer not null,
      failed_at timestamptz not null default now(),
      primary key (projection, event_id)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table projection_failures`.execute(db);
  await sql`drop table projection_checkpoints`.execute(db);
}
