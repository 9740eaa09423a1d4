import type { OrganizationMembersTable } from '../read-models/organization-members.ts';
import type { OrganizationsTable } from '../read-models/organizations.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/**
 * The `organizations`, `organization_members` and `organization_domains` read models: one row per
 * live organization, one per member and one per domain of it. Members and domains share the
 * organization's stream, so each of their events moves its revision (its `ETag`) too; an event at
 * or below the row's revision was applied already (a replayed page) and changes nothing.
 */
export const organizationsProjection = defineProjection({
  name: 'organizations',
  version: 1,
  tables: ['organizations', 'organization_members', 'organization_domains'],
  on: {
    async 'organization.created'(trx, event) {
      const { organization_id, name, display_name, metadata } = event.data;
      await trx
        .insertInto('organizations')
        .values({
          tenant_id: event.tenantId,
          organization_id,
          name,
          display_name,
          metadata: JSON.stringify(metadata),
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        } as unknown as OrganizationsTable)
        .onConflict((oc) => oc.columns(['tenant_id', 'organization_id']).doNothing())
        .execute();
    },
    async 'organization.updated'(trx, event) {
      const { metadata, ...rest } = event.data.changes;
      await bump(trx, event, {
        ...rest,
        ...(metadata ? { metadata: JSON.stringify(metadata) as unknown as OrganizationsTable['metadata'] } : {}),
      });
    },
    async 'organization.deleted'(trx, event) {
      for (const table of ['organization_members', 'organization_domains', 'organizations'] as const) {
        await trx
          .deleteFrom(table)
          .where('tenant_id', '=', event.tenantId)
          .where('organization_id', '=', event.data.organization_id)
          .execute();
      }
    },
    async 'organization.member.added'(trx, event) {
      if (!(await bump(trx, event))) return;
      const roles = JSON.stringify(event.data.roles) as unknown as OrganizationMembersTable['roles'];
      await trx
        .insertInto('organization_members')
        .values({
          tenant_id: event.tenantId,
          organization_id: event.data.organization_id,
          sub: event.data.sub,
          roles,
          created_at: event.time,
          updated_at: event.time,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'organization_id', 'sub']).doUpdateSet({ roles }))
        .execute();
    },
    async 'organization.member.updated'(trx, event) {
      if (!(await bump(trx, event))) return;
      await trx
        .updateTable('organization_members')
        .set({
          roles: JSON.stringify(event.data.roles) as unknown as OrganizationMembersTable['roles'],
          updated_at: event.time,
        })
        .where('tenant_id', '=', event.tenantId)
        .where('organization_id', '=', event.data.organization_id)
        .where('sub', '=', event.data.sub)
        .execute();
    },
    async 'organization.member.removed'(trx, event) {
      await bump(trx, event);
      await trx
        .deleteFrom('organization_members')
        .where('tenant_id', '=', event.tenantId)
        .where('organization_id', '=', event.data.organization_id)
        .where('sub', '=', event.data.sub)
        .execute();
    },
    // A deleted user is no member of anything: their memberships go with them (the organization
    // streams keep the history).
    async 'user.deleted'(trx, event) {
      await trx
        .deleteFrom('organization_members')
        .where('tenant_id', '=', event.tenantId)
        .where('sub', '=', event.data.sub)
        .execute();
    },
    async 'organization.domain.added'(trx, event) {
      if (!(await bump(trx, event))) return;
      await trx
        .insertInto('organization_domains')
        .values({
          tenant_id: event.tenantId,
          organization_id: event.data.organization_id,
          domain: event.data.domain,
          record_name: event.data.record_name,
          token: event.data.token,
          verified_at: null,
          created_at: event.time,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'organization_id', 'domain']).doNothing())
        .execute();
    },
    async 'organization.domain.verified'(trx, event) {
      if (!(await bump(trx, event))) return;
      await trx
        .updateTable('organization_domains')
        .set({ verified_at: event.time })
        .where('tenant_id', '=', event.tenantId)
        .where('organization_id', '=', event.data.organization_id)
        .where('domain', '=', event.data.domain)
        .execute();
    },
    async 'organization.domain.removed'(trx, event) {
      await bump(trx, event);
      await trx
        .deleteFrom('organization_domains')
        .where('tenant_id', '=', event.tenantId)
        .where('organization_id', '=', event.data.organization_id)
        .where('domain', '=', event.data.domain)
        .execute();
    },
  },
});

type OrganizationEventAt = { tenantId: string; revision: number; time: Date; data: { organization_id: string } };

/** Moves the organization's row to this event's revision, once. Whether it applied (false: seen already, or gone). */
async function bump(
  trx: ProjectionTransaction,
  event: OrganizationEventAt,
  values: Partial<OrganizationsTable> = {},
): Promise<boolean> {
  const result = await trx
    .updateTable('organizations')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('organization_id', '=', event.data.organization_id)
    .where('revision', '<', event.revision)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
