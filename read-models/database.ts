import type { ApiKeysTable } from './api-keys.ts';
import type { IdempotencyKeysTable } from './idempotency-keys.ts';
import type { ProjectionCheckpointsTable, ProjectionFailuresTable } from './projection-checkpoints.ts';
import type { SealedSecretsTable } from './sealed-secrets.ts';
import type { SubjectKeysTable } from './subject-keys.ts';
import type { TenantsTable } from './tenants.ts';
import type { WebhookAttemptsTable } from './webhook-attempts.ts';
import type { WebhookEndpointsTable } from './webhook-endpoints.ts';
import type { WebhookMessagesTable, WebhookSubscriptionsTable } from './webhook-messages.ts';

/** Every read-model table, for kysely. Each table's own file holds its type and its queries. */
export interface ReadModels {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  projection_checkpoints: ProjectionCheckpointsTable;
  projection_failures: ProjectionFailuresTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_messages: WebhookMessagesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_subscriptions: WebhookSubscriptionsTable;
  sealed_secrets: SealedSecretsTable;
  subject_keys: SubjectKeysTable;
  idempotency_keys: IdempotencyKeysTable;
}
