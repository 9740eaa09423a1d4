import type { Generated, Insertable, Selectable } from 'kysely';

export const tableName = 'subject_keys';

/** Per-subject data keys, wrapped by the master key; `wrapped_key` is null once destroyed (erasure). */
export interface SubjectKeysTable {
  tenant_id: string;
  subject_id: string;
  wrapped_key: Uint8Array | null;
  created_at: Generated<Date>;
  destroyed_at: Date | null;
}

export type SubjectKeyRow = Selectable<SubjectKeysTable>;
export type NewSubjectKeyRow = Insertable<SubjectKeysTable>;

/** The database as far as this table goes. */
export type SubjectKeysModel = { [tableName]: SubjectKeysTable };
