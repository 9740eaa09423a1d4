import { type Kysely, sql } from 'kysely';

/**
 * The roles read model: a tenant's roles with their permissions (names unique per tenant, case
 * insensitive, reserved on the write side), who holds each (tenant level: `organization_id` null;
 * the index serves the issuer's lookup of a user's roles), and the tenant's role claims settings.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table roles (
      tenant_id text not null,
      role_id text not null,
      name text not null,
      description text not null,
      permissions jsonb not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, role_id)
    )`.execute(db);
  await sql`
    create table role_assignments (
      tenant_id text not null,
      role_id text not null,
      sub text not null,
      organization_id text,
      created_at timestamptz not null
    )`.execute(db);
  await sql`
    create unique index role_assignments_key
      on role_assignments (tenant_id, role_id, sub, organization_id) nulls not distinct`.execute(db);
  await sql`create index role_assignments_sub on role_assignments (tenant_id, sub)`.execute(db);
  await sql`alter table tenants add column roles_claim text default 'roles'`.execute(db);
  await sql`alter table tenants add column permissions_claim text default 'permissions'`.execute(db);
  await sql`alter table tenants add column enforce_permissions boolean not null default false`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenants drop column enforce_permissions`.execute(db);
  await sql`alter table tenants drop column permissions_claim`.execute(db);
  await sql`alter table tenants drop column roles_claim`.execute(db);
  await sql`drop table role_assignments`.execute(db);
  await sql`drop table roles`.execute(db);
}
