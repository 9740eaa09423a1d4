import type { Projection } from './projection.ts';

/** The `tenants` read model: one row per tenant, with the stream revision that `ETag` carries. */
export const tenantsProjection: Projection = {
  name: 'tenants',
  version: 1,
  tables: ['tenants'],
  eventTypes: ['tenant.created', 'tenant.renamed', 'tenant.suspended', 'tenant.reactivated', 'tenant.deleted'],
  async apply(trx, event) {
    const tenantId = event.tenantId;
    const common = { revision: event.revision, updated_at: event.time };
    switch (event.type) {
      case 'tenant.created': {
        const data = event.data as { tenant_id: string; slug: string; name: string };
        await trx
          .insertInto('tenants')
          .values({
            tenant_id: data.tenant_id,
            slug: data.slug,
            name: data.name,
            status: 'active',
            created_at: event.time,
            ...common,
          })
          .onConflict((oc) => oc.column('tenant_id').doNothing())
          .execute();
        return;
      }
      case 'tenant.renamed':
        await update(trx, tenantId, event.revision, { name: (event.data as { name: string }).name, ...common });
        return;
      case 'tenant.suspended':
        await update(trx, tenantId, event.revision, { status: 'suspended', ...common });
        return;
      case 'tenant.reactivated':
        await update(trx, tenantId, event.revision, { status: 'active', ...common });
        return;
      case 'tenant.deleted':
        await update(trx, tenantId, event.revision, { status: 'deleted', ...common });
        return;
    }
  },
};

/** Applies a change once: an event at or below the row's revision was already applied. */
function update(
  trx: Parameters<Projection['apply']>[0],
  tenantId: string,
  revision: number,
  values: { name?: string; status?: 'active' | 'suspended' | 'deleted'; revision: number; updated_at: Date },
) {
  return trx
    .updateTable('tenants')
    .set(values)
    .where('tenant_id', '=', tenantId)
    .where('revision', '<', revision)
    .execute();
}
