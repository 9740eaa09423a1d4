import type { Transaction } from 'kysely';
import type { WebhookEvent } from '../events/webhook.ts';
import type { ReadModels } from '../read-models/database.ts';
import type { WebhookEndpointsTable } from '../read-models/webhook-endpoints.ts';
import type { Projection } from './projection.ts';

/** The `webhook_endpoints` read model the API serves (never the secrets: only their ids). */
export const webhookEndpointsProjection: Projection = {
  name: 'webhook_endpoints',
  version: 1,
  tables: ['webhook_endpoints'],
  eventTypes: [
    'webhook.endpoint.created',
    'webhook.endpoint.updated',
    'webhook.endpoint.disabled',
    'webhook.endpoint.enabled',
    'webhook.endpoint.deleted',
    'webhook.endpoint.secret_rotated',
  ],
  async apply(trx, recorded) {
    const event = recorded as unknown as WebhookEvent;
    const tenantId = recorded.tenantId;
    const common = { revision: recorded.revision, updated_at: recorded.time };
    switch (event.type) {
      case 'webhook.endpoint.created':
        await trx
          .insertInto('webhook_endpoints')
          .values({
            tenant_id: tenantId,
            endpoint_id: event.data.endpoint_id,
            url: event.data.url,
            event_types: JSON.stringify(event.data.event_types) as unknown as string[],
            description: event.data.description,
            status: 'enabled',
            disabled_reason: null,
            disabled_detail: null,
            disabled_at: null,
            secret_id: event.data.secret_id,
            created_at: recorded.time,
            ...common,
          })
          .onConflict((oc) => oc.columns(['tenant_id', 'endpoint_id']).doNothing())
          .execute();
        return;
      case 'webhook.endpoint.updated': {
        const { url, event_types, description } = event.data.changes;
        await update(trx, tenantId, event.data.endpoint_id, recorded.revision, {
          ...(url !== undefined ? { url } : {}),
          ...(event_types !== undefined ? { event_types: JSON.stringify(event_types) as unknown as string[] } : {}),
          ...(description !== undefined ? { description } : {}),
          ...common,
        });
        return;
      }
      case 'webhook.endpoint.disabled':
        await update(trx, tenantId, event.data.endpoint_id, recorded.revision, {
          status: 'disabled',
          disabled_reason: event.data.reason,
          disabled_detail: event.data.detail,
          disabled_at: recorded.time,
          ...common,
        });
        return;
      case 'webhook.endpoint.enabled':
        await update(trx, tenantId, event.data.endpoint_id, recorded.revision, {
          status: 'enabled',
          disabled_reason: null,
          disabled_detail: null,
          disabled_at: null,
          ...common,
        });
        return;
      case 'webhook.endpoint.secret_rotated':
        await update(trx, tenantId, event.data.endpoint_id, recorded.revision, {
          secret_id: event.data.secret_id,
          ...common,
        });
        return;
      case 'webhook.endpoint.deleted':
        await trx
          .deleteFrom('webhook_endpoints')
          .where('tenant_id', '=', tenantId)
          .where('endpoint_id', '=', event.data.endpoint_id)
          .execute();
        return;
      case 'webhook.endpoint.replay_requested':
      case 'webhook.message.redelivery_requested':
        return;
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },
};

/** Applies a change once: a row already at or past this revision has seen it. */
async function update(
  trx: Transaction<ReadModels>,
  tenantId: string,
  endpointId: string,
  revision: number,
  values: Partial<WebhookEndpointsTable>,
) {
  await trx
    .updateTable('webhook_endpoints')
    .set(values)
    .where('tenant_id', '=', tenantId)
    .where('endpoint_id', '=', endpointId)
    .where('revision', '<', revision)
    .execute();
}
