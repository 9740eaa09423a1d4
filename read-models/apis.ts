import type { Insertable, Kysely, Selectable } from 'kysely';
import type { ApiScope } from '../events/api.ts';
import { narrow } from './narrow.ts';

export const tableName = 'apis';

/** A tenant's APIs (resource servers): what the API shows and what the issuer limits tokens by. */
export interface ApisTable {
  tenant_id: string;
  api_id: string;
  name: string;
  /** The RFC 8707 resource and the tokens' `aud`: unique within the tenant (reserved on the write side). */
  identifier: string;
  /** jsonb array of `{value, description}`. */
  scopes: ApiScope[];
  access_token_ttl_seconds: number;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type ApiRow = Selectable<ApisTable>;
export type NewApiRow = Insertable<ApisTable>;

/** The database as far as this table goes. */
export type ApisModel = { [tableName]: ApisTable };

export function findApi<DB extends ApisModel>(
  db: Kysely<DB>,
  tenantId: string,
  apiId: string,
): Promise<ApiRow | undefined> {
  return narrow<ApisModel>(db)
    .selectFrom('apis')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('api_id', '=', apiId)
    .executeTakeFirst();
}

/** The live API of a tenant with this identifier (compared exactly), or undefined. */
export function findApiByIdentifier<DB extends ApisModel>(
  db: Kysely<DB>,
  tenantId: string,
  identifier: string,
): Promise<ApiRow | undefined> {
  return narrow<ApisModel>(db)
    .selectFrom('apis')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('identifier', '=', identifier)
    .executeTakeFirst();
}

export function listApis<DB extends ApisModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined },
): Promise<ApiRow[]> {
  let query = narrow<ApisModel>(db)
    .selectFrom('apis')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('api_id')
    .limit(options.limit);
  if (options.after) query = query.where('api_id', '>', options.after);
  return query.execute();
}
