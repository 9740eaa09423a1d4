import { defineProjection } from './projection.ts';

/**
 * The `account_mfa` read model: each SigID account's authenticator app and recovery codes left, for
 * reports and operators. Sign-in and the pages never read it: they read the account's mfa stream.
 */
export const accountMfaProjection = defineProjection({
  name: 'account_mfa',
  version: 1,
  tables: ['account_mfa'],
  on: {
    async 'mfa.totp_enrolled'(trx, event) {
      const row = {
        totp_factor_id: event.data.factor_id,
        totp_enrolled_at: event.time,
        recovery_batch_id: null,
        recovery_codes_remaining: 0,
        updated_at: event.time,
      };
      await trx
        .insertInto('account_mfa')
        .values({ account_id: event.data.account_id, ...row })
        .onConflict((oc) => oc.column('account_id').doUpdateSet(row))
        .execute();
    },
    async 'mfa.totp_removed'(trx, event) {
      await trx
        .deleteFrom('account_mfa')
        .where('account_id', '=', event.data.account_id)
        .where('totp_factor_id', '=', event.data.factor_id)
        .execute();
    },
    async 'mfa.recovery_codes_issued'(trx, event) {
      await trx
        .updateTable('account_mfa')
        .set({
          recovery_batch_id: event.data.batch_id,
          recovery_codes_remaining: event.data.count,
          updated_at: event.time,
        })
        .where('account_id', '=', event.data.account_id)
        .execute();
    },
    async 'mfa.recovery_code_used'(trx, event) {
      await trx
        .updateTable('account_mfa')
        .set({ recovery_codes_remaining: event.data.remaining, updated_at: event.time })
        .where('account_id', '=', event.data.account_id)
        .where('recovery_batch_id', '=', event.data.batch_id)
        .execute();
    },
    // An erased account has no second factor left (its seeds go in the `secrets` reactor).
    async 'subject.personal_data.erased'(trx, event) {
      await trx.deleteFrom('account_mfa').where('account_id', '=', event.data.subject_id).execute();
    },
  },
});
