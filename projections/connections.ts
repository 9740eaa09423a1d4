import type { ConnectionsTable } from '../read-models/connections.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

/**
 * The `connections` read model: one row per live SSO connection, its settings as the API shows them
 * (the client secret is only an id here). An event at or below the row's revision was applied
 * already (a replayed page) and changes nothing. A deleted organization takes its connections' rows
 * with it (their streams are deleted first by the organization's delete).
 */
export const connectionsProjection = defineProjection({
  name: 'connections',
  version: 1,
  tables: ['connections'],
  on: {
    async 'connection.created'(trx, event) {
      const { connection_id, organization_id, name, protocol, enabled, oidc, role_mapping, link_existing_accounts } =
        event.data;
      await trx
        .insertInto('connections')
        .values({
          tenant_id: event.tenantId,
          connection_id,
          organization_id,
          name,
          protocol,
          enabled,
          oidc: JSON.stringify(oidc),
          role_mapping: JSON.stringify(role_mapping),
          link_existing_accounts,
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
        } as unknown as ConnectionsTable)
        .onConflict((oc) => oc.columns(['tenant_id', 'connection_id']).doNothing())
        .execute();
    },
    async 'connection.updated'(trx, event) {
      const { oidc, role_mapping, ...rest } = event.data.changes;
      await bump(trx, event, {
        ...rest,
        ...(oidc ? { oidc: JSON.stringify(oidc) as unknown as ConnectionsTable['oidc'] } : {}),
        ...(role_mapping
          ? { role_mapping: JSON.stringify(role_mapping) as unknown as ConnectionsTable['role_mapping'] }
          : {}),
      });
    },
    async 'connection.enabled'(trx, event) {
      await bump(trx, event, { enabled: true });
    },
    async 'connection.disabled'(trx, event) {
      await bump(trx, event, { enabled: false });
    },
    async 'connection.user.linked'(trx, event) {
      await bump(trx, event);
    },
    async 'connection.deleted'(trx, event) {
      await trx
        .deleteFrom('connections')
        .where('tenant_id', '=', event.tenantId)
        .where('connection_id', '=', event.data.connection_id)
        .execute();
    },
    async 'organization.deleted'(trx, event) {
      await trx
        .deleteFrom('connections')
        .where('tenant_id', '=', event.tenantId)
        .where('organization_id', '=', event.data.organization_id)
        .execute();
    },
  },
});

type ConnectionEventAt = { tenantId: string; revision: number; time: Date; data: { connection_id: string } };

/** Moves the row to the event's revision with `values`, once: whether it applied. */
async function bump(
  trx: ProjectionTransaction,
  event: ConnectionEventAt,
  values: Partial<ConnectionsTable> = {},
): Promise<boolean> {
  const result = await trx
    .updateTable('connections')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('connection_id', '=', event.data.connection_id)
    .where('revision', '<', event.revision)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
