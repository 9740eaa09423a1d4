import { type Kysely, sql } from 'kysely';

/**
 * The `signing_keys` read model: every signing key of every tenant's OIDC issuer, its public JWK
 * (never a private part: those are in `sealed_secrets`, kind `signing-key`), its status and dates.
 * `revision` is the tenant's signing-keys stream revision last applied to the row. The partial
 * index serves the JWKS, which reads a tenant's keys that are not retired.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table signing_keys (
      tenant_id text not null,
      kid text not null,
      alg text not null,
      status text not null,
      public_jwk jsonb not null,
      created_at timestamptz not null,
      activated_at timestamptz,
      retire_at timestamptz,
      retired_at timestamptz,
      revision bigint not null,
      primary key (tenant_id, kid)
    )`.execute(db);
  await sql`create index signing_keys_published on signing_keys (tenant_id, alg) where status <> 'retired'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table signing_keys`.execute(db);
}
