import type { Generated, Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

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

/**
 * Whether the subject's key was destroyed (erased): read from the table, not a process's cache, so
 * an erasure by any process counts at once — it is the erasure's first step.
 */
export async function isSubjectErased<DB extends SubjectKeysModel>(
  db: Kysely<DB>,
  tenantId: string,
  subjectId: string,
): Promise<boolean> {
  const row = await narrow<SubjectKeysModel>(db)
    .selectFrom('subject_keys')
    .select('destroyed_at')
    .where('tenant_id', '=', tenantId)
    .where('subject_id', '=', subjectId)
    .executeTakeFirst();
  return row?.destroyed_at != null;
}
