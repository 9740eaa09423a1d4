import type { Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'passkeys';

/** A passkey of a SigID account (projected from `passkey.*`): what verifies its sign-ins. */
export interface PasskeysTable {
  credential_id: string;
  passkey_id: string;
  account_id: string;
  /** The COSE public key, base64url. */
  public_key: string;
  counter: number;
  transports: string[];
  device_type: string;
  backed_up: boolean;
  created_at: Date;
  last_used_at: Date | null;
}

export type PasskeyRow = Selectable<PasskeysTable>;

export type PasskeysModel = { [tableName]: PasskeysTable };

export function findPasskeyByCredential<DB extends PasskeysModel>(
  db: Kysely<DB>,
  credentialId: string,
): Promise<PasskeyRow | undefined> {
  return narrow<PasskeysModel>(db)
    .selectFrom('passkeys')
    .selectAll()
    .where('credential_id', '=', credentialId)
    .executeTakeFirst();
}

export function listPasskeys<DB extends PasskeysModel>(db: Kysely<DB>, accountId: string): Promise<PasskeyRow[]> {
  return narrow<PasskeysModel>(db)
    .selectFrom('passkeys')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('created_at')
    .execute();
}
