import type { Projection } from './projection.ts';

/** The `api_keys` read model: a tenant's admin keys (never the secrets: those stay hashed elsewhere). */
export const apiKeysProjection: Projection = {
  name: 'api_keys',
  version: 1,
  tables: ['api_keys'],
  eventTypes: ['api_key.created', 'api_key.revoked'],
  async apply(trx, event) {
    const data = event.data as { key_id: string; name?: string };
    if (event.type === 'api_key.created') {
      await trx
        .insertInto('api_keys')
        .values({
          tenant_id: event.tenantId,
          key_id: data.key_id,
          name: data.name ?? '',
          created_by: `${event.actor.type}:${event.actor.id}`,
          created_at: event.time,
          revoked_at: null,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'key_id']).doNothing())
        .execute();
    } else if (event.type === 'api_key.revoked') {
      await trx
        .updateTable('api_keys')
        .set({ revoked_at: event.time })
        .where('tenant_id', '=', event.tenantId)
        .where('key_id', '=', data.key_id)
        .where('revoked_at', 'is', null)
        .execute();
    }
  },
};
