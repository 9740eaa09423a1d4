import type { UsersTable } from '../read-models/users.ts';
import { defineProjection, type ProjectionTransaction } from './projection.ts';

type UserEventAt = { tenantId: string; revision: number; time: Date; data: { sub: string } };

/**
 * The `users` read model: one row per user of a tenant. A deleted user stays as a tombstone (status
 * `deleted`, every personal field null); `last_sign_in_at` follows the tenant's `sign_in.succeeded`.
 */
export const usersProjection = defineProjection({
  name: 'users',
  version: 1,
  tables: ['users'],
  on: {
    async 'user.created'(trx, event) {
      await trx
        .insertInto('users')
        .values({
          tenant_id: event.tenantId,
          sub: event.data.sub,
          email: event.data.email,
          email_verified: event.data.email_verified,
          name: null,
          given_name: null,
          family_name: null,
          picture: null,
          metadata: JSON.stringify({}) as unknown as UsersTable['metadata'],
          status: 'active',
          revision: event.revision,
          created_at: event.time,
          updated_at: event.time,
          last_sign_in_at: null,
          deleted_at: null,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'sub']).doNothing())
        .execute();
    },
    async 'user.updated'(trx, event) {
      // Erased (the user was deleted since): the tombstone keeps nothing personal anyway.
      if (event.data.changes === null) return update(trx, event, {});
      const { metadata, ...rest } = event.data.changes;
      await update(trx, event, {
        ...rest,
        ...(metadata ? { metadata: JSON.stringify(metadata) as unknown as UsersTable['metadata'] } : {}),
      });
    },
    async 'user.blocked'(trx, event) {
      await update(trx, event, { status: 'blocked' });
    },
    async 'user.unblocked'(trx, event) {
      await update(trx, event, { status: 'active' });
    },
    async 'user.deleted'(trx, event) {
      await update(trx, event, {
        status: 'deleted',
        email: null,
        email_verified: false,
        name: null,
        given_name: null,
        family_name: null,
        picture: null,
        metadata: JSON.stringify({}) as unknown as UsersTable['metadata'],
        deleted_at: event.time,
      });
    },
    async 'sign_in.succeeded'(trx, event) {
      await trx
        .updateTable('users')
        .set({ last_sign_in_at: event.time })
        .where('tenant_id', '=', event.tenantId)
        .where('sub', '=', event.data.sub)
        .where('status', '!=', 'deleted')
        .execute();
    },
  },
});

/** Applies a change once: a row already at or past this revision has seen it. */
async function update(trx: ProjectionTransaction, event: UserEventAt, values: Partial<UsersTable>): Promise<void> {
  await trx
    .updateTable('users')
    .set({ ...values, revision: event.revision, updated_at: event.time })
    .where('tenant_id', '=', event.tenantId)
    .where('sub', '=', event.data.sub)
    .where('revision', '<', event.revision)
    .execute();
}
