import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Database } from '../src/db/database.ts';
import {
  type EventToAppend,
  type StoredEvent,
  streamName,
  WrongExpectedRevisionError,
} from '../src/event-store/port.ts';
import { PostgresEventStore } from '../src/event-store/postgres.ts';
import { catchUp } from '../src/event-store/subscription.ts';
import { backends, freshPostgres, postgresReachable } from './support/databases.ts';

const TENANT = 'ten_concurrency';

function event(type = 'thing.happened'): EventToAppend {
  return {
    id: randomUUID(),
    type,
    version: 1,
    data: {},
    metadata: { tenantId: TENANT, actor: { type: 'system', id: 'test' }, correlationId: 'req_1', causationId: null },
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function expectStrictlyIncreasing(events: readonly StoredEvent[]) {
  for (let index = 1; index < events.length; index++) {
    const previous = events[index - 1] as StoredEvent;
    const current = events[index] as StoredEvent;
    if (current.position <= previous.position) {
      throw new Error(`position ${current.position} after ${previous.position} at index ${index}`);
    }
  }
}

/**
 * Burns sequence values the way a failed append does: the stream row, then the events, then a
 * rollback. PostgreSQL holds the hole open for a moment first, so readers meet it in flight.
 */
async function appendThenRollBack(db: Database, stream: string, count: number) {
  await db
    .transaction(async (tx) => {
      await tx.query(
        `insert into sigid_streams (stream_name, tenant_id, revision) values ($1, $2, $3)
         on conflict (stream_name) do update set revision = sigid_streams.revision + $3`,
        [stream, TENANT, count],
      );
      for (let index = 0; index < count; index++) {
        await tx.query(
          `insert into sigid_events (event_id, stream_name, stream_revision, tenant_id, event_type, event_version, data,
                                     actor_type, actor_id, correlation_id)
           values ($1, $2, 1000000 + $3, $4, 'thing.rolled_back', 1, '{}', 'system', 'test', 'req_1')`,
          [randomUUID(), stream, index, TENANT],
        );
      }
      if (db.kind === 'postgres') await tx.query('select pg_sleep(0.002)');
      throw new Error('roll back');
    })
    .catch((error: unknown) => {
      if ((error as Error).message !== 'roll back') throw error;
    });
}

describe.each(backends)('sequence gaps on $name', (backend) => {
  let db: Database;
  let drop: () => Promise<void>;
  let store: PostgresEventStore;

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    store = await new PostgresEventStore(db).start();
  });
  afterAll(async () => {
    await store?.close();
    await drop?.();
  });

  test('16 concurrent writers, with conflicts and rollbacks: a subscriber from 0 sees every commit once, in order, and nothing rolled back', async () => {
    const perWriter = backend.name === 'postgres' ? 60 : 25;
    const committed = new Set<string>();
    let burnt = 0;
    let conflicts = 0;
    const received: StoredEvent[] = [];
    const subscription = store.subscribe({ after: 0 }).subscribe({ next: (stored) => received.push(stored) });
    // A second reader pages in small batches, so page boundaries fall everywhere.
    const controller = new AbortController();
    const paged: StoredEvent[] = [];
    const pager = (async () => {
      for await (const page of catchUp(store, {
        after: 0,
        batchSize: backend.name === 'postgres' ? 7 : 29,
        pollMs: 50,
        signal: controller.signal,
      })) {
        paged.push(...page.events);
      }
    })();

    const shared = streamName(TENANT, 'shared');
    let sharedSeen = -1;
    const writer = async (index: number) => {
      const own = streamName(TENANT, `writer${index}`);
      let ownRevision = -1;
      for (let step = 0; step < perWriter; step++) {
        const kind = (index + step) % 6;
        if (kind === 0) {
          // One stream shared by every writer: optimistic concurrency, retried on conflict.
          for (;;) {
            const tail = await store.readStream(shared, { fromRevision: Math.max(0, sharedSeen) });
            const revision = tail.length === 0 ? 'no_stream' : (tail[tail.length - 1] as StoredEvent).revision;
            if (typeof revision === 'number') sharedSeen = Math.max(sharedSeen, revision);
            const one = event();
            try {
              await store.append(shared, [one], revision);
              committed.add(one.id);
              break;
            } catch (error) {
              if (!(error instanceof WrongExpectedRevisionError)) throw error;
              conflicts++;
            }
          }
        } else if (kind === 1 && index % 2 === 0) {
          // A failing append: the second event reuses a committed id, so the insert draws positions and then fails.
          const reused = [...committed][0];
          if (reused === undefined) continue;
          const fresh = event();
          const duplicate = { ...event(), id: reused };
          await expect(store.append(own, [fresh, duplicate], 'any')).rejects.toBeInstanceOf(WrongExpectedRevisionError);
          burnt++;
        } else if (kind === 1) {
          await appendThenRollBack(db, own, 1 + (step % 3));
          burnt++;
        } else {
          const batch = Array.from({ length: 1 + (step % 3) }, () => event());
          const result = await store.append(own, batch, ownRevision === -1 ? 'no_stream' : ownRevision);
          ownRevision = result.nextRevision;
          for (const one of batch) committed.add(one.id);
        }
      }
    };
    const began = Date.now();
    await Promise.all(Array.from({ length: 16 }, (_, index) => writer(index)));
    const wrote = Date.now() - began;

    try {
      await until(() => received.length >= committed.size, 'the subscriber');
      await until(() => paged.length >= committed.size, 'the paging reader');
      // Let anything extra (a duplicate, a rolled-back event) surface before judging.
      const marker = event('thing.marker');
      await store.append(streamName(TENANT, 'marker'), [marker], 'no_stream');
      committed.add(marker.id);
      await until(() => received.some((one) => one.id === marker.id), 'the marker');
      await until(() => paged.some((one) => one.id === marker.id), 'the marker, paged');

      expect(burnt).toBeGreaterThan(0);
      for (const events of [received, paged]) {
        expectStrictlyIncreasing(events);
        expect(events).toHaveLength(committed.size);
        expect(new Set(events.map((one) => one.id))).toEqual(committed);
        expect(events.some((one) => one.type === 'thing.rolled_back')).toBe(false);
      }
      // The holes are real: positions were burnt, so the order is not contiguous.
      const last = received[received.length - 1] as StoredEvent;
      expect(last.position).toBeGreaterThan(committed.size);

      // Every stream's revisions are gap-free even though global positions are not.
      const byStream = new Map<string, number[]>();
      for (const one of received) byStream.set(one.stream, [...(byStream.get(one.stream) ?? []), one.revision]);
      for (const revisions of byStream.values()) expect(revisions).toEqual(revisions.map((_, index) => index));
      expect(byStream.get(shared)?.length).toBe(received.filter((one) => one.stream === shared).length);
      console.info(
        `${backend.name}: ${committed.size} events committed, ${burnt} appends burnt positions, ${conflicts} conflicts retried, last position ${last.position}; writes took ${wrote} ms`,
      );
    } finally {
      subscription.unsubscribe();
      controller.abort();
      await pager;
    }
  });
});

