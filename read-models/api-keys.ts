import type { Kysely, Selectable } from 'kysely';
import type { ReadModels } from './database.ts';

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

export function findApiKey(db: Kysely<ReadModels>, tenantId: string, keyId: string): Promise<ApiKeyRow | undefined> {
  return db
    .selectFrom('api_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('key_id', '=', keyId)
    .executeTakeFirst();
}

export function listApiKeys(
  db: Kysely<ReadModels>,
  tenantId: string,
  options: { limit: number; after?: string | undefined; includeRevoked?: boolean },
): Promise<ApiKeyRow[]> {
  let query = db
    .selectFrom('api_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('key_id')
    .limit(options.limit);
  if (options.after) query = query.where('key_id', '>', options.after);
  if (!options.includeRevoked) query = query.where('revoked_at', 'is', null);
  return query.execute();
}
