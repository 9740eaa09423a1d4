import type { Insertable, Kysely, Selectable } from 'kysely';
import type { ApplicationsModel } from './applications.ts';
import { narrow } from './narrow.ts';

export const tableName = 'api_grants';

/** Which scopes of an API each application may get: one row per live API and live application. */
export interface ApiGrantsTable {
  tenant_id: string;
  api_id: string;
  application_id: string;
  /** jsonb array of scope values, each one of the API's. */
  scopes: string[];
  created_at: Date;
  updated_at: Date;
}

export type ApiGrantRow = Selectable<ApiGrantsTable>;
export type NewApiGrantRow = Insertable<ApiGrantsTable>;

/** The database as far as this table goes. */
export type ApiGrantsModel = { [tableName]: ApiGrantsTable };

export function findApiGrant<DB extends ApiGrantsModel>(
  db: Kysely<DB>,
  tenantId: string,
  apiId: string,
  applicationId: string,
): Promise<ApiGrantRow | undefined> {
  return narrow<ApiGrantsModel>(db)
    .selectFrom('api_grants')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('api_id', '=', apiId)
    .where('application_id', '=', applicationId)
    .executeTakeFirst();
}

export function listApiGrants<DB extends ApiGrantsModel>(
  db: Kysely<DB>,
  tenantId: string,
  apiId: string,
  options: { limit: number; after?: string | undefined },
): Promise<ApiGrantRow[]> {
  let query = narrow<ApiGrantsModel>(db)
    .selectFrom('api_grants')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('api_id', '=', apiId)
    .orderBy('application_id')
    .limit(options.limit);
  if (options.after) query = query.where('application_id', '>', options.after);
  return query.execute();
}

/** The scopes of API `apiId` granted to the tenant's live application with this client_id (empty: none). */
export async function grantedScopes<DB extends ApiGrantsModel & ApplicationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  apiId: string,
  clientId: string,
): Promise<string[]> {
  const row = await narrow<ApiGrantsModel & ApplicationsModel>(db)
    .selectFrom('api_grants')
    .innerJoin('applications', (join) =>
      join
        .onRef('applications.tenant_id', '=', 'api_grants.tenant_id')
        .onRef('applications.application_id', '=', 'api_grants.application_id'),
    )
    .select('api_grants.scopes')
    .where('api_grants.tenant_id', '=', tenantId)
    .where('api_grants.api_id', '=', apiId)
    .where('applications.client_id', '=', clientId)
    .executeTakeFirst();
  return row?.scopes ?? [];
}
