import { type Kysely, sql } from 'kysely';

/**
 * The delegations read model: each delegation of a user to an agent (its terms, status, revision),
 * and the last suspension of each agent (a token issued before it fails introspection, even after
 * the agent is reactivated).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table delegations (
      tenant_id text not null,
      delegation_id text not null,
      sub text not null,
      agent_id text not null,
      audience text not null,
      scopes jsonb not null,
      expires_at timestamptz not null,
      max_chain_depth integer not null,
      depth integer not null,
      parent_delegation_id text,
      consent jsonb not null,
      status text not null,
      revoked_reason text,
      revoked_at timestamptz,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, delegation_id)
    )`.execute(db);
  await sql`create index delegations_agent on delegations (tenant_id, agent_id, sub)`.execute(db);
  await sql`create index delegations_sub on delegations (tenant_id, sub)`.execute(db);
  await sql`create index delegations_parent on delegations (tenant_id, parent_delegation_id)`.execute(db);
  await sql`
    create table agent_suspensions (
      tenant_id text not null,
      agent_id text not null,
      suspended_at timestamptz not null,
      primary key (tenant_id, agent_id)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table agent_suspensions`.execute(db);
  await sql`drop table delegations`.execute(db);
}
