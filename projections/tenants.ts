import type { Updateable } from 'kysely';
import type { TenantsTable } from '../read-models/tenants.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/**
 * The `tenants` read model: one row per tenant, with the stream revision that `ETag` carries, its
 * branding and its MFA policy.
 */
export const tenantsProjection = defineProjection({
  name: 'tenants',
  version: 1,
  tables: ['tenants'],
  on: {
    async 'tenant.created'(trx, event) {
      await trx
        .insertInto('tenants')
        .values({
          tenant_id: event.data.tenant_id,
          slug: event.data.slug,
          name: event.data.name,
          status: 'active',
          created_at: event.time,
          revision: event.revision,
          updated_at: event.time,
        })
        .onConflict((oc) => oc.column('tenant_id').doNothing())
        .execute();
    },
    'tenant.renamed': (trx, event) => update(trx, event, { name: event.data.name }),
    'tenant.suspended': (trx, event) => update(trx, event, { status: 'suspended' }),
    'tenant.reactivated': (trx, event) => update(trx, event, { status: 'active' }),
    'tenant.deleted': (trx, event) => update(trx, event, { status: 'deleted' }),
    'tenant.branding.changed': (trx, event) => update(trx, event, event.data),
    'tenant.mfa_policy.changed': (trx, event) =>
      update(trx, event, {
        mfa_mode: event.data.mode,
        mfa_required_for_applications: JSON.stringify(event.data.required_for_applications),
      }),
    'tenant.role_claims.changed': (trx, event) => update(trx, event, event.data),
    'tenant.client_registration.changed': (trx, event) => update(trx, event, event.data),
  },
});

/** Applies a change once: an event at or below the row's revision was already applied. */
async function update(
  trx: ProjectionTransaction,
  event: { tenantId: string; revision: number; time: Date },
  values: Omit<Updateable<TenantsTable>, 'tenant_id' | 'slug' | 'revision' | 'created_at' | 'updated_at'>,
): Promise<void> {
  await trx
    .updateTable('tenants')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('revision', '<', event.revision)
    .execute();
}
