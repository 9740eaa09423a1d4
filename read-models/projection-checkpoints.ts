import type { Generated, Kysely, Selectable } from 'kysely';
import type { ReadModels } from './database.ts';

export const tableName = 'projection_checkpoints';

export interface ProjectionCheckpointsTable {
  name: string;
  version: number;
  position: number;
  updated_at: Date;
}

export interface ProjectionFailuresTable {
  projection: string;
  event_id: string;
  position: number;
  event_type: string;
  error: string;
  attempts: number;
  failed_at: Generated<Date>;
}

export type ProjectionCheckpoint = Selectable<ProjectionCheckpointsTable>;
export type ProjectionFailure = Selectable<ProjectionFailuresTable>;

export function listCheckpoints(db: Kysely<ReadModels>): Promise<ProjectionCheckpoint[]> {
  return db.selectFrom('projection_checkpoints').selectAll().orderBy('name').execute();
}

export function listFailures(db: Kysely<ReadModels>, projection?: string): Promise<ProjectionFailure[]> {
  let query = db.selectFrom('projection_failures').selectAll().orderBy('position');
  if (projection) query = query.where('projection', '=', projection);
  return query.execute();
}
