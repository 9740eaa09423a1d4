import type { ApprovalsTable } from '../read-models/approvals.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

type ApprovalEventAt = { tenantId: string; revision: number; time: Date; data: { approval_id: string } };

const json = (value: string[]) => JSON.stringify(value) as unknown as string[];

/** The `approvals` read model: one row per CIBA approval request, its decision and its delivery. */
export const approvalsProjection = defineProjection({
  name: 'approvals',
  version: 1,
  tables: ['approvals'],
  on: {
    async 'approval.requested'(trx, event) {
      const data = event.data;
      await trx
        .insertInto('approvals')
        .values({
          tenant_id: event.tenantId,
          approval_id: data.approval_id,
          client_id: data.client_id,
          sub: data.sub,
          status: 'pending',
          scopes: json(data.scopes),
          resource: data.resource,
          resource_scopes: json(data.resource_scopes),
          binding_message: data.binding_message,
          delivery_mode: data.delivery_mode,
          expires_at: new Date(data.expires_at),
          decided_at: null,
          delivered: false,
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'approval_id']).doNothing())
        .execute();
    },
    'approval.granted': (trx, event) => update(trx, event, { status: 'granted', decided_at: event.time }),
    'approval.denied': (trx, event) => update(trx, event, { status: 'denied', decided_at: event.time }),
    'approval.delivered': (trx, event) => update(trx, event, { delivered: true }),
  },
});

/** Applies a change once: a row already at or past this revision has seen it. */
async function update(
  trx: ProjectionTransaction,
  event: ApprovalEventAt,
  values: Partial<ApprovalsTable>,
): Promise<void> {
  await trx
    .updateTable('approvals')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('approval_id', '=', event.data.approval_id)
    .where('revision', '<', event.revision)
    .execute();
}
