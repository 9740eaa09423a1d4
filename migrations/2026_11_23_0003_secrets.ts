import { type Kysely, sql } from 'kysely';

/**
 * What must never enter an event: per-subject data keys (crypto-shredding), API key hashes and
 * stored idempotent responses (which can hold a key shown once), all wrapped or hashed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table subject_keys (
      tenant_id text not null,
      subject_id text not null,
      wrapped_key bytea,
      created_at timestamptz not null default now(),
      destroyed_at timestamptz,
      primary key (tenant_id, subject_id)
    )`.execute(db);
  await sql`
    create table api_key_secrets (
      key_id text primary key,
      tenant_id text not null,
      secret_hash bytea not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table operator_keys (
      key_id text primary key,
      secret_hash bytea not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table idempotency_keys (
      scope text not null,
      key text not null,
      request_hash text not null,
      status_code integer,
      response bytea,
      created_at timestamptz not null default now(),
      primary key (scope, key)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table idempotency_keys`.execute(db);
  await sql`drop table operator_keys`.execute(db);
  await sql`drop table api_key_secrets`.execute(db);
  await sql`drop table subject_keys`.execute(db);
}
