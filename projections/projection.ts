import type { Transaction } from 'kysely';
import type { RecordedEvent } from '../events/envelope.ts';
import type { ReadModels } from '../read-models/database.ts';

/**
 * A projection turns events into read-model rows. It must be idempotent per event. Bumping
 * `version` rebuilds it from zero: its `tables` are emptied and every event replayed.
 */
export interface Projection {
  readonly name: string;
  readonly version: number;
  readonly tables: readonly (keyof ReadModels)[];
  readonly eventTypes: readonly string[];
  apply(trx: Transaction<ReadModels>, event: RecordedEvent): Promise<void>;
}
