import type { Generated, Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'projection_failures';

/** Events a projection set aside because they kept failing (worker state). */
export interface ProjectionFailuresTable {
  projection: string;
  event_id: string;
  position: number;
  event_type: string;
  error: string;
  attempts: number;
  failed_at: Generated<Date>;
}

export type ProjectionFailure = Selectable<ProjectionFailuresTable>;
export type NewProjectionFailure = Insertable<ProjectionFailuresTable>;

/** The database as far as this table goes. */
export type ProjectionFailuresModel = { [tableName]: ProjectionFailuresTable };

export function listFailures<DB extends ProjectionFailuresModel>(
  db: Kysely<DB>,
  projection?: string,
): Promise<ProjectionFailure[]> {
  let query = narrow<ProjectionFailuresModel>(db).selectFrom('projection_failures').selectAll().orderBy('position');
  if (projection) query = query.where('projection', '=', projection);
  return query.execute();
}
