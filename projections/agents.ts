import type { AgentsTable } from '../read-models/agents.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/**
 * The `agents`, `agent_keys` and `agent_anchors` read models: one row per agent not deleted, one per
 * key not revoked, one per anchor (revoked ones kept). Keys share the agent's stream, so its revision (`ETag`) moves with them, and every change
 * is applied once (a row at or past the event's revision has seen it). Deleting an agent removes its
 * row, its keys and its anchors in one transaction.
 */
export const agentsProjection = defineProjection({
  name: 'agents',
  version: 1,
  tables: ['agents', 'agent_keys', 'agent_anchors'],
  on: {
    async 'agent.created'(trx, event) {
      const { agent_id, name, description, owner, allowed_scopes, delegation, agent_card } = event.data;
      await trx
        .insertInto('agents')
        .values({
          tenant_id: event.tenantId,
          agent_id,
          name,
          description,
          owner_type: owner.type,
          owner_id: owner.id,
          allowed_scopes: JSON.stringify(allowed_scopes),
          delegation: JSON.stringify(delegation),
          agent_card: JSON.stringify(agent_card),
          status: 'active',
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        } as unknown as AgentsTable)
        .onConflict((oc) => oc.columns(['tenant_id', 'agent_id']).doNothing())
        .execute();
    },
    async 'agent.updated'(trx, event) {
      const { owner, allowed_scopes, delegation, agent_card, ...rest } = event.data.changes;
      const json = (value: unknown) => JSON.stringify(value) as never;
      await update(trx, event, {
        ...rest,
        ...(owner ? { owner_type: owner.type, owner_id: owner.id } : {}),
        ...(allowed_scopes ? { allowed_scopes: json(allowed_scopes) } : {}),
        ...(delegation ? { delegation: json(delegation) } : {}),
        ...(agent_card ? { agent_card: json(agent_card) } : {}),
      });
    },
    async 'agent.suspended'(trx, event) {
      await update(trx, event, { status: 'suspended' });
    },
    async 'agent.reactivated'(trx, event) {
      await update(trx, event, { status: 'active' });
    },
    async 'agent.deleted'(trx, event) {
      await trx
        .deleteFrom('agent_anchors')
        .where('tenant_id', '=', event.tenantId)
        .where('agent_id', '=', event.data.agent_id)
        .execute();
      await trx
        .deleteFrom('agent_keys')
        .where('tenant_id', '=', event.tenantId)
        .where('agent_id', '=', event.data.agent_id)
        .execute();
      await trx
        .deleteFrom('agents')
        .where('tenant_id', '=', event.tenantId)
        .where('agent_id', '=', event.data.agent_id)
        .execute();
    },
    async 'agent.key.registered'(trx, event) {
      // Already applied (a replayed page), or the agent is gone.
      if (!(await update(trx, event, {}))) return;
      await trx
        .insertInto('agent_keys')
        .values({
          tenant_id: event.tenantId,
          agent_id: event.data.agent_id,
          kid: event.data.kid,
          jwk: JSON.stringify(event.data.jwk) as never,
          status: 'active',
          created_at: event.time,
          updated_at: event.time,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
    },
    async 'agent.key.deprecated'(trx, event) {
      if (!(await update(trx, event, {}))) return;
      await trx
        .updateTable('agent_keys')
        .set({ status: 'deprecated', updated_at: event.time })
        .where('tenant_id', '=', event.tenantId)
        .where('agent_id', '=', event.data.agent_id)
        .where('kid', '=', event.data.kid)
        .execute();
    },
    async 'agent.key.revoked'(trx, event) {
      await trx
        .deleteFrom('agent_keys')
        .where('tenant_id', '=', event.tenantId)
        .where('agent_id', '=', event.data.agent_id)
        .where('kid', '=', event.data.kid)
        .execute();
      await update(trx, event, {});
    },
    async 'agent.anchor.added'(trx, event) {
      if (!(await update(trx, event, {}))) return;
      await trx
        .insertInto('agent_anchors')
        .values({
          tenant_id: event.tenantId,
          agent_id: event.data.agent_id,
          anchor_id: event.data.anchor_id,
          kind: event.data.anchor.kind,
          value: event.data.value,
          description: JSON.stringify(event.data.anchor) as never,
          status: 'unverified',
          evidence: null,
          verified_at: null,
          revoked_at: null,
          revocation_reason: null,
          created_at: event.time,
          updated_at: event.time,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
    },
    async 'agent.anchor.verified'(trx, event) {
      if (!(await update(trx, event, {}))) return;
      await trx
        .updateTable('agent_anchors')
        .set({
          status: 'verified',
          evidence: JSON.stringify(event.data.evidence) as never,
          verified_at: event.time,
          updated_at: event.time,
        })
        .where('tenant_id', '=', event.tenantId)
        .where('agent_id', '=', event.data.agent_id)
        .where('anchor_id', '=', event.data.anchor_id)
        .execute();
    },
    async 'agent.anchor.revoked'(trx, event) {
      if (!(await update(trx, event, {}))) return;
      await trx
        .updateTable('agent_anchors')
        .set({
          status: 'revoked',
          revoked_at: event.time,
          revocation_reason: event.data.reason,
          updated_at: event.time,
        })
        .where('tenant_id', '=', event.tenantId)
        .where('agent_id', '=', event.data.agent_id)
        .where('anchor_id', '=', event.data.anchor_id)
        .execute();
    },
  },
});

type AgentEventAt = { tenantId: string; revision: number; time: Date; data: { agent_id: string } };

/** Applies a change once: a row already at or past this revision has seen it. Whether it applied. */
async function update(trx: ProjectionTransaction, event: AgentEventAt, values: Partial<AgentsTable>): Promise<boolean> {
  const result = await trx
    .updateTable('agents')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('agent_id', '=', event.data.agent_id)
    .where('revision', '<', event.revision)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
