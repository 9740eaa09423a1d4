import type { ApiKeyEvent, TenantEvent, WebhookEvent } from '../events/catalog.ts';
import {
  activateSecret,
  deleteOwnedSecrets,
  deleteSecret,
  deleteTenantSecrets,
  expireOwnedBefore,
} from '../src/secrets/sealed-secrets.ts';
import type { Projection } from './projection.ts';

/**
 * The `secrets` reactor: the follow-ups of events in the sealed-secrets store, checkpointed like a
 * projection (each in the same transaction as its checkpoint), so a crash between an append and its
 * follow-up only delays the follow-up. It owns no read-model table: a rebuild replays the events, and
 * every step is idempotent. A new secret is stored inactive; its creating event activates it.
 */
export const secretsReactor: Projection = {
  name: 'secrets',
  version: 1,
  tables: [],
  eventTypes: [
    'api_key.created',
    'api_key.revoked',
    'webhook.endpoint.created',
    'webhook.endpoint.secret_rotated',
    'webhook.endpoint.deleted',
    'tenant.deleted',
  ],
  async apply(trx, recorded) {
    const event = recorded as unknown as ApiKeyEvent | WebhookEvent | TenantEvent;
    const tenantId = recorded.tenantId;
    switch (event.type) {
      case 'api_key.created':
        return activateSecret(trx, tenantId, 'api-key', event.data.key_id, recorded);
      case 'api_key.revoked':
        return deleteSecret(trx, tenantId, 'api-key', event.data.key_id);
      case 'webhook.endpoint.created':
        return activateSecret(trx, tenantId, 'webhook-secret', event.data.secret_id, recorded);
      case 'webhook.endpoint.secret_rotated':
        // The new secret becomes current; the ones in use before this event (`previous_secret_id`,
        // and any still in an earlier overlap) expire at `previous_secret_expires_at`. Never one
        // activated after it: concurrent rotations each retire their predecessors, the last one's
        // secret stays current.
        await activateSecret(trx, tenantId, 'webhook-secret', event.data.secret_id, recorded);
        return expireOwnedBefore(
          trx,
          tenantId,
          'webhook-secret',
          event.data.endpoint_id,
          recorded.position,
          new Date(event.data.previous_secret_expires_at),
        );
      case 'webhook.endpoint.deleted':
        return deleteOwnedSecrets(trx, tenantId, 'webhook-secret', event.data.endpoint_id);
      case 'tenant.deleted':
        return deleteTenantSecrets(trx, tenantId);
      default:
        return;
    }
  },
};
