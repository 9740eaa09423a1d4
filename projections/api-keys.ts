import { defineProjection } from './projection.ts';

/** The `api_keys` read model: a tenant's admin keys (never the secrets: those stay hashed elsewhere). */
export const apiKeysProjection = defineProjection({
  name: 'api_keys',
  version: 1,
  tables: ['api_keys'],
  on: {
    async 'api_key.created'(trx, event) {
      await trx
        .insertInto('api_keys')
        .values({
          tenant_id: event.tenantId,
          key_id: event.data.key_id,
          name: event.data.name,
          created_by: `${event.actor.type}:${event.actor.id}`,
          created_at: event.time,
          revoked_at: null,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'key_id']).doNothing())
        .execute();
    },
    async 'api_key.revoked'(trx, event) {
      await trx
        .updateTable('api_keys')
        .set({ revoked_at: event.time })
        .where('tenant_id', '=', event.tenantId)
        .where('key_id', '=', event.data.key_id)
        .where('revoked_at', 'is', null)
        .execute();
    },
  },
});
