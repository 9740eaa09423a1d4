import type { Generated, Insertable, Selectable } from 'kysely';

export const tableName = 'api_key_secrets';

/** SHA-256 of each live tenant API key's secret; a revoked key's row is gone. */
export interface ApiKeySecretsTable {
  key_id: string;
  tenant_id: string;
  secret_hash: Uint8Array;
  created_at: Generated<Date>;
}

export type ApiKeySecretRow = Selectable<ApiKeySecretsTable>;
export type NewApiKeySecretRow = Insertable<ApiKeySecretsTable>;

/** The database as far as this table goes. */
export type ApiKeySecretsModel = { [tableName]: ApiKeySecretsTable };
