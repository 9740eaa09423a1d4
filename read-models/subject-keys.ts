import type { Generated, Insertable, Selectable } from 'kysely';

export const tableName = 'subject_keys';

/**
 * Worker state, not a projected table: one data key per data subject, wrapped by master key
 * `key_id` (null: wrapped before key ids). A destroyed key keeps its row with `wrapped_key` null, so
 * it is never made again (erasure).
 */
export interface SubjectKeysTable {
  tenant_id: string;
  subject_id: string;
  wrapped_key: Uint8Array | null;
  key_id: string | null;
  created_at: Generated<Date>;
  destroyed_at: Date | null;
}

export type SubjectKeyRow = Selectable<SubjectKeysTable>;
export type NewSubjectKeyRow = Insertable<SubjectKeysTable>;

/** The database as far as this table goes. */
export type SubjectKeysModel = { [tableName]: SubjectKeysTable };
