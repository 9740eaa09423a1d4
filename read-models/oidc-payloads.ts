import type { Selectable } from 'kysely';

export const tableName = 'oidc_payloads';

/**
 * Worker state, not a projected table: oidc-provider's stored models (Session, Interaction,
 * AuthorizationCode, RefreshToken, Grant, ReplayDetection…) per tenant issuer, each until
 * `expires_at` (then deleted by the cleanup). `grant_id`, `uid` and `user_code` are the lookups
 * oidc-provider makes besides the id.
 */
export interface OidcPayloadsTable {
  tenant_id: string;
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  expires_at: Date | null;
  consumed_at: Date | null;
}

export type OidcPayloadRow = Selectable<OidcPayloadsTable>;

/** The database as far as this table goes. */
export type OidcPayloadsModel = { [tableName]: OidcPayloadsTable };
