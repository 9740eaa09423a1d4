import { type Kysely, sql } from 'kysely';

/**
 * One checkpoint table for every checkpointed reader of the global order: the webhook fan-out's
 * checkpoint moves from its own table into `projection_checkpoints` (as `webhook_fanout`, version 1),
 * and its table goes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    insert into projection_checkpoints (name, version, position, updated_at)
    select 'webhook_fanout', 1, position, updated_at from webhook_checkpoints where name = 'fanout'
    on conflict (name) do nothing`.execute(db);
  await sql`drop table webhook_checkpoints`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table webhook_checkpoints (
      name text primary key,
      position bigint not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    insert into webhook_checkpoints (name, position, updated_at)
    select 'fanout', position, updated_at from projection_checkpoints where name = 'webhook_fanout'`.execute(db);
  await sql`delete from projection_checkpoints where name = 'webhook_fanout'`.execute(db);
}
