import { type Kysely, sql } from 'kysely';

/**
 * The users read model: a tenant's users by their pairwise sub, with the tenant's copy of the
 * e-mail address and the profile it owns. A deleted user stays as a tombstone row (status `deleted`,
 * every personal field null). The indexes serve the list's search: e-mail by prefix
 * (case-insensitive) and status, each inside the tenant.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table users (
      tenant_id text not null,
      sub text not null,
      email text,
      email_verified boolean not null,
      name text,
      given_name text,
      family_name text,
      picture text,
      metadata jsonb not null,
      status text not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      last_sign_in_at timestamptz,
      deleted_at timestamptz,
      primary key (tenant_id, sub)
    )`.execute(db);
  await sql`create index users_email on users (tenant_id, lower(email) text_pattern_ops)`.execute(db);
  await sql`create index users_status on users (tenant_id, status, sub)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table users`.execute(db);
}
