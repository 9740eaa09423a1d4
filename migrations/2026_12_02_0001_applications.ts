import { type Kysely, sql } from 'kysely';

/**
 * The applications read model: a tenant's OAuth clients with their metadata (never a secret, only
 * the current secret's id). client_id is unique per tenant, reserved on the write side; the index
 * serves the OIDC layer's lookup by client_id.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table applications (
      tenant_id text not null,
      application_id text not null,
      client_id text not null,
      kind text not null,
      client_name text not null,
      application_type text not null,
      redirect_uris jsonb not null,
      post_logout_redirect_uris jsonb not null,
      grant_types jsonb not null,
      response_types jsonb not null,
      token_endpoint_auth_method text not null,
      require_pkce boolean not null,
      logo_uri text,
      allowed_origins jsonb not null,
      access_token_ttl_seconds integer not null,
      id_token_ttl_seconds integer not null,
      refresh_token_ttl_seconds integer not null,
      secret_id text,
      previous_secret_expires_at timestamptz,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, application_id)
    )`.execute(db);
  await sql`create unique index applications_client_id on applications (tenant_id, client_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table applications`.execute(db);
}
