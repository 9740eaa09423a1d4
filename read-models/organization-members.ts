import type { Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'organization_members';

/** An organization's members: tenant users by their pairwise `sub`, with their organization roles. */
export interface OrganizationMembersTable {
  tenant_id: string;
  organization_id: string;
  sub: string;
  /** jsonb array of role ids (`rol_…`), as given: checked against the tenant's roles once roles exist. */
  roles: string[];
  created_at: Date;
  updated_at: Date;
}

export type OrganizationMemberRow = Selectable<OrganizationMembersTable>;
export type NewOrganizationMemberRow = Insertable<OrganizationMembersTable>;

/** The database as far as this table goes. */
export type OrganizationMembersModel = { [tableName]: OrganizationMembersTable };

export function findOrganizationMember<DB extends OrganizationMembersModel>(
  db: Kysely<DB>,
  tenantId: string,
  organizationId: string,
  sub: string,
): Promise<OrganizationMemberRow | undefined> {
  return narrow<OrganizationMembersModel>(db)
    .selectFrom('organization_members')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('organization_id', '=', organizationId)
    .where('sub', '=', sub)
    .executeTakeFirst();
}

export function listOrganizationMembers<DB extends OrganizationMembersModel>(
  db: Kysely<DB>,
  tenantId: string,
  organizationId: string,
  options: { limit: number; after?: string | undefined },
): Promise<OrganizationMemberRow[]> {
  let query = narrow<OrganizationMembersModel>(db)
    .selectFrom('organization_members')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('organization_id', '=', organizationId)
    .orderBy('sub')
    .limit(options.limit);
  if (options.after) query = query.where('sub', '>', options.after);
  return query.execute();
}
