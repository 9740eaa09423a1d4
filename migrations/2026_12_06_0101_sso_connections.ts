import { type Kysely, sql } from 'kysely';

/**
 * The SSO connections read model: a tenant's connections, each of one organization, with its
 * protocol and its settings as the API shows them (never the client secret, which is sealed apart).
 * The index serves the sign-in's lookup of an organization's enabled connections.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table connections (
      tenant_id text not null,
      connection_id text not null,
      organization_id text not null,
      name text not null,
      protocol text not null,
      enabled boolean not null,
      oidc jsonb,
      role_mapping jsonb not null,
      link_existing_accounts boolean not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, connection_id)
    )`.execute(db);
  await sql`create index connections_organization on connections (tenant_id, organization_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table connections`.execute(db);
}
