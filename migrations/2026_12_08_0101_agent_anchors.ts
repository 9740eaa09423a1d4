import { type Kysely, sql } from 'kysely';

/**
 * Agents' identity anchors (`agent_anchors`: one row per anchor, revoked ones kept with their
 * reason, verification evidence as jsonb), and the anchor a proof-of-possession challenge is bound
 * to (`agent_challenges.subject_id`, null for a key registration's challenge).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table agent_anchors (
      tenant_id text not null,
      agent_id text not null,
      anchor_id text not null,
      kind text not null,
      value text not null,
      description jsonb not null,
      status text not null,
      evidence jsonb,
      verified_at timestamptz,
      revoked_at timestamptz,
      revocation_reason text,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      primary key (tenant_id, agent_id, anchor_id)
    )`.execute(db);
  await sql`alter table agent_challenges add column subject_id text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table agent_challenges drop column subject_id`.execute(db);
  await sql`drop table agent_anchors`.execute(db);
}
