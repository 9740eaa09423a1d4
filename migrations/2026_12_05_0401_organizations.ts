import { type Kysely, sql } from 'kysely';

/**
 * The organizations read model: a tenant's organizations (name unique per tenant, reserved on the
 * write side), their members by `sub` with their organization roles (the second index serves "which
 * organizations is this user in"), and their domains (a verified one unique per tenant, reserved on
 * the write side; the index serves home-realm discovery by domain).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table organizations (
      tenant_id text not null,
      organization_id text not null,
      name text not null,
      display_name text not null,
      metadata jsonb not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, organization_id)
    )`.execute(db);
  await sql`create unique index organizations_name on organizations (tenant_id, name)`.execute(db);
  await sql`
    create table organization_members (
      tenant_id text not null,
      organization_id text not null,
      sub text not null,
      roles jsonb not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, organization_id, sub)
    )`.execute(db);
  await sql`create index organization_members_sub on organization_members (tenant_id, sub)`.execute(db);
  await sql`
    create table organization_domains (
      tenant_id text not null,
      organization_id text not null,
      domain text not null,
      record_name text not null,
      token text not null,
      verified_at timestamptz,
      created_at timestamptz not null,
      primary key (tenant_id, organization_id, domain)
    )`.execute(db);
  await sql`create index organization_domains_domain on organization_domains (tenant_id, domain)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table organization_domains`.execute(db);
  await sql`drop table organization_members`.execute(db);
  await sql`drop table organizations`.execute(db);
}
