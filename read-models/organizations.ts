import type { Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'organizations';

/** A tenant's organizations: business units or customer accounts, with their members and domains beside. */
export interface OrganizationsTable {
  tenant_id: string;
  organization_id: string;
  /** Slug-like, lowercase, fixed: unique within the tenant (reserved on the write side); the `org_name` claim. */
  name: string;
  display_name: string;
  /** jsonb object of string values. */
  metadata: Record<string, string>;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type OrganizationRow = Selectable<OrganizationsTable>;
export type NewOrganizationRow = Insertable<OrganizationsTable>;

/** The database as far as this table goes. */
export type OrganizationsModel = { [tableName]: OrganizationsTable };

export function findOrganization<DB extends OrganizationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  organizationId: string,
): Promise<OrganizationRow | undefined> {
  return narrow<OrganizationsModel>(db)
    .selectFrom('organizations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('organization_id', '=', organizationId)
    .executeTakeFirst();
}

/** The tenant's live organization with this name (lowercase), or undefined. */
export function findOrganizationByName<DB extends OrganizationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  name: string,
): Promise<OrganizationRow | undefined> {
  return narrow<OrganizationsModel>(db)
    .selectFrom('organizations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name.toLowerCase())
    .executeTakeFirst();
}

export function listOrganizations<DB extends OrganizationsModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined },
): Promise<OrganizationRow[]> {
  let query = narrow<OrganizationsModel>(db)
    .selectFrom('organizations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('organization_id')
    .limit(options.limit);
  if (options.after) query = query.where('organization_id', '>', options.after);
  return query.execute();
}
