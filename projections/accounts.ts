import { defineProjection } from './projection.ts';

/** The `accounts` and `account_links` read models: SigID's global accounts and their pairwise tenant links. */
export const accountsProjection = defineProjection({
  name: 'accounts',
  version: 1,
  tables: ['accounts', 'account_links'],
  on: {
    async 'account.created'(trx, event) {
      await trx
        .insertInto('accounts')
        .values({
          account_id: event.data.account_id,
          method: event.data.method,
          email_verified: false,
          password_id: null,
          created_at: event.time,
          updated_at: event.time,
        })
        .onConflict((oc) => oc.column('account_id').doNothing())
        .execute();
    },
    async 'account.email_verified'(trx, event) {
      await trx
        .updateTable('accounts')
        .set({ email_verified: true, updated_at: event.time })
        .where('account_id', '=', event.data.account_id)
        .execute();
    },
    async 'account.password_set'(trx, event) {
      await trx
        .updateTable('accounts')
        .set({ password_id: event.data.password_id, updated_at: event.time })
        .where('account_id', '=', event.data.account_id)
        .execute();
    },
    // An erased account signs in nowhere any more (its events read as erased everywhere).
    async 'subject.personal_data.erased'(trx, event) {
      await trx.deleteFrom('account_links').where('account_id', '=', event.data.subject_id).execute();
      await trx.deleteFrom('accounts').where('account_id', '=', event.data.subject_id).execute();
    },
    async 'account.linked'(trx, event) {
      await trx
        .insertInto('account_links')
        .values({
          account_id: event.data.account_id,
          tenant_id: event.data.tenant_id,
          sub: event.data.sub,
          created_at: event.time,
        })
        .onConflict((oc) => oc.columns(['account_id', 'tenant_id']).doNothing())
        .execute();
    },
    async 'account.unlinked'(trx, event) {
      await trx
        .deleteFrom('account_links')
        .where('account_id', '=', event.data.account_id)
        .where('tenant_id', '=', event.data.tenant_id)
        .where('sub', '=', event.data.sub)
        .execute();
    },
  },
});
