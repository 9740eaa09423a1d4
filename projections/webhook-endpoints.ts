import type { WebhookEndpointsTable } from '../read-models/webhook-endpoints.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/** The `webhook_endpoints` read model the API serves (never the secrets: only their ids). */
export const webhookEndpointsProjection = defineProjection({
  name: 'webhook_endpoints',
  version: 1,
  tables: ['webhook_endpoints'],
  on: {
    async 'webhook.endpoint.created'(trx, event) {
      await trx
        .insertInto('webhook_endpoints')
        .values({
          tenant_id: event.tenantId,
          endpoint_id: event.data.endpoint_id,
          url: event.data.url,
          event_types: json(event.data.event_types),
          description: event.data.description,
          status: 'enabled',
          disabled_reason: null,
          disabled_detail: null,
          disabled_at: null,
          secret_id: event.data.secret_id,
          created_at: event.time,
          revision: event.revision,
          updated_at: event.time,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'endpoint_id']).doNothing())
        .execute();
    },
    'webhook.endpoint.updated': (trx, event) => {
      const { url, event_types, description } = event.data.changes;
      return update(trx, event, {
        ...(url !== undefined ? { url } : {}),
        ...(event_types !== undefined ? { event_types: json(event_types) } : {}),
        ...(description !== undefined ? { description } : {}),
      });
    },
    'webhook.endpoint.disabled': (trx, event) =>
      update(trx, event, {
        status: 'disabled',
        disabled_reason: event.data.reason,
        disabled_detail: event.data.detail,
        disabled_at: event.time,
      }),
    'webhook.endpoint.enabled': (trx, event) =>
      update(trx, event, { status: 'enabled', disabled_reason: null, disabled_detail: null, disabled_at: null }),
    'webhook.endpoint.secret_rotated': (trx, event) => update(trx, event, { secret_id: event.data.secret_id }),
    async 'webhook.endpoint.deleted'(trx, event) {
      await trx
        .deleteFrom('webhook_endpoints')
        .where('tenant_id', '=', event.tenantId)
        .where('endpoint_id', '=', event.data.endpoint_id)
        .execute();
    },
  },
});

/** A jsonb column is written as its JSON text (pg would send a JS array as a PostgreSQL array). */
function json(patterns: string[]): string[] {
  return JSON.stringify(patterns) as unknown as string[];
}

/** Applies a change once: a row already at or past this revision has seen it. */
async function update(
  trx: ProjectionTransaction,
  event: { tenantId: string; revision: number; time: Date; data: { endpoint_id: string } },
  values: Partial<WebhookEndpointsTable>,
): Promise<void> {
  await trx
    .updateTable('webhook_endpoints')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('endpoint_id', '=', event.data.endpoint_id)
    .where('revision', '<', event.revision)
    .execute();
}
