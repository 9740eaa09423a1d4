import type { Insertable, Kysely, Selectable } from 'kysely';
import type { AgentApiScopes, AgentCardSettings, DelegationLimits } from '../events/agent.ts';
import { narrow } from './narrow.ts';

export const tableName = 'agents';

/** A tenant's agents that are not deleted: settings and status (their keys are in `agent_keys`). */
export interface AgentsTable {
  tenant_id: string;
  agent_id: string;
  name: string;
  description: string;
  owner_type: 'user' | 'organization';
  /** A user's `sub` or an organization's id. */
  owner_id: string;
  /** jsonb array of `{api_id, scopes}`. */
  allowed_scopes: AgentApiScopes[];
  /** jsonb delegation limits. */
  delegation: DelegationLimits;
  /** jsonb `{enabled, url}`. */
  agent_card: AgentCardSettings;
  status: 'active' | 'suspended';
  /** The agent stream's revision: key events move it too. */
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type AgentRow = Selectable<AgentsTable>;
export type NewAgentRow = Insertable<AgentsTable>;

/** The database as far as this table goes. */
export type AgentsModel = { [tableName]: AgentsTable };

export function findAgent<DB extends AgentsModel>(
  db: Kysely<DB>,
  tenantId: string,
  agentId: string,
): Promise<AgentRow | undefined> {
  return narrow<AgentsModel>(db)
    .selectFrom('agents')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('agent_id', '=', agentId)
    .executeTakeFirst();
}

export function listAgents<DB extends AgentsModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined },
): Promise<AgentRow[]> {
  let query = narrow<AgentsModel>(db)
    .selectFrom('agents')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('agent_id')
    .limit(options.limit);
  if (options.after) query = query.where('agent_id', '>', options.after);
  return query.execute();
}
