import { defineProjection, type ProjectionTransaction } from './projection.ts';

/**
 * The `policies` read model: one row per live policy at its latest version. The decision path
 * (src/policies/directory.ts) builds each tenant's Cedar policy set from the enabled rows.
 */
export const policiesProjection = defineProjection({
  name: 'policies',
  version: 1,
  tables: ['policies'],
  on: {
    async 'policy.created'(trx, event) {
      const { policy_id, name, description, cedar, enabled, version } = event.data;
      await trx
        .insertInto('policies')
        .values({
          tenant_id: event.tenantId,
          policy_id,
          name,
          description,
          cedar,
          enabled,
          version,
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'policy_id']).doNothing())
        .execute();
    },
    async 'policy.updated'(trx, event) {
      const { name, description, cedar, version } = event.data;
      await update(trx, event, { name, description, cedar, version });
    },
    async 'policy.enabled'(trx, event) {
      await update(trx, event, { enabled: true });
    },
    async 'policy.disabled'(trx, event) {
      await update(trx, event, { enabled: false });
    },
    async 'policy.deleted'(trx, event) {
      await trx
        .deleteFrom('policies')
        .where('tenant_id', '=', event.tenantId)
        .where('policy_id', '=', event.data.policy_id)
        .execute();
    },
  },
});

type PolicyEventAt = { tenantId: string; revision: number; time: Date; data: { policy_id: string } };

/** Applies a change once: a row already at or past this revision has seen it. */
async function update(
  trx: ProjectionTransaction,
  event: PolicyEventAt,
  values: { name?: string; description?: string; cedar?: string; version?: number; enabled?: boolean },
): Promise<void> {
  await trx
    .updateTable('policies')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('policy_id', '=', event.data.policy_id)
    .where('revision', '<', event.revision)
    .execute();
}
