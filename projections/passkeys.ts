import { defineProjection } from './projection.ts';

/** The `passkeys` read model: every account's live passkeys, found by credential id. */
export const passkeysProjection = defineProjection({
  name: 'passkeys',
  version: 1,
  tables: ['passkeys'],
  on: {
    async 'passkey.added'(trx, event) {
      await trx
        .insertInto('passkeys')
        .values({
          credential_id: event.data.credential_id,
          passkey_id: event.data.passkey_id,
          account_id: event.data.account_id,
          public_key: event.data.public_key,
          counter: event.data.counter,
          transports: JSON.stringify(event.data.transports) as never,
          device_type: event.data.device_type,
          backed_up: event.data.backed_up,
          created_at: event.time,
          last_used_at: null,
        })
        .onConflict((oc) => oc.column('credential_id').doNothing())
        .execute();
    },
    async 'passkey.used'(trx, event) {
      await trx
        .updateTable('passkeys')
        .set({ counter: event.data.counter, last_used_at: event.time })
        .where('passkey_id', '=', event.data.passkey_id)
        .execute();
    },
    async 'passkey.removed'(trx, event) {
      await trx.deleteFrom('passkeys').where('passkey_id', '=', event.data.passkey_id).execute();
    },
    async 'subject.personal_data.erased'(trx, event) {
      await trx.deleteFrom('passkeys').where('account_id', '=', event.data.subject_id).execute();
    },
  },
});
