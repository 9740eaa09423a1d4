import { type Kysely, sql } from 'kysely';

/**
 * A tenant's settings on its `tenants` row (projected from `tenant.branding.changed` and
 * `tenant.mfa_policy.changed`): branding fields, null meaning the default, and the MFA policy.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table tenants
      add column display_name text,
      add column logo_uri text,
      add column primary_color text,
      add column background_color text,
      add column mfa_mode text not null default 'optional',
      add column mfa_required_for_applications jsonb not null default '[]'::jsonb`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table tenants
      drop column display_name,
      drop column logo_uri,
      drop column primary_color,
      drop column background_color,
      drop column mfa_mode,
      drop column mfa_required_for_applications`.execute(db);
}
