import type { ApiGrantsTable } from '../read-models/api-grants.ts';
import type { ApisTable } from '../read-models/apis.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/**
 * The `apis` and `api_grants` read models: one row per live API, one per grant of a live API to a
 * live application. Deleting an API or an application ends its grants; a scope removed from an API
 * leaves every grant (as the decider's state does).
 */
export const apisProjection = defineProjection({
  name: 'apis',
  version: 1,
  tables: ['apis', 'api_grants'],
  on: {
    async 'api.created'(trx, event) {
      const { api_id, identifier, name, scopes, access_token_ttl_seconds } = event.data;
      await trx
        .insertInto('apis')
        .values({
          tenant_id: event.tenantId,
          api_id,
          name,
          identifier,
          scopes: JSON.stringify(scopes),
          access_token_ttl_seconds,
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        } as unknown as ApisTable)
        .onConflict((oc) => oc.columns(['tenant_id', 'api_id']).doNothing())
        .execute();
    },
    async 'api.updated'(trx, event) {
      const { scopes, ...rest } = event.data.changes;
      const applied = await update(trx, event, {
        ...rest,
        ...(scopes ? { scopes: JSON.stringify(scopes) as unknown as ApisTable['scopes'] } : {}),
      });
      if (scopes && applied)
        await pruneGrants(trx, event.tenantId, event.data.api_id, new Set(scopes.map((s) => s.value)));
    },
    async 'api.deleted'(trx, event) {
      await trx
        .deleteFrom('api_grants')
        .where('tenant_id', '=', event.tenantId)
        .where('api_id', '=', event.data.api_id)
        .execute();
      await trx
        .deleteFrom('apis')
        .where('tenant_id', '=', event.tenantId)
        .where('api_id', '=', event.data.api_id)
        .execute();
    },
    async 'api.grant.set'(trx, event) {
      const api = await trx
        .selectFrom('apis')
        .select('revision')
        .where('tenant_id', '=', event.tenantId)
        .where('api_id', '=', event.data.api_id)
        .executeTakeFirst();
      // Already applied (a replayed page), or the API is gone.
      if (!api || Number(api.revision) >= event.revision) return;
      const application = await trx
        .selectFrom('applications')
        .select('application_id')
        .where('tenant_id', '=', event.tenantId)
        .where('application_id', '=', event.data.application_id)
        .executeTakeFirst();
      if (application) {
        const scopes = JSON.stringify(event.data.scopes) as unknown as ApiGrantsTable['scopes'];
        await trx
          .insertInto('api_grants')
          .values({
            tenant_id: event.tenantId,
            api_id: event.data.api_id,
            application_id: event.data.application_id,
            scopes,
            created_at: event.time,
            updated_at: event.time,
          })
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'api_id', 'application_id']).doUpdateSet({ scopes, updated_at: event.time }),
          )
          .execute();
      }
      await bump(trx, event);
    },
    async 'api.grant.removed'(trx, event) {
      await trx
        .deleteFrom('api_grants')
        .where('tenant_id', '=', event.tenantId)
        .where('api_id', '=', event.data.api_id)
        .where('application_id', '=', event.data.application_id)
        .execute();
      await bump(trx, event);
    },
    async 'application.deleted'(trx, event) {
      await trx
        .deleteFrom('api_grants')
        .where('tenant_id', '=', event.tenantId)
        .where('application_id', '=', event.data.application_id)
        .execute();
    },
  },
});

type ApiEventAt = { tenantId: string; revision: number; time: Date; data: { api_id: string } };

/** Applies a change once: a row already at or past this revision has seen it. Whether it applied. */
async function update(trx: ProjectionTransaction, event: ApiEventAt, values: Partial<ApisTable>): Promise<boolean> {
  const result = await trx
    .updateTable('apis')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('api_id', '=', event.data.api_id)
    .where('revision', '<', event.revision)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** A grant's change moves its API's revision (they share one stream), so `ETag` follows it. */
async function bump(trx: ProjectionTransaction, event: ApiEventAt): Promise<void> {
  await update(trx, event, {});
}

/** Takes the scopes an API no longer defines out of its grants. */
async function pruneGrants(trx: ProjectionTransaction, tenantId: string, apiId: string, defined: Set<string>) {
  const grants = await trx
    .selectFrom('api_grants')
    .select(['application_id', 'scopes'])
    .where('tenant_id', '=', tenantId)
    .where('api_id', '=', apiId)
    .execute();
  for (const grant of grants) {
    const kept = grant.scopes.filter((value) => defined.has(value));
    if (kept.length === grant.scopes.length) continue;
    await trx
      .updateTable('api_grants')
      .set({ scopes: JSON.stringify(kept) as unknown as ApiGrantsTable['scopes'] })
      .where('tenant_id', '=', tenantId)
      .where('api_id', '=', apiId)
      .where('application_id', '=', grant.application_id)
      .execute();
  }
}
