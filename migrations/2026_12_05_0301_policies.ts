import { type Kysely, sql } from 'kysely';

/**
 * The policies read model: a tenant's live policies at their latest version (every version stays in
 * the event stream). The index serves the decision path's read of a tenant's enabled policies.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table policies (
      tenant_id text not null,
      policy_id text not null,
      name text not null,
      description text not null,
      cedar text not null,
      enabled boolean not null,
      version integer not null,
      revision bigint not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, policy_id)
    )`.execute(db);
  await sql`create index policies_enabled on policies (tenant_id, policy_id) where enabled`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table policies`.execute(db);
}
