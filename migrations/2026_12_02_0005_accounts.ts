import { type Kysely, sql } from 'kysely';

/**
 * SigID accounts (global) and their links to tenants (a pairwise `sub` per tenant). Projected from
 * the accounts' platform streams; no personal data: the e-mail address stays sealed in the events.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table accounts (
      account_id text primary key,
      method text not null,
      email_verified boolean not null,
      password_id text,
      created_at timestamptz not null,
      updated_at timestamptz not null
    )`.execute(db);
  await sql`
    create table account_links (
      account_id text not null,
      tenant_id text not null,
      sub text not null,
      created_at timestamptz not null,
      primary key (account_id, tenant_id)
    )`.execute(db);
  await sql`create unique index account_links_sub on account_links (tenant_id, sub)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table account_links`.execute(db);
  await sql`drop table accounts`.execute(db);
}