describe.runIf(postgresReachable)('the in-flight hole, forced on PostgreSQL', () => {
  let db: Database;
  let url: string;
  let drop: () => Promise<void>;
  let store: PostgresEventStore;

  beforeAll(async () => {
    ({ db, url, drop } = await freshPostgres());
    store = await new PostgresEventStore(db).start();
  });
  afterAll(async () => {
    await store?.close();
    await drop?.();
  });

  /** The real adapter on one raw connection inside an open transaction: what another node's append looks like mid-flight. */
  async function openTransaction() {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    client.setTypeParser(20, Number);
    await client.query('begin');
    const inTransaction = new PostgresEventStore({
      kind: 'postgres',
      query: async (text: string, params?: unknown[]) => {
        const result = await client.query(text, params);
        return { rows: result.rows, rowCount: result.rowCount ?? 0 };
      },
      notify: async () => {},
    } as unknown as Database);
    return { client, store: inTransaction };
  }

  async function readIds(after: number) {
    return (await store.readAll({ after })).events.map((one) => one.id);
  }

  test('a reader and a subscriber wait at an uncommitted lower position, then get both events in order', async () => {
    const start = await store.headPosition();
    const received: StoredEvent[] = [];
    const subscription = store.subscribe({ after: start }).subscribe({ next: (stored) => received.push(stored) });
    const held = await openTransaction();
    try {
      const first = event('thing.first');
      const second = event('thing.second');
      const low = await held.store.append(streamName(TENANT, 'held'), [first], 'no_stream');
      const high = await store.append(streamName(TENANT, 'committed'), [second], 'no_stream');
      expect(high.position).toBeGreaterThan(low.position);

      // The later event is committed, but the hole below it is in flight: nobody may pass it.
      for (let attempt = 0; attempt < 5; attempt++) {
        expect(await readIds(start)).toEqual([]);
        expect(await store.headPosition()).toBeLessThan(low.position);
        const page = await store.readAll({ after: start });
        expect(page.checkpoint).toBeLessThan(low.position);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 1200)); // more than the subscriber's poll interval
      expect(received).toEqual([]);

      await held.client.query('commit');
      await held.client.query(`select pg_notify('sigid_events', '')`);
      await until(() => received.length >= 2, 'both events');
      expect(received.map((one) => one.id)).toEqual([first.id, second.id]);
      expect(received.map((one) => one.position)).toEqual([low.position, high.position]);
      expect(await readIds(start)).toEqual([first.id, second.id]);
    } finally {
      subscription.unsubscribe();
      await held.client.end().catch(() => {});
    }
  });

  test('a hole whose transaction rolls back is passed, and its event never appears', async () => {
    const start = await store.headPosition();
    const received: StoredEvent[] = [];
    const subscription = store.subscribe({ after: start }).subscribe({ next: (stored) => received.push(stored) });
    const held = await openTransaction();
    try {
      const doomed = event('thing.doomed');
      const kept = event('thing.kept');
      const low = await held.store.append(streamName(TENANT, 'doomed'), [doomed], 'no_stream');
      const high = await store.append(streamName(TENANT, 'kept'), [kept], 'no_stream');
      expect(high.position).toBeGreaterThan(low.position);
      expect(await readIds(start)).toEqual([]);

      await held.client.query('rollback');
      await until(() => received.length >= 1, 'the kept event');
      // Nothing more arrives: a later marker comes right after the kept event.
      const marker = event('thing.marker');
      await store.append(streamName(TENANT, 'marker2'), [marker], 'no_stream');
      await until(() => received.some((one) => one.id === marker.id), 'the marker');
      expect(received.map((one) => one.id)).toEqual([kept.id, marker.id]);
      expect(await readIds(start)).toEqual([kept.id, marker.id]);
    } finally {
      subscription.unsubscribe();
      await held.client.end().catch(() => {});
    }
  });
});
