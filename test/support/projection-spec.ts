import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { SigidEvent } from '../../events/catalog.ts';
import type { EventEnvelope, RecordedEvent } from '../../events/envelope.ts';
import type { Projection, ProjectionTransaction } from '../../projections/projection.ts';
import type { ProjectedTableName, ReadModels } from '../../read-models/database.ts';
import type { Database } from '../../src/db/database.ts';
import { freshEmbedded } from './databases.ts';

/** A catalog event for a projection spec; the envelope fields default (one tenant, one stream, in order). */
export type GivenEvent = SigidEvent & Partial<EventEnvelope>;

export const SPEC_TENANT = 'ten_spec';
export const SPEC_TIME = new Date('2026-12-01T12:00:00.000Z');

/**
 * Projection specs beside the decider specs: given these events, then these rows, on a migrated
 * in-memory PGlite. Each spec applies the events twice over emptied tables, as one page (the runner's
 * usual call) and one event at a time (its call after a failing page), and expects the same rows.
 */
export async function openProjectionSpecs(): Promise<{
  specFor(projection: Projection): (given: GivenEvent[]) => {
    thenRows(table: ProjectedTableName, expected: Array<Record<string, unknown>>): Promise<void>;
  };
  close(): Promise<void>;
}> {
  const { db, drop } = await freshEmbedded();
  return {
    specFor: (projection) => (given) => ({
      async thenRows(table, expected) {
        const events = recorded(given);
        for (const pages of [[events], events.map((event) => [event])]) {
          await run(db, projection, pages);
          const { rows } = await db.query(`select * from ${table} order by 1, 2`);
          expect(rows).toEqual(expected);
        }
      },
    }),
    close: drop,
  };
}

async function run(db: Database, projection: Projection, pages: RecordedEvent[][]): Promise<void> {
  const kysely = db.kysely<ReadModels>();
  for (const table of projection.tables) await kysely.deleteFrom(table).execute();
  for (const page of pages) {
    const events = page.filter((event) => projection.eventTypes.includes(event.type));
    await kysely.transaction().execute((trx) => projection.apply(trx as unknown as ProjectionTransaction, events));
  }
}

function recorded(given: GivenEvent[]): RecordedEvent[] {
  const revisions = new Map<string, number>();
  return given.map((event, index) => {
    const tenantId = event.tenantId ?? SPEC_TENANT;
    const stream = event.stream ?? `${tenantId}-${tenantId}`;
    const revision = event.revision ?? (revisions.get(stream) ?? -1) + 1;
    revisions.set(stream, revision);
    return {
      id: randomUUID(),
      stream,
      revision,
      position: index + 1,
      version: 1,
      tenantId,
      actor: { type: 'system', id: 'spec' },
      correlationId: 'req_spec',
      causationId: null,
      time: SPEC_TIME,
      ...event,
    } as RecordedEvent;
  });
}
