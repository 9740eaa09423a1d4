import type { Generated, Insertable, Selectable } from 'kysely';

export const tableName = 'operator_keys';

/** SHA-256 of platform operator keys. */
export interface OperatorKeysTable {
  key_id: string;
  secret_hash: Uint8Array;
  created_at: Generated<Date>;
}

export type OperatorKeyRow = Selectable<OperatorKeysTable>;
export type NewOperatorKeyRow = Insertable<OperatorKeysTable>;

/** The database as far as this table goes. */
export type OperatorKeysModel = { [tableName]: OperatorKeysTable };
