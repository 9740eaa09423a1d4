import type { Generated, Selectable } from 'kysely';

export const tableName = 'sealed_secrets';

/**
 * Worker state, not a projected table: the sealed-secrets store (`src/secrets/sealed-secrets.ts`).
 * `sealed` is AES-256-GCM under the master key `key_id` (null: sealed before key ids; `unsealed`: a
 * bare API key hash moved here by a migration, sealed on the next start). `activated_at` is null
 * until the secret's creating event has been seen.
 */
export interface SealedSecretsTable {
  tenant_id: string;
  kind: string;
  id: string;
  owner_id: string | null;
  key_id: string | null;
  sealed: Uint8Array;
  activated_at: Date | null;
  /** The global position of the event that activated it (null: active from the start). */
  activated_position: number | null;
  expires_at: Date | null;
  created_at: Generated<Date>;
}

export type SealedSecretRow = Selectable<SealedSecretsTable>;

/** The database as far as this table goes. */
export type SealedSecretsModel = { [tableName]: SealedSecretsTable };
