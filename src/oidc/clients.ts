import { createHmac } from 'node:crypto';
import type { ApplicationRow } from '../../read-models/applications.ts';
import { findApplicationByClientId } from '../../read-models/applications.ts';
import type { Sigid } from '../sigid.ts';
import type { OidcClients } from './adapter.ts';

/**
 * An application as oidc-provider client metadata. A confidential client gets a stand-in
 * `client_secret` (oidc-provider's schema wants one): it is never compared (the issuer checks
 * presented secrets against the stored hashes) and never used as a key (no HS* algorithm is enabled).
 */
export function clientMetadata(row: ApplicationRow, standIn: (clientId: string) => string): Record<string, unknown> {
  const confidential = row.token_endpoint_auth_method !== 'none';
  return {
    client_id: row.client_id,
    ...(confidential ? { client_secret: standIn(row.client_id) } : {}),
    client_name: row.client_name,
    application_type: row.application_type,
    redirect_uris: row.redirect_uris,
    post_logout_redirect_uris: row.post_logout_redirect_uris,
    grant_types: row.grant_types,
    response_types: row.response_types,
    token_endpoint_auth_method: row.token_endpoint_auth_method,
    id_token_signed_response_alg: 'ES256',
    ...(row.logo_uri ? { logo_uri: row.logo_uri } : {}),
    allowed_origins: row.allowed_origins,
    require_pkce: row.require_pkce,
    access_token_ttl: row.access_token_ttl_seconds,
    id_token_ttl: row.id_token_ttl_seconds,
    refresh_token_ttl: row.refresh_token_ttl_seconds,
  };
}

/** The issuers' clients: the tenants' applications, read from the applications read model on every lookup. */
export function applicationClients(sigid: Pick<Sigid, 'readModels' | 'masterKey'>): OidcClients {
  const standIn = (clientId: string) =>
    createHmac('sha256', sigid.masterKey).update(`oidc client secret stand-in:${clientId}`).digest('base64url');
  return {
    async find(tenantId, clientId) {
      const row = await findApplicationByClientId(sigid.readModels, tenantId, clientId);
      return row ? clientMetadata(row, standIn) : undefined;
    },
  };
}
