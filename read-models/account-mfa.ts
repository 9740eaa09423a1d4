import type { Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'account_mfa';

/**
 * SigID accounts' second factors, for reports and operators (projection `account_mfa`): whether an
 * authenticator app is enrolled and since when, and how many recovery codes are left. Sign-in and
 * the pages read the account's mfa stream instead (`mfaMethodsOf`), which is never behind a write. Global, like
 * `accounts`; no seed, no code, no hash (those are in the sealed-secrets store). A row exists once
 * an authenticator app was enrolled, and goes when it is removed or the account is erased.
 */
export interface AccountMfaTable {
  account_id: string;
  /** The enrolled TOTP factor's id in the sealed-secrets store (kind `totp`). */
  totp_factor_id: string;
  totp_enrolled_at: Date;
  /** The current recovery-code batch (kind `recovery-code`), if one was issued. */
  recovery_batch_id: string | null;
  recovery_codes_remaining: number;
  updated_at: Date;
}

export type AccountMfaRow = Selectable<AccountMfaTable>;

/** The database as far as this table goes. */
export type AccountMfaModel = { [tableName]: AccountMfaTable };

/** The account's second factors, if it has any. */
export function findAccountMfa<DB extends AccountMfaModel>(
  db: Kysely<DB>,
  accountId: string,
): Promise<AccountMfaRow | undefined> {
  return narrow<AccountMfaModel>(db)
    .selectFrom('account_mfa')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
}
