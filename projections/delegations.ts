import type { DelegationsTable } from '../read-models/delegations.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/**
 * The `delegations` and `agent_suspensions` read models. A delegation's row follows its stream; an
 * agent's suspension (one append on the agent's stream) is recorded with its time, and with
 * `revoke_delegations` it revokes every delegation to the agent made before it, in the transaction
 * that moves this projection's checkpoint: no second durable step, so nothing is half-applied. A
 * deleted agent's delegations are revoked the same way. Every change applies once (revision guards
 * on a delegation's own events; the agent's are idempotent updates).
 */
export const delegationsProjection = defineProjection({
  name: 'delegations',
  version: 1,
  tables: ['delegations', 'agent_suspensions'],
  on: {
    async 'delegation.created'(trx, event) {
      const { delegation_id, scopes, consent, expires_at, ...rest } = event.data;
      await trx
        .insertInto('delegations')
        .values({
          tenant_id: event.tenantId,
          delegation_id,
          ...rest,
          scopes: JSON.stringify(scopes),
          consent: JSON.stringify(consent),
          expires_at: new Date(expires_at),
          status: 'active',
          revoked_reason: null,
          revoked_at: null,
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        } as unknown as DelegationsTable)
        .onConflict((oc) => oc.columns(['tenant_id', 'delegation_id']).doNothing())
        .execute();
    },
    async 'delegation.revoked'(trx, event) {
      await trx
        .updateTable('delegations')
        .set({
          status: 'revoked',
          revoked_reason: event.data.reason,
          revoked_at: event.time,
          revision: event.revision,
          updated_at: event.time,
        })
        .where('tenant_id', '=', event.tenantId)
        .where('delegation_id', '=', event.data.delegation_id)
        .where('revision', '<', event.revision)
        .execute();
    },
    async 'agent.suspended'(trx, event) {
      await trx
        .insertInto('agent_suspensions')
        .values({ tenant_id: event.tenantId, agent_id: event.data.agent_id, suspended_at: event.time })
        .onConflict((oc) =>
          oc
            .columns(['tenant_id', 'agent_id'])
            .doUpdateSet((eb) => ({ suspended_at: eb.ref('excluded.suspended_at') })),
        )
        .execute();
      if (event.data.revoke_delegations) await revokeAll(trx, event, 'agent_suspended');
    },
    async 'agent.deleted'(trx, event) {
      await revokeAll(trx, event, 'agent_deleted');
    },
  },
});

/** Revokes the agent's delegations that were active when the event happened (made at or before it). */
async function revokeAll(
  trx: ProjectionTransaction,
  event: { tenantId: string; time: Date; data: { agent_id: string } },
  reason: string,
): Promise<void> {
  await trx
    .updateTable('delegations')
    .set({ status: 'revoked', revoked_reason: reason, revoked_at: event.time, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('agent_id', '=', event.data.agent_id)
    .where('status', '=', 'active')
    .where('created_at', '<=', event.time)
    .execute();
}
