import type { Insertable, Kysely, Selectable } from 'kysely';
import type { RolePermission } from '../events/role.ts';
import { narrow } from './narrow.ts';

export const tableName = 'roles';

/** A tenant's roles: named bundles of permissions (scopes of the tenant's APIs). */
export interface RolesTable {
  tenant_id: string;
  role_id: string;
  /** Unique within the tenant, case-insensitive (reserved on the write side). */
  name: string;
  description: string;
  /** jsonb array of `{api_id, scope}`. */
  permissions: RolePermission[];
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type RoleRow = Selectable<RolesTable>;
export type NewRoleRow = Insertable<RolesTable>;

/** The database as far as this table goes. */
export type RolesModel = { [tableName]: RolesTable };

export function findRole<DB extends RolesModel>(
  db: Kysely<DB>,
  tenantId: string,
  roleId: string,
): Promise<RoleRow | undefined> {
  return narrow<RolesModel>(db)
    .selectFrom('roles')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('role_id', '=', roleId)
    .executeTakeFirst();
}

export function listRoles<DB extends RolesModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined },
): Promise<RoleRow[]> {
  let query = narrow<RolesModel>(db)
    .selectFrom('roles')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('role_id')
    .limit(options.limit);
  if (options.after) query = query.where('role_id', '>', options.after);
  return query.execute();
}
