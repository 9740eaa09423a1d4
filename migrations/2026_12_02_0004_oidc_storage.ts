import { type Kysely, sql } from 'kysely';

/**
 * oidc-provider's own storage (sessions, interactions, codes, tokens, grants, replay records), one
 * row per stored model instance of a tenant's issuer, so any number of SigID processes serve one
 * tenant. Operational state, not events: what an auditor needs of it is appended as events.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table oidc_payloads (
      tenant_id text not null,
      model text not null,
      id text not null,
      payload jsonb not null,
      grant_id text,
      uid text,
      user_code text,
      expires_at timestamptz,
      consumed_at timestamptz,
      primary key (tenant_id, model, id)
    )`.execute(db);
  await sql`create index oidc_payloads_grant on oidc_payloads (tenant_id, grant_id) where grant_id is not null`.execute(
    db,
  );
  await sql`create index oidc_payloads_uid on oidc_payloads (tenant_id, uid) where uid is not null`.execute(db);
  await sql`create index oidc_payloads_user_code on oidc_payloads (tenant_id, user_code) where user_code is not null`.execute(
    db,
  );
  await sql`create index oidc_payloads_expiry on oidc_payloads (expires_at) where expires_at is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table oidc_payloads`.execute(db);
}
