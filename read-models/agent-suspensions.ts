import type { Kysely } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'agent_suspensions';

/** When each agent was last suspended: its tokens issued at or before then stay inactive after a reactivation. */
export interface AgentSuspensionsTable {
  tenant_id: string;
  agent_id: string;
  suspended_at: Date;
}

export type AgentSuspensionsModel = { [tableName]: AgentSuspensionsTable };

export async function lastSuspension<DB extends AgentSuspensionsModel>(
  db: Kysely<DB>,
  tenantId: string,
  agentId: string,
): Promise<Date | undefined> {
  const row = await narrow<AgentSuspensionsModel>(db)
    .selectFrom('agent_suspensions')
    .select('suspended_at')
    .where('tenant_id', '=', tenantId)
    .where('agent_id', '=', agentId)
    .executeTakeFirst();
  return row?.suspended_at;
}
