import type { Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'policies';

/** A tenant's live policies, at their latest version: what the API shows and what decisions are made from. */
export interface PoliciesTable {
  tenant_id: string;
  policy_id: string;
  name: string;
  description: string;
  /** The Cedar text of the latest version. */
  cedar: string;
  enabled: boolean;
  version: number;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type PolicyRow = Selectable<PoliciesTable>;
export type NewPolicyRow = Insertable<PoliciesTable>;

/** The database as far as this table goes. */
export type PoliciesModel = { [tableName]: PoliciesTable };

export function findPolicy<DB extends PoliciesModel>(
  db: Kysely<DB>,
  tenantId: string,
  policyId: string,
): Promise<PolicyRow | undefined> {
  return narrow<PoliciesModel>(db)
    .selectFrom('policies')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('policy_id', '=', policyId)
    .executeTakeFirst();
}

export function listPolicies<DB extends PoliciesModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined },
): Promise<PolicyRow[]> {
  let query = narrow<PoliciesModel>(db)
    .selectFrom('policies')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('policy_id')
    .limit(options.limit);
  if (options.after) query = query.where('policy_id', '>', options.after);
  return query.execute();
}

/** The tenant's enabled policies, what decisions are made from: id, version and text only. */
export function enabledPolicies<DB extends PoliciesModel>(
  db: Kysely<DB>,
  tenantId: string,
): Promise<Array<Pick<PolicyRow, 'policy_id' | 'version' | 'cedar'>>> {
  return narrow<PoliciesModel>(db)
    .selectFrom('policies')
    .select(['policy_id', 'version', 'cedar'])
    .where('tenant_id', '=', tenantId)
    .where('enabled', '=', true)
    .orderBy('policy_id')
    .execute();
}
