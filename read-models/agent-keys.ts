import type { Kysely, Selectable } from 'kysely';
import type { AgentPublicJwk } from '../events/agent.ts';
import { narrow } from './narrow.ts';

export const tableName = 'agent_keys';

/** The public keys of a tenant's agents that are not revoked (a revoked key's row is removed). */
export interface AgentKeysTable {
  tenant_id: string;
  agent_id: string;
  /** The key's RFC 7638 thumbprint (SHA-256, base64url). */
  kid: string;
  /** jsonb: the public JWK, with `kid`, `alg` and `use`. */
  jwk: AgentPublicJwk;
  /** `active` signs client assertions; `deprecated` stays a verification method only. */
  status: 'active' | 'deprecated';
  created_at: Date;
  updated_at: Date;
}

export type AgentKeyRow = Selectable<AgentKeysTable>;

/** The database as far as this table goes. */
export type AgentKeysModel = { [tableName]: AgentKeysTable };

/** An agent's keys that are not revoked, oldest first. */
export function listAgentKeys<DB extends AgentKeysModel>(
  db: Kysely<DB>,
  tenantId: string,
  agentId: string,
): Promise<AgentKeyRow[]> {
  return narrow<AgentKeysModel>(db)
    .selectFrom('agent_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('agent_id', '=', agentId)
    .orderBy('created_at')
    .orderBy('kid')
    .execute();
}

export function findAgentKey<DB extends AgentKeysModel>(
  db: Kysely<DB>,
  tenantId: string,
  agentId: string,
  kid: string,
): Promise<AgentKeyRow | undefined> {
  return narrow<AgentKeysModel>(db)
    .selectFrom('agent_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('agent_id', '=', agentId)
    .where('kid', '=', kid)
    .executeTakeFirst();
}
