import type { Kysely } from 'kysely';
import type { ReadModels } from './database.ts';

/** What Cedar knows of a principal beyond its id: the organizations it is `in`, and an agent's attributes. */
export interface PrincipalFacts {
  /** Organization ids: a user's memberships; an agent's owner when an organization owns it. */
  organizations: string[];
  /** An agent's `status`, `owner_type` and `owner_id`; none for users and applications. */
  attributes: Record<string, string>;
}

/**
 * A principal's organizations and attributes, read in one statement: a user (`sub_…`) from its
 * organization memberships, an agent (`agt_…`) from its row (an unknown one has none). Applications
 * belong to no organization.
 */
export async function principalFacts(
  db: Kysely<ReadModels>,
  tenantId: string,
  principal: { type: string; id: string },
): Promise<PrincipalFacts> {
  if (principal.type === 'User') {
    const rows = await db
      .selectFrom('organization_members')
      .select('organization_id')
      .where('tenant_id', '=', tenantId)
      .where('sub', '=', principal.id)
      .orderBy('organization_id')
      .execute();
    return { organizations: rows.map((row) => row.organization_id), attributes: {} };
  }
  if (principal.type === 'Agent') {
    const row = await db
      .selectFrom('agents')
      .select(['status', 'owner_type', 'owner_id'])
      .where('tenant_id', '=', tenantId)
      .where('agent_id', '=', principal.id)
      .executeTakeFirst();
    if (!row) return { organizations: [], attributes: {} };
    return {
      organizations: row.owner_type === 'organization' ? [row.owner_id] : [],
      attributes: { status: row.status, owner_type: row.owner_type, owner_id: row.owner_id },
    };
  }
  return { organizations: [], attributes: {} };
}
