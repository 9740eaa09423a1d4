import type { Kysely, Selectable } from 'kysely';
import type { AnchorDescription, AnchorEvidence, AnchorKindName } from '../events/agent.ts';
import { narrow } from './narrow.ts';

export const tableName = 'agent_anchors';

/** The identity anchors of a tenant's agents: every one added, revoked ones kept (with why). */
export interface AgentAnchorsTable {
  tenant_id: string;
  agent_id: string;
  anchor_id: string;
  kind: AnchorKindName;
  /** The anchored identity: a DID, `eip155:<chain>:<registry>#<agent id>`, or a key's kid. */
  value: string;
  /** jsonb: the anchor as added (`{kind, did}`, `{kind, chain_id, registry, agent_id}`, `{kind, kid}`). */
  description: AnchorDescription;
  status: 'unverified' | 'verified' | 'revoked';
  /** jsonb: what the latest verification proved; null before the first. */
  evidence: AnchorEvidence | null;
  verified_at: Date | null;
  revoked_at: Date | null;
  revocation_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

export type AgentAnchorRow = Selectable<AgentAnchorsTable>;

/** The database as far as this table goes. */
export type AgentAnchorsModel = { [tableName]: AgentAnchorsTable };

/** An agent's anchors, oldest first. */
export function listAgentAnchors<DB extends AgentAnchorsModel>(
  db: Kysely<DB>,
  tenantId: string,
  agentId: string,
): Promise<AgentAnchorRow[]> {
  return narrow<AgentAnchorsModel>(db)
    .selectFrom('agent_anchors')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('agent_id', '=', agentId)
    .orderBy('created_at')
    .orderBy('anchor_id')
    .execute();
}

export function findAgentAnchor<DB extends AgentAnchorsModel>(
  db: Kysely<DB>,
  tenantId: string,
  agentId: string,
  anchorId: string,
): Promise<AgentAnchorRow | undefined> {
  return narrow<AgentAnchorsModel>(db)
    .selectFrom('agent_anchors')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('agent_id', '=', agentId)
    .where('anchor_id', '=', anchorId)
    .executeTakeFirst();
}
