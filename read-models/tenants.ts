import type { Insertable, Kysely, Selectable } from 'kysely';
import type { ReadModels } from './database.ts';

export const tableName = 'tenants';

export type TenantStatus = 'active' | 'suspended' | 'deleted';

export interface TenantsTable {
  tenant_id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type TenantRow = Selectable<TenantsTable>;
export type NewTenantRow = Insertable<TenantsTable>;

/** Tenants are the platform operator's view: the one read model not scoped by a caller's tenant. */
export function findTenant(db: Kysely<ReadModels>, tenantId: string): Promise<TenantRow | undefined> {
  return db.selectFrom('tenants').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
}

export function findTenantBySlug(db: Kysely<ReadModels>, slug: string): Promise<TenantRow | undefined> {
  return db.selectFrom('tenants').selectAll().where('slug', '=', slug).executeTakeFirst();
}

export function listTenants(
  db: Kysely<ReadModels>,
  options: { limit: number; after?: string | undefined; includeDeleted?: boolean },
): Promise<TenantRow[]> {
  let query = db.selectFrom('tenants').selectAll().orderBy('tenant_id').limit(options.limit);
  if (options.after) query = query.where('tenant_id', '>', options.after);
  if (!options.includeDeleted) query = query.where('status', '!=', 'deleted');
  return query.execute();
}
