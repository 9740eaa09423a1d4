import type { RolesTable } from '../read-models/roles.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/**
 * The `roles` and `role_assignments` read models: one row per live role, one per holder of a live
 * role. A role's assignments share its stream, so its revision (`ETag`) moves with them; deleting a
 * role removes its row and its assignments in one transaction.
 */
export const rolesProjection = defineProjection({
  name: 'roles',
  version: 1,
  tables: ['roles', 'role_assignments'],
  on: {
    async 'role.created'(trx, event) {
      const { role_id, name, description, permissions } = event.data;
      await trx
        .insertInto('roles')
        .values({
          tenant_id: event.tenantId,
          role_id,
          name,
          description,
          permissions: JSON.stringify(permissions),
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        } as unknown as RolesTable)
        .onConflict((oc) => oc.columns(['tenant_id', 'role_id']).doNothing())
        .execute();
    },
    async 'role.updated'(trx, event) {
      const { permissions, ...rest } = event.data.changes;
      await update(trx, event, {
        ...rest,
        ...(permissions ? { permissions: JSON.stringify(permissions) as unknown as RolesTable['permissions'] } : {}),
      });
    },
    async 'role.deleted'(trx, event) {
      await trx
        .deleteFrom('role_assignments')
        .where('tenant_id', '=', event.tenantId)
        .where('role_id', '=', event.data.role_id)
        .execute();
      await trx
        .deleteFrom('roles')
        .where('tenant_id', '=', event.tenantId)
        .where('role_id', '=', event.data.role_id)
        .execute();
    },
    // A deleted user holds nothing: their assignments go with them (the role streams keep the history).
    async 'user.deleted'(trx, event) {
      await trx
        .deleteFrom('role_assignments')
        .where('tenant_id', '=', event.tenantId)
        .where('sub', '=', event.data.sub)
        .execute();
    },
    async 'role.assigned'(trx, event) {
      // Already applied (a replayed page), or the role is gone.
      if (!(await update(trx, event, {}))) return;
      await trx
        .insertInto('role_assignments')
        .values({
          tenant_id: event.tenantId,
          role_id: event.data.role_id,
          sub: event.data.sub,
          organization_id: event.data.organization_id,
          created_at: event.time,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
    },
    async 'role.unassigned'(trx, event) {
      await trx
        .deleteFrom('role_assignments')
        .where('tenant_id', '=', event.tenantId)
        .where('role_id', '=', event.data.role_id)
        .where('sub', '=', event.data.sub)
        .where((where) =>
          event.data.organization_id === null
            ? where('organization_id', 'is', null)
            : where('organization_id', '=', event.data.organization_id),
        )
        .execute();
      await update(trx, event, {});
    },
  },
});

type RoleEventAt = { tenantId: string; revision: number; time: Date; data: { role_id: string } };

/** Applies a change once: a row already at or past this revision has seen it. Whether it applied. */
async function update(trx: ProjectionTransaction, event: RoleEventAt, values: Partial<RolesTable>): Promise<boolean> {
  const result = await trx
    .updateTable('roles')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('role_id', '=', event.data.role_id)
    .where('revision', '<', event.revision)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
