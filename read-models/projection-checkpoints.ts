import type { Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'projection_checkpoints';

/**
 * Where each checkpointed reader of the global order stands: every projection, the webhook fan-out
 * (`webhook_fanout`, version 1) and the e-mail worker's intake (`email_outbox`, version 1). Worker
 * state: a rebuild moves a row, never empties the table.
 */
export interface ProjectionCheckpointsTable {
  name: string;
  version: number;
  position: number;
  updated_at: Date;
}

export type ProjectionCheckpoint = Selectable<ProjectionCheckpointsTable>;
export type NewProjectionCheckpoint = Insertable<ProjectionCheckpointsTable>;

/** The database as far as this table goes. */
export type ProjectionCheckpointsModel = { [tableName]: ProjectionCheckpointsTable };

export function listCheckpoints<DB extends ProjectionCheckpointsModel>(
  db: Kysely<DB>,
): Promise<ProjectionCheckpoint[]> {
  return narrow<ProjectionCheckpointsModel>(db)
    .selectFrom('projection_checkpoints')
    .selectAll()
    .orderBy('name')
    .execute();
}
