import { type Kysely, sql } from 'kysely';

/**
 * Whether a tenant's issuer takes clients it never registered (`tenant.client_registration.changed`):
 * Client ID Metadata Documents and RFC 7591 dynamic registration, both off by default.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table tenants
      add column client_id_metadata_documents boolean not null default false,
      add column dynamic_registration boolean not null default false`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table tenants
      drop column client_id_metadata_documents,
      drop column dynamic_registration`.execute(db);
}
