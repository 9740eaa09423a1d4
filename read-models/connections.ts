import type { Insertable, Kysely, Selectable } from 'kysely';
import type { ClaimMapping } from '../events/connection.ts';
import { narrow } from './narrow.ts';

export const tableName = 'connections';

/** An OIDC connection's settings as the read model keeps them: the secret's id, never the secret. */
export interface ConnectionOidc {
  issuer: string;
  client_id: string;
  client_secret_id: string;
  scopes: string[];
  claim_mapping: ClaimMapping;
}

/** A tenant's SSO connections, each of one organization (OIDC now; a `saml` column comes with SAML). */
export interface ConnectionsTable {
  tenant_id: string;
  connection_id: string;
  organization_id: string;
  name: string;
  protocol: 'oidc';
  enabled: boolean;
  /** jsonb: the OIDC settings (null for another protocol, later). */
  oidc: ConnectionOidc | null;
  /** jsonb: IdP role value → tenant role id. */
  role_mapping: Record<string, string>;
  link_existing_accounts: boolean;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type ConnectionRow = Selectable<ConnectionsTable>;
export type NewConnectionRow = Insertable<ConnectionsTable>;

/** The database as far as this table goes. */
export type ConnectionsModel = { [tableName]: ConnectionsTable };

/** The tenant's connection, or undefined (another tenant's id included). */
export function findConnection<DB extends ConnectionsModel>(
  db: Kysely<DB>,
  tenantId: string,
  connectionId: string,
): Promise<ConnectionRow | undefined> {
  return narrow<ConnectionsModel>(db)
    .selectFrom('connections')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('connection_id', '=', connectionId)
    .executeTakeFirst();
}

/** An organization's connections, by id. */
export function listConnections<DB extends ConnectionsModel>(
  db: Kysely<DB>,
  tenantId: string,
  organizationId: string,
  options: { limit: number; after?: string | undefined; enabledOnly?: boolean },
): Promise<ConnectionRow[]> {
  let query = narrow<ConnectionsModel>(db)
    .selectFrom('connections')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('organization_id', '=', organizationId)
    .orderBy('connection_id')
    .limit(options.limit);
  if (options.after) query = query.where('connection_id', '>', options.after);
  if (options.enabledOnly) query = query.where('enabled', '=', true);
  return query.execute();
}
