import { type Kysely, sql } from 'kysely';

/**
 * The APIs read model: a tenant's resource servers with their scopes (identifier unique per tenant,
 * reserved on the write side; the index serves the issuer's lookup by resource), and the grants of
 * their scopes to applications (the second index serves ending an application's grants).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table apis (
      tenant_id text not null,
      api_id text not null,
      name text not null,
      identifier text not null,
      scopes jsonb not null,
      access_token_ttl_seconds integer not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, api_id)
    )`.execute(db);
  await sql`create unique index apis_identifier on apis (tenant_id, identifier)`.execute(db);
  await sql`
    create table api_grants (
      tenant_id text not null,
      api_id text not null,
      application_id text not null,
      scopes jsonb not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, api_id, application_id)
    )`.execute(db);
  await sql`create index api_grants_application on api_grants (tenant_id, application_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table api_grants`.execute(db);
  await sql`drop table apis`.execute(db);
}
