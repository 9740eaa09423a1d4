import type { Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'accounts';

/** A SigID account as sign-in needs it: no personal data (the e-mail address stays sealed in its events). */
export interface AccountsTable {
  account_id: string;
  method: 'password' | 'passkey' | 'federated';
  email_verified: boolean;
  /** The current password's id in the sealed-secrets store (kind `password`), if it has one. */
  password_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export type AccountRow = Selectable<AccountsTable>;

/** The database as far as this table goes. */
export type AccountsModel = { [tableName]: AccountsTable };

export function findAccount<DB extends AccountsModel>(
  db: Kysely<DB>,
  accountId: string,
): Promise<AccountRow | undefined> {
  return narrow<AccountsModel>(db)
    .selectFrom('accounts')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
}
