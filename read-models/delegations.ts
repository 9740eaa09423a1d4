import type { Kysely, Selectable } from 'kysely';
import type { DelegationConsent } from '../events/delegation.ts';
import { narrow } from './narrow.ts';

export const tableName = 'delegations';

/** A tenant's delegations, revoked ones too (their tokens must keep failing). */
export interface DelegationsTable {
  tenant_id: string;
  delegation_id: string;
  /** The user's tenant-local `sub`. */
  sub: string;
  agent_id: string;
  /** The API identifier its tokens are for. */
  audience: string;
  /** jsonb array of scope values. */
  scopes: string[];
  expires_at: Date;
  max_chain_depth: number;
  depth: number;
  parent_delegation_id: string | null;
  /** jsonb consent source. */
  consent: DelegationConsent;
  status: 'active' | 'revoked';
  /** `revoked` (by an admin), `agent_suspended`, `agent_deleted`. */
  revoked_reason: string | null;
  revoked_at: Date | null;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type DelegationRow = Selectable<DelegationsTable>;

export type DelegationsModel = { [tableName]: DelegationsTable };

export function findDelegation<DB extends DelegationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  delegationId: string,
): Promise<DelegationRow | undefined> {
  return narrow<DelegationsModel>(db)
    .selectFrom('delegations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('delegation_id', '=', delegationId)
    .executeTakeFirst();
}

export function listDelegations<DB extends DelegationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: {
    limit: number;
    after?: string | undefined;
    agentId?: string | undefined;
    sub?: string | undefined;
    status?: 'active' | 'revoked' | undefined;
  },
): Promise<DelegationRow[]> {
  let query = narrow<DelegationsModel>(db)
    .selectFrom('delegations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('delegation_id')
    .limit(options.limit);
  if (options.after) query = query.where('delegation_id', '>', options.after);
  if (options.agentId) query = query.where('agent_id', '=', options.agentId);
  if (options.sub) query = query.where('sub', '=', options.sub);
  if (options.status) query = query.where('status', '=', options.status);
  return query.execute();
}
