import type { Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'api_keys';

export interface ApiKeysTable {
  tenant_id: string;
  key_id: string;
  name: string;
  created_by: string;
  created_at: Date;
  revoked_at: Date | null;
}

export type ApiKeyRow = Selectable<ApiKeysTable>;
export type NewApiKeyRow = Insertable<ApiKeysTable>;

/** The database as far as this table goes. */
export type ApiKeysModel = { [tableName]: ApiKeysTable };

export function findApiKey<DB extends ApiKeysModel>(
  db: Kysely<DB>,
  tenantId: string,
  keyId: string,
): Promise<ApiKeyRow | undefined> {
  return narrow<ApiKeysModel>(db)
    .selectFrom('api_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('key_id', '=', keyId)
    .executeTakeFirst();
}

export function listApiKeys<DB extends ApiKeysModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined; includeRevoked?: boolean },
): Promise<ApiKeyRow[]> {
  let query = narrow<ApiKeysModel>(db)
    .selectFrom('api_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('key_id')
    .limit(options.limit);
  if (options.after) query = query.where('key_id', '>', options.after);
  if (!options.includeRevoked) query = query.where('revoked_at', 'is', null);
  return query.execute();
}
