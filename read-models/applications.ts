import type { Insertable, Kysely, Selectable } from 'kysely';
import type { ApplicationKind, GrantType, ResponseType, TokenEndpointAuthMethod } from '../events/application.ts';
import { narrow } from './narrow.ts';

export const tableName = 'applications';

/**
 * A tenant's applications (OAuth clients) with all their metadata: what the API shows and what the
 * OIDC layer builds its clients from. Never a secret: only the current secret's id, and when the
 * previous one stops working during a rotation's overlap.
 */
export interface ApplicationsTable {
  tenant_id: string;
  application_id: string;
  /** Unique within the tenant (reserved on the write side). */
  client_id: string;
  kind: ApplicationKind;
  client_name: string;
  application_type: 'web' | 'native';
  /** jsonb arrays of strings. */
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: GrantType[];
  response_types: ResponseType[];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  /** PKCE with S256 required at the authorization endpoint (always for spa and native). */
  require_pkce: boolean;
  logo_uri: string | null;
  allowed_origins: string[];
  access_token_ttl_seconds: number;
  id_token_ttl_seconds: number;
  refresh_token_ttl_seconds: number;
  /** CIBA: `poll` or `ping` with the CIBA grant, null without it. */
  backchannel_token_delivery_mode: 'poll' | 'ping' | null;
  /** CIBA ping mode: the client's notification endpoint; null otherwise. */
  backchannel_client_notification_endpoint: string | null;
  /** The current client secret's id in the sealed-secrets store; null for a public client. */
  secret_id: string | null;
  /** Until when the previous secret still works (the last rotation's overlap); null when none was rotated. */
  previous_secret_expires_at: Date | null;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type ApplicationRow = Selectable<ApplicationsTable>;
export type NewApplicationRow = Insertable<ApplicationsTable>;

/** The database as far as this table goes. */
export type ApplicationsModel = { [tableName]: ApplicationsTable };

export function findApplication<DB extends ApplicationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  applicationId: string,
): Promise<ApplicationRow | undefined> {
  return narrow<ApplicationsModel>(db)
    .selectFrom('applications')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('application_id', '=', applicationId)
    .executeTakeFirst();
}

/**
 * The live application of a tenant with this client_id, with all its metadata (what the OIDC layer
 * needs to build a client), or undefined: deleted applications are not in the table.
 */
export function findApplicationByClientId<DB extends ApplicationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  clientId: string,
): Promise<ApplicationRow | undefined> {
  return narrow<ApplicationsModel>(db)
    .selectFrom('applications')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('client_id', '=', clientId)
    .executeTakeFirst();
}

export function listApplications<DB extends ApplicationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined },
): Promise<ApplicationRow[]> {
  let query = narrow<ApplicationsModel>(db)
    .selectFrom('applications')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('application_id')
    .limit(options.limit);
  if (options.after) query = query.where('application_id', '>', options.after);
  return query.execute();
}
