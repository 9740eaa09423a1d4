import type { Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'approvals';

export type ApprovalStatus = 'pending' | 'granted' | 'denied';

/**
 * A tenant's approval requests (CIBA): which client asked which person for what, until when, how
 * the person decided, and whether the issuer was told. Never the `auth_req_id` or a token.
 */
export interface ApprovalsTable {
  tenant_id: string;
  approval_id: string;
  client_id: string;
  sub: string;
  status: ApprovalStatus;
  /** jsonb arrays of strings. */
  scopes: string[];
  resource: string | null;
  resource_scopes: string[];
  binding_message: string | null;
  delivery_mode: 'poll' | 'ping';
  expires_at: Date;
  decided_at: Date | null;
  /** Whether the issuer was told the decision (`approval.delivered`). */
  delivered: boolean;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type ApprovalRow = Selectable<ApprovalsTable>;

/** The database as far as this table goes. */
export type ApprovalsModel = { [tableName]: ApprovalsTable };

export function findApproval<DB extends ApprovalsModel>(
  db: Kysely<DB>,
  tenantId: string,
  approvalId: string,
): Promise<ApprovalRow | undefined> {
  return narrow<ApprovalsModel>(db)
    .selectFrom('approvals')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('approval_id', '=', approvalId)
    .executeTakeFirst();
}

/**
 * Decisions the issuer was not told yet, decided before `decidedBefore` and whose request has not
 * expired: what the delivery worker finishes (across every tenant: it is SigID's own worker).
 */
export function undeliveredApprovals<DB extends ApprovalsModel>(
  db: Kysely<DB>,
  options: { decidedBefore: Date; now: Date; limit: number },
): Promise<Pick<ApprovalRow, 'tenant_id' | 'approval_id'>[]> {
  return narrow<ApprovalsModel>(db)
    .selectFrom('approvals')
    .select(['tenant_id', 'approval_id'])
    .where('status', '<>', 'pending')
    .where('delivered', '=', false)
    .where('decided_at', '<', options.decidedBefore)
    .where('expires_at', '>', options.now)
    .orderBy('decided_at')
    .limit(options.limit)
    .execute();
}
