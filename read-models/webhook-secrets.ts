import type { Generated, Insertable, Selectable } from 'kysely';

export const tableName = 'webhook_secrets';

/** Webhook signing secrets, sealed with the master key; events carry only their ids. */
export interface WebhookSecretsTable {
  tenant_id: string;
  secret_id: string;
  endpoint_id: string;
  sealed: Uint8Array;
  created_at: Generated<Date>;
  /** A rotated-out secret keeps signing until then; null: current. */
  expires_at: Date | null;
}

export type WebhookSecretRow = Selectable<WebhookSecretsTable>;
export type NewWebhookSecretRow = Insertable<WebhookSecretsTable>;

/** The database as far as this table goes. */
export type WebhookSecretsModel = { [tableName]: WebhookSecretsTable };
