import { type Kysely, sql } from 'kysely';

/**
 * The agents read model: a tenant's agents (settings as jsonb, status), their keys (public JWKs by
 * RFC 7638 thumbprint, active or deprecated; revoked ones leave the table), and the single-use
 * proof-of-possession challenges (operational state, not projected: `agent_challenges`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table agents (
      tenant_id text not null,
      agent_id text not null,
      name text not null,
      description text not null,
      owner_type text not null,
      owner_id text not null,
      allowed_scopes jsonb not null,
      delegation jsonb not null,
      agent_card jsonb not null,
      status text not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, agent_id)
    )`.execute(db);
  await sql`create index agents_owner on agents (tenant_id, owner_type, owner_id)`.execute(db);
  await sql`
    create table agent_keys (
      tenant_id text not null,
      agent_id text not null,
      kid text not null,
      jwk jsonb not null,
      status text not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, agent_id, kid)
    )`.execute(db);
  await sql`
    create table agent_challenges (
      tenant_id text not null,
      challenge_id text not null,
      agent_id text not null,
      purpose text not null,
      nonce_hash text not null,
      expires_at timestamptz not null,
      used_at timestamptz,
      primary key (tenant_id, challenge_id)
    )`.execute(db);
  await sql`create unique index agent_challenges_nonce on agent_challenges (tenant_id, nonce_hash)`.execute(db);
  await sql`create index agent_challenges_expiry on agent_challenges (expires_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table agent_challenges`.execute(db);
  await sql`drop table agent_keys`.execute(db);
  await sql`drop table agents`.execute(db);
}
