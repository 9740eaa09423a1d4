import { type Kysely, sql } from 'kysely';

/** Read models of the tenants aggregate: tenants and their admin API keys. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table tenants (
      tenant_id text primary key,
      slug text not null unique,
      name text not null,
      status text not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null
    )`.execute(db);
  await sql`
    create table api_keys (
      tenant_id text not null,
      key_id text not null,
      name text not null,
      created_by text not null,
      created_at timestamptz not null,
      revoked_at timestamptz,
      primary key (tenant_id, key_id)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table api_keys`.execute(db);
  await sql`drop table tenants`.execute(db);
}
