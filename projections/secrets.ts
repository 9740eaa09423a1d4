import type { Kysely } from 'kysely';
import type { ReadModels } from '../read-models/database.ts';
import {
  activatePendingSecret,
  activateSecret,
  deleteOwnedBefore,
  deleteOwnedSecrets,
  deleteSecret,
  deleteTenantSecrets,
  expireOwnedBefore,
  type SecretKind,
} from '../src/secrets/sealed-secrets.ts';
import { defineReactor } from './projection.ts';

/**
 * The `secrets` reactor: the follow-ups of events in the sealed-secrets store. A new secret is stored
 * inactive; its creating event activates it, so a secret whose event never landed never works. A
 * revocation or deletion is one append; the secrets go here, in the transaction that moves this
 * reactor's checkpoint, so a crash in between only delays it (and authentication already refuses a
 * revoked key from its read-model row).
 */
/**
 * A rotation: the owner's new secret becomes current, and the ones in use before this event expire
 * at `previousExpiresAt` (at once when that is the event's time). Never one activated after it:
 * concurrent rotations each retire their predecessors, and the last one's secret stays current.
 */
async function rotate(
  trx: Kysely<ReadModels>,
  event: { tenantId: string; position: number; time: Date },
  kind: SecretKind,
  ownerId: string,
  secretId: string,
  previousExpiresAt: string,
) {
  await activateSecret(trx, event.tenantId, kind, secretId, event);
  await expireOwnedBefore(trx, event.tenantId, kind, ownerId, event.position, new Date(previousExpiresAt));
}

export const secretsReactor = defineReactor({
  name: 'secrets',
  version: 1,
  on: {
    'api_key.created': (trx, event) => activateSecret(trx, event.tenantId, 'api-key', event.data.key_id, event),
    'api_key.revoked': (trx, event) => deleteSecret(trx, event.tenantId, 'api-key', event.data.key_id),
    'webhook.endpoint.created': (trx, event) =>
      activateSecret(trx, event.tenantId, 'webhook-secret', event.data.secret_id, event),
    'webhook.endpoint.secret_rotated': (trx, event) =>
      rotate(
        trx,
        event,
        'webhook-secret',
        event.data.endpoint_id,
        event.data.secret_id,
        event.data.previous_secret_expires_at,
      ),
    'webhook.endpoint.deleted': (trx, event) =>
      deleteOwnedSecrets(trx, event.tenantId, 'webhook-secret', event.data.endpoint_id),
    'application.created': async (trx, event) => {
      if (event.data.secret_id) await activateSecret(trx, event.tenantId, 'client-secret', event.data.secret_id, event);
    },
    'application.secret_rotated': (trx, event) =>
      rotate(
        trx,
        event,
        'client-secret',
        event.data.application_id,
        event.data.secret_id,
        event.data.previous_secret_expires_at,
      ),
    'application.deleted': (trx, event) =>
      deleteOwnedSecrets(trx, event.tenantId, 'client-secret', event.data.application_id),
    // A signing key's private part, sealed before its event, is destroyed once the key is retired.
    'signing_key.created': (trx, event) => activateSecret(trx, event.tenantId, 'signing-key', event.data.kid, event),
    'signing_key.retired': (trx, event) => deleteSecret(trx, event.tenantId, 'signing-key', event.data.kid),
    'tenant.deleted': (trx, event) => deleteTenantSecrets(trx, event.tenantId),
    // An erased account's password, TOTP seeds and recovery codes are destroyed.
    'subject.personal_data.erased': async (trx, event) => {
      for (const kind of ['password', 'totp', 'recovery-code'] as const) {
        await deleteOwnedSecrets(trx, event.tenantId, kind, event.data.subject_id);
      }
    },
    // A new password works from its event on; the one before it stops at that moment.
    'account.password_set': (trx, event) =>
      rotate(trx, event, 'password', event.data.account_id, event.data.password_id, event.time.toISOString()),
    // A second factor works from its event on (a confirmed TOTP seed stops expiring) and replaces the
    // one before at that moment; removed, its seed and the recovery codes are destroyed (never a seed
    // or a batch still pending: an enrollment started meanwhile).
    'mfa.totp_enrolled': async (trx, event) => {
      await activatePendingSecret(trx, event.tenantId, 'totp', event.data.factor_id, event);
      await expireOwnedBefore(trx, event.tenantId, 'totp', event.data.account_id, event.position, event.time);
    },
    'mfa.recovery_codes_issued': (trx, event) =>
      rotate(trx, event, 'recovery-code', event.data.account_id, event.data.batch_id, event.time.toISOString()),
    // An SSO connection's client secret works from its event on; a new one replaces it at its event.
    'connection.created': (trx, event) =>
      activateSecret(trx, event.tenantId, 'connection-secret', event.data.oidc.client_secret_id, event),
    'connection.updated': async (trx, event) => {
      const secretId = event.data.changes.oidc?.client_secret_id;
      if (secretId && secretId !== event.data.previous.oidc?.client_secret_id) {
        await rotate(trx, event, 'connection-secret', event.data.connection_id, secretId, event.time.toISOString());
      }
    },
    'connection.deleted': (trx, event) =>
      deleteOwnedSecrets(trx, event.tenantId, 'connection-secret', event.data.connection_id),
    'mfa.totp_removed': async (trx, event) => {
      for (const kind of ['totp', 'recovery-code'] as const) {
        await deleteOwnedBefore(trx, event.tenantId, kind, event.data.account_id, event.position);
      }
    },
  },
});
