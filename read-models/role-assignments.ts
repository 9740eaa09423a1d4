import type { Insertable, Kysely, Selectable } from 'kysely';
import type { RolePermission } from '../events/role.ts';
import { narrow } from './narrow.ts';
import type { OrganizationMembersModel } from './organization-members.ts';
import type { RolesModel } from './roles.ts';

export const tableName = 'role_assignments';

/** Who holds which role: one row per live role and holder (a `sub`, in the tenant or one organization). */
export interface RoleAssignmentsTable {
  tenant_id: string;
  role_id: string;
  sub: string;
  /** null: the whole tenant (the only kind of assignment for now). */
  organization_id: string | null;
  created_at: Date;
}

export type RoleAssignmentRow = Selectable<RoleAssignmentsTable>;
export type NewRoleAssignmentRow = Insertable<RoleAssignmentsTable>;

/** The database as far as this table goes. */
export type RoleAssignmentsModel = { [tableName]: RoleAssignmentsTable };

/** The tenant-level assignment of a role to a sub, or undefined. */
export function findRoleAssignment<DB extends RoleAssignmentsModel>(
  db: Kysely<DB>,
  tenantId: string,
  roleId: string,
  sub: string,
): Promise<RoleAssignmentRow | undefined> {
  return narrow<RoleAssignmentsModel>(db)
    .selectFrom('role_assignments')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('role_id', '=', roleId)
    .where('sub', '=', sub)
    .where('organization_id', 'is', null)
    .executeTakeFirst();
}

/** The tenant-level holders of a role, by sub. */
export function listRoleHolders<DB extends RoleAssignmentsModel>(
  db: Kysely<DB>,
  tenantId: string,
  roleId: string,
  options: { limit: number; after?: string | undefined },
): Promise<RoleAssignmentRow[]> {
  let query = narrow<RoleAssignmentsModel>(db)
    .selectFrom('role_assignments')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('role_id', '=', roleId)
    .where('organization_id', 'is', null)
    .orderBy('sub')
    .limit(options.limit);
  if (options.after) query = query.where('sub', '>', options.after);
  return query.execute();
}

/** The tenant-level roles a sub holds, by role id. */
export function listAssignmentsOfSub<DB extends RoleAssignmentsModel>(
  db: Kysely<DB>,
  tenantId: string,
  sub: string,
  options: { limit: number; after?: string | undefined },
): Promise<RoleAssignmentRow[]> {
  let query = narrow<RoleAssignmentsModel>(db)
    .selectFrom('role_assignments')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('sub', '=', sub)
    .where('organization_id', 'is', null)
    .orderBy('role_id')
    .limit(options.limit);
  if (options.after) query = query.where('role_id', '>', options.after);
  return query.execute();
}

/** Every role a sub holds at tenant level, with its name and permissions: what the sub's tokens carry. */
export function rolesOfSub<DB extends RoleAssignmentsModel & RolesModel>(
  db: Kysely<DB>,
  tenantId: string,
  sub: string,
): Promise<Array<{ role_id: string; name: string; permissions: RolePermission[] }>> {
  return narrow<RoleAssignmentsModel & RolesModel>(db)
    .selectFrom('role_assignments')
    .innerJoin('roles', (join) =>
      join
        .onRef('roles.tenant_id', '=', 'role_assignments.tenant_id')
        .onRef('roles.role_id', '=', 'role_assignments.role_id'),
    )
    .select(['roles.role_id', 'roles.name', 'roles.permissions'])
    .where('role_assignments.tenant_id', '=', tenantId)
    .where('role_assignments.sub', '=', sub)
    .where('role_assignments.organization_id', 'is', null)
    .orderBy('roles.name')
    .execute();
}

/**
 * The roles a sub holds in one organization (its membership's roles that are still roles of the
 * tenant), with name and permissions: what the sub's tokens for that organization add.
 */
export async function organizationRolesOfSub<DB extends OrganizationMembersModel & RolesModel>(
  db: Kysely<DB>,
  tenantId: string,
  organizationId: string,
  sub: string,
): Promise<Array<{ role_id: string; name: string; permissions: RolePermission[] }>> {
  const scoped = narrow<OrganizationMembersModel & RolesModel>(db);
  const member = await scoped
    .selectFrom('organization_members')
    .select('roles')
    .where('tenant_id', '=', tenantId)
    .where('organization_id', '=', organizationId)
    .where('sub', '=', sub)
    .executeTakeFirst();
  const ids = (member?.roles ?? []).filter((id): id is string => typeof id === 'string');
  if (ids.length === 0) return [];
  return scoped
    .selectFrom('roles')
    .select(['role_id', 'name', 'permissions'])
    .where('tenant_id', '=', tenantId)
    .where('role_id', 'in', ids)
    .orderBy('name')
    .execute();
}
