import { randomBytes, randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectEventStoreDb } from '../src/event-store/esdb.ts';
import {
  type EventStore,
  type EventToAppend,
  type StoredEvent,
  streamName,
  WrongExpectedRevisionError,
} from '../src/event-store/port.ts';
import { PostgresEventStore } from '../src/event-store/postgres.ts';
import { backends } from './support/databases.ts';

/** Every event store this run can reach: PGlite always, PostgreSQL when reachable, EventStoreDB when EVENTSTORE_URL is set. */
interface StoreBackend {
  name: string;
  open(): Promise<{ store: EventStore; close: () => Promise<void> }>;
}

const eventStoreUrl = process.env.EVENTSTORE_URL;

const stores: StoreBackend[] = [
  ...backends.map((backend) => ({
    name: backend.name,
    async open() {
      const { db, drop } = await backend.open();
      const store = await new PostgresEventStore(db).start();
      return {
        store: store as EventStore,
        async close() {
          await store.close();
          await drop();
        },
      };
    },
  })),
  ...(eventStoreUrl
    ? [
        {
          name: 'esdb',
          async open() {
            const store = await connectEventStoreDb(eventStoreUrl);
            return { store, close: () => store.close() };
          },
        },
      ]
    : []),
];

/** A tenant no other test (or earlier run against the same server) has used. */
const newTenant = () => `ten_${randomBytes(8).toString('hex')}`;

function event(
  tenantId: string,
  type = 'thing.created',
  options: { actorId?: string; data?: Record<string, unknown>; causationId?: string | null } = {},
): EventToAppend {
  return {
    id: randomUUID(),
    type,
    version: 1,
    data: options.data ?? { n: Math.random() },
    metadata: {
      tenantId,
      actor: { type: 'user', id: options.actorId ?? 'usr_1' },
      correlationId: `req_${randomBytes(4).toString('hex')}`,
      causationId: options.causationId ?? null,
    },
  };
}

const ids = (events: readonly StoredEvent[]) => events.map((stored) => stored.id);

async function rejection(promise: Promise<unknown>): Promise<WrongExpectedRevisionError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(WrongExpectedRevisionError);
  return error as WrongExpectedRevisionError;
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Records what a subscription delivers. */
function record(store: EventStore, options: Parameters<EventStore['subscribe']>[0]) {
  const received: StoredEvent[] = [];
  const errors: unknown[] = [];
  const subscription: Subscription = store
    .subscribe(options)
    .subscribe({ next: (stored) => received.push(stored), error: (error) => errors.push(error) });
  return { received, errors, subscription };
}

describe.each(stores)('event store contract: $name', (backend) => {
  let store: EventStore;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ store, close } = await backend.open());
  });
  afterAll(async () => {
    await close?.();
  });

  describe('append with an expected revision', () => {
    test('no_stream creates the stream; a second no_stream append is refused with the actual revision', async () => {
      const tenant = newTenant();
      const stream = streamName(tenant, 'user_1');
      const created = await store.append(stream, [event(tenant), event(tenant)], 'no_stream');
      expect(created.nextRevision).toBe(1);

      const error = await rejection(store.append(stream, [event(tenant)], 'no_stream'));
      expect(error.stream).toBe(stream);
      expect(error.expected).toBe('no_stream');
      expect(error.actual).toBe(1);
      expect(await store.readStream(stream)).toHaveLength(2);
    });

    test('an exact revision appends when it matches and is refused with the actual revision when stale', async () => {
      const tenant = newTenant();
      const stream = streamName(tenant, 'user_1');
      await store.append(stream, [event(tenant)], 'no_stream');
      const next = await store.append(stream, [event(tenant), event(tenant)], 0);
      expect(next.nextRevision).toBe(2);

      const stale = await rejection(store.append(stream, [event(tenant)], 0));
      expect(stale.expected).toBe(0);
      expect(stale.actual).toBe(2);

      const ahead = await rejection(store.append(stream, [event(tenant)], 5));
      expect(ahead.actual).toBe(2);

      const missing = await rejection(store.append(streamName(tenant, 'nobody'), [event(tenant)], 0));
      expect(missing.actual).toBe('no_stream');
      expect(await store.readStream(streamName(tenant, 'nobody'))).toEqual([]);
      expect((await store.readStream(stream)).map((stored) => stored.revision)).toEqual([0, 1, 2]);
    });

    test('stream_exists is refused on a missing stream and appends to an existing one', async () => {
      const tenant = newTenant();
      const stream = streamName(tenant, 'user_1');
      const missing = await rejection(store.append(stream, [event(tenant)], 'stream_exists'));
      expect(missing.expected).toBe('stream_exists');
      expect(missing.actual).toBe('no_stream');

      await store.append(stream, [event(tenant)], 'no_stream');
      const appended = await store.append(stream, [event(tenant)], 'stream_exists');
      expect(appended.nextRevision).toBe(1);
    });

    test('any creates a missing stream and appends to an existing one', async () => {
      const tenant = newTenant();
      const stream = streamName(tenant, 'user_1');
      expect((await store.append(stream, [event(tenant)], 'any')).nextRevision).toBe(0);
      expect((await store.append(stream, [event(tenant), event(tenant)], 'any')).nextRevision).toBe(2);
      expect(await store.readStream(stream)).toHaveLength(3);
    });

    test('the result gives the position of the last appended event; positions grow with every event', async () => {
      const tenant = newTenant();
      const stream = streamName(tenant, 'user_1');
      const first = await store.append(stream, [event(tenant)], 'no_stream');
      const second = await store.append(stream, [event(tenant), event(tenant), event(tenant)], 0);
      const stored = await store.readStream(stream);
      expect(stored.map((one) => one.position)).toEqual([...stored.map((one) => one.position)].sort((a, b) => a - b));
      expect(new Set(stored.map((one) => one.position)).size).toBe(4);
      expect(first.position).toBe(stored[0]?.position);
      expect(second.position).toBe(stored[3]?.position);
      expect(second.position).toBeGreaterThan(first.position);
    });

    test('re-appending the same event ids is a no-op that answers like the first append', async () => {
      const tenant = newTenant();
      const stream = streamName(tenant, 'user_1');
      const first = [event(tenant)];
      const batch = [event(tenant), event(tenant)];
      const created = await store.append(stream, first, 'no_stream');
      const appended = await store.append(stream, batch, 0);

      // A client that did not hear the answer retries with the same ids and the same expectation.
      expect(await store.append(stream, batch, 0)).toEqual(appended);
      expect(await store.append(stream, first, 'no_stream')).toEqual(created);

      const stored = await store.readStream(stream);
      expect(ids(stored)).toEqual([...first, ...batch].map((one) => one.id));
    });
  });

  describe('readStream', () => {
    test('returns the events with their metadata, in revision order, from a revision', async () => {
      const tenant = newTenant();
      const stream = streamName(tenant, 'app_1');
      const before = new Date(Date.now() - 1000);
      const appended = [
        event(tenant, 'application.created', { actorId: 'usr_a', data: { name: 'one' } }),
        event(tenant, 'application.renamed', { actorId: 'usr_b', data: { name: 'two' }, causationId: 'msg_1' }),
        event(tenant, 'application.renamed', { actorId: 'usr_c', data: { name: 'three' } }),
      ];
      await store.append(stream, appended.slice(0, 1), 'no_stream');
      await store.append(stream, appended.slice(1), 0);

      const stored = await store.readStream(stream);
      expect(ids(stored)).toEqual(ids(appended as unknown as StoredEvent[]));
      expect(stored.map((one) => one.revision)).toEqual([0, 1, 2]);
      const second = stored[1] as StoredEvent;
      expect(second).toMatchObject({
        type: 'application.renamed',
        version: 1,
        stream,
        tenantId: tenant,
        actor: { type: 'user', id: 'usr_b' },
        correlationId: appended[1]?.metadata.correlationId,
        causationId: 'msg_1',
        data: { name: 'two' },
      });
      expect(stored[0]?.causationId).toBeNull();
      expect(second.time).toBeInstanceOf(Date);
      expect(second.time.getTime()).toBeGreaterThanOrEqual(before.getTime());
      expect(second.time.getTime()).toBeLessThanOrEqual(Date.now() + 1000);

      expect((await store.readStream(stream, { fromRevision: 1 })).map((one) => one.revision)).toEqual([1, 2]);
      expect(await store.readStream(stream, { fromRevision: 3 })).toEqual([]);
      expect(await store.readStream(streamName(tenant, 'absent'))).toEqual([]);
    });
  });

  describe('readAll', () => {
    /** Six events over two streams of one tenant, interleaved, appended one by one after `start`. */
    async function sixEvents() {
      const start = await store.headPosition();
      const tenant = newTenant();
      const streams = [streamName(tenant, 'a'), streamName(tenant, 'b')];
      const appended: EventToAppend[] = [];
      const revision: number[] = [-1, -1];
      for (let index = 0; index < 6; index++) {
        const which = index % 2;
        const one = event(tenant, `thing.step${index}`);
        const current = revision[which] as number;
        await store.append(streams[which] as string, [one], current === -1 ? 'no_stream' : current);
        revision[which] = current + 1;
        appended.push(one);
      }
      return { start, tenant, streams, appended: appended.map((one) => one.id) };
    }

    test('forwards after a position: every event once, in append order, positions strictly increasing', async () => {
      const { start, appended } = await sixEvents();
      const page = await store.readAll({ after: start });
      expect(ids(page.events)).toEqual(appended);
      const positions = page.events.map((one) => one.position);
      for (let index = 1; index < positions.length; index++) {
        expect(positions[index]).toBeGreaterThan(positions[index - 1] as number);
      }
      expect(page.checkpoint).toBeGreaterThanOrEqual(positions[5] as number);
    });

    test('backwards before a position, and after/before bounds are exclusive', async () => {
      const { start, appended } = await sixEvents();
      const forwards = (await store.readAll({ after: start })).events;
      const positions = forwards.map((one) => one.position);
      const last = positions[5] as number;

      const backwards = await store.readAll({ direction: 'backwards', before: last + 1, after: start });
      expect(ids(backwards.events)).toEqual([...appended].reverse());

      const between = await store.readAll({ after: positions[1], before: positions[4] });
      expect(ids(between.events)).toEqual(appended.slice(2, 4));
      // The checkpoint of a bounded page must not claim the events at or past `before`: a reader that
      // continues from it without the bound still gets them.
      expect(between.checkpoint).toBeLessThan(positions[4] as number);
      const rest = await store.readAll({ after: between.checkpoint });
      expect(ids(rest.events)).toEqual(appended.slice(4));

      const backBetween = await store.readAll({ direction: 'backwards', after: positions[1], before: positions[4] });
      expect(ids(backBetween.events)).toEqual(appended.slice(2, 4).reverse());

      const backLimited = await store.readAll({ direction: 'backwards', before: last + 1, limit: 2 });
      expect(ids(backLimited.events)).toEqual(appended.slice(4).reverse());
    });

    test('limit pages forwards; a full page checkpoints at its last event and the next page continues there', async () => {
      const { start, appended } = await sixEvents();
      const seen: string[] = [];
      let after = start;
      const pageSizes: number[] = [];
      for (let guard = 0; guard < 10 && seen.length < 6; guard++) {
        const page = await store.readAll({ after, limit: 4 });
        pageSizes.push(page.events.length);
        if (page.events.length === 4) expect(page.checkpoint).toBe(page.events[3]?.position);
        seen.push(...ids(page.events));
        after = page.checkpoint;
      }
      expect(pageSizes.slice(0, 2)).toEqual([4, 2]);
      expect(seen).toEqual(appended);
    });

    test('filters: tenant, types, actor, stream', async () => {
      const start = await store.headPosition();
      const tenant = newTenant();
      const other = `${tenant}x`; // shares the first tenant's name as a prefix
      const mine = [
        event(tenant, 'user.created', { actorId: 'usr_alice' }),
        event(tenant, 'user.renamed', { actorId: 'usr_bob' }),
        event(tenant, 'user.deleted', { actorId: 'usr_alice' }),
      ];
      const theirs = [event(other, 'user.created', { actorId: 'usr_alice' })];
      await store.append(streamName(tenant, 'u1'), [mine[0] as EventToAppend], 'no_stream');
      await store.append(streamName(other, 'u1'), theirs, 'no_stream');
      await store.append(streamName(tenant, 'u2'), [mine[1] as EventToAppend, mine[2] as EventToAppend], 'no_stream');

      const byTenant = await store.readAll({ after: start, tenantId: tenant });
      expect(ids(byTenant.events)).toEqual(ids(mine as unknown as StoredEvent[]));

      const byType = await store.readAll({ after: start, tenantId: tenant, types: ['user.created', 'user.deleted'] });
      expect(ids(byType.events)).toEqual([mine[0]?.id, mine[2]?.id]);

      const byTypeAcrossTenants = await store.readAll({ after: start, types: ['user.created'] });
      expect(ids(byTypeAcrossTenants.events)).toEqual([mine[0]?.id, theirs[0]?.id]);

      const byActor = await store.readAll({ after: start, tenantId: tenant, actorId: 'usr_alice' });
      expect(ids(byActor.events)).toEqual([mine[0]?.id, mine[2]?.id]);

      const byStream = await store.readAll({ after: start, stream: streamName(tenant, 'u2') });
      expect(ids(byStream.events)).toEqual([mine[1]?.id, mine[2]?.id]);

      const otherTenantsStream = await store.readAll({
        after: start,
        tenantId: other,
        stream: streamName(tenant, 'u2'),
      });
      expect(otherTenantsStream.events).toEqual([]);
    });

    test('filters: since (inclusive) and until (exclusive) on the recorded time', async () => {
      const start = await store.headPosition();
      const tenant = newTenant();
      const early = event(tenant);
      const late = event(tenant);
      await store.append(streamName(tenant, 'a'), [early], 'no_stream');
      await new Promise((resolve) => setTimeout(resolve, 150));
      const cut = new Date();
      await new Promise((resolve) => setTimeout(resolve, 150));
      await store.append(streamName(tenant, 'b'), [late], 'no_stream');

      expect(ids((await store.readAll({ after: start, tenantId: tenant, since: cut })).events)).toEqual([late.id]);
      expect(ids((await store.readAll({ after: start, tenantId: tenant, until: cut })).events)).toEqual([early.id]);
      const window = await store.readAll({
        after: start,
        tenantId: tenant,
        since: new Date(cut.getTime() - 60_000),
        until: cut,
      });
      expect(ids(window.events)).toEqual([early.id]);
    });

    test('a filtered page that matches nothing still advances the checkpoint past what it looked at', async () => {
      const start = await store.headPosition();
      const tenant = newTenant();
      const appended = await store.append(
        streamName(tenant, 'a'),
        [event(tenant, 'a.one'), event(tenant, 'a.two')],
        'no_stream',
      );

      const none = await store.readAll({ after: start, tenantId: tenant, types: ['b.never'] });
      expect(none.events).toEqual([]);
      expect(none.checkpoint).toBeGreaterThanOrEqual(appended.position);

      // Continuing from that checkpoint finds what is appended next, and nothing twice.
      const later = event(tenant, 'b.never');
      await store.append(streamName(tenant, 'a'), [later], 1);
      const next = await store.readAll({ after: none.checkpoint, tenantId: tenant, types: ['b.never'] });
      expect(ids(next.events)).toEqual([later.id]);
      const again = await store.readAll({ after: next.checkpoint, tenantId: tenant, types: ['b.never'] });
      expect(again.events).toEqual([]);
    });

    test("a tenant-scoped read never returns another tenant's events, in either direction", async () => {
      const start = await store.headPosition();
      const tenant = newTenant();
      const neighbours = [`${tenant}x`, `x${tenant}`, newTenant()];
      let mine = 0;
      for (let round = 0; round < 3; round++) {
        for (const other of neighbours) {
          await store.append(streamName(other, `e${round}`), [event(other), event(other)], 'no_stream');
        }
        await store.append(streamName(tenant, `e${round}`), [event(tenant)], 'no_stream');
        mine++;
      }
      const forwards = await store.readAll({ after: start, tenantId: tenant });
      const backwards = await store.readAll({ direction: 'backwards', tenantId: tenant });
      for (const page of [forwards, backwards]) {
        expect(page.events).toHaveLength(mine);
        for (const stored of page.events) {
          expect(stored.tenantId).toBe(tenant);
          expect(stored.stream.startsWith(`${tenant}-`)).toBe(true);
        }
      }
      expect(ids(backwards.events)).toEqual(ids(forwards.events).reverse());
    });

    test('headPosition reaches the last appended event', async () => {
      const tenant = newTenant();
      const appended = await store.append(streamName(tenant, 'a'), [event(tenant)], 'no_stream');
      expect(await store.headPosition()).toBeGreaterThanOrEqual(appended.position);
      await store.ping();
    });
  });

  describe('subscribe', () => {
    test('catches up, then delivers live events: exactly once, in order, filtered by tenant and type', async () => {
      const tenant = newTenant();
      const other = `${tenant}x`;
      const want: string[] = [];
      // Before the subscription: two wanted among others.
      const a1 = event(tenant, 'user.created');
      const b1 = event(tenant, 'user.renamed');
      const a2 = event(tenant, 'user.created');
      await store.append(streamName(tenant, 'u1'), [a1, b1], 'no_stream');
      await store.append(streamName(other, 'u1'), [event(other, 'user.created')], 'no_stream');
      await store.append(streamName(tenant, 'u2'), [a2], 'no_stream');
      want.push(a1.id, a2.id);

      const filtered = record(store, { after: 0, tenantId: tenant, types: ['user.created'] });
      const everything = record(store, { after: 0, tenantId: tenant });
      try {
        await until(() => filtered.received.length >= 2, 'catch-up');
        expect(ids(filtered.received)).toEqual(want);

        // Live: more of each, then a marker that ends the test.
        const a3 = event(tenant, 'user.created');
        await store.append(streamName(other, 'u2'), [event(other, 'user.created')], 'no_stream');
        await store.append(streamName(tenant, 'u1'), [event(tenant, 'user.renamed'), a3], 1);
        const a4 = event(tenant, 'user.created');
        const a5 = event(tenant, 'user.created');
        await Promise.all([
          store.append(streamName(tenant, 'u3'), [a4], 'no_stream'),
          store.append(streamName(tenant, 'u4'), [a5], 'no_stream'),
        ]);
        const marker = event(tenant, 'user.created');
        await store.append(streamName(tenant, 'u5'), [marker], 'no_stream');

        await until(() => filtered.received.some((one) => one.id === marker.id), 'the marker');
        const all = await store.readAll({ after: 0, tenantId: tenant, types: ['user.created'] });
        expect(ids(all.events)).toHaveLength(6);
        expect(ids(filtered.received)).toEqual(ids(all.events));
        expect(new Set(ids(filtered.received)).size).toBe(filtered.received.length);
        for (const stored of filtered.received) {
          expect(stored.tenantId).toBe(tenant);
          expect(stored.type).toBe('user.created');
        }
        const positions = filtered.received.map((one) => one.position);
        for (let index = 1; index < positions.length; index++) {
          expect(positions[index]).toBeGreaterThan(positions[index - 1] as number);
        }

        await until(() => everything.received.some((one) => one.id === marker.id), 'the marker, unfiltered');
        const tenantEvents = await store.readAll({ after: 0, tenantId: tenant });
        expect(tenantEvents.events).toHaveLength(8);
        expect(ids(everything.received)).toEqual(ids(tenantEvents.events));
        expect(filtered.errors).toEqual([]);
        expect(everything.errors).toEqual([]);
      } finally {
        filtered.subscription.unsubscribe();
        everything.subscription.unsubscribe();
      }
    });

    test('starts after the given position', async () => {
      const tenant = newTenant();
      const first = await store.append(streamName(tenant, 'a'), [event(tenant), event(tenant)], 'no_stream');
      const later = event(tenant);
      await store.append(streamName(tenant, 'a'), [later], 1);
      const from = record(store, { after: first.position, tenantId: tenant });
      try {
        await until(() => from.received.length >= 1, 'the later event');
        const marker = event(tenant);
        await store.append(streamName(tenant, 'a'), [marker], 2);
        await until(() => from.received.some((one) => one.id === marker.id), 'the marker');
        expect(ids(from.received)).toEqual([later.id, marker.id]);
      } finally {
        from.subscription.unsubscribe();
      }
    });

    test('unsubscribing stops delivery', async () => {
      const tenant = newTenant();
      const stopped = record(store, { after: 0, tenantId: tenant });
      const control = record(store, { after: 0, tenantId: tenant });
      try {
        const first = event(tenant);
        await store.append(streamName(tenant, 'a'), [first], 'no_stream');
        await until(() => stopped.received.length === 1 && control.received.length === 1, 'the first event');
        stopped.subscription.unsubscribe();

        const second = event(tenant);
        await store.append(streamName(tenant, 'a'), [second], 0);
        await until(() => control.received.length === 2, 'the control subscription');
        // Give the stopped subscription every chance to (wrongly) deliver: more than one poll interval.
        await new Promise((resolve) => setTimeout(resolve, 1200));
        expect(ids(stopped.received)).toEqual([first.id]);
        expect(ids(control.received)).toEqual([first.id, second.id]);
      } finally {
        stopped.subscription.unsubscribe();
        control.subscription.unsubscribe();
      }
    });
  });
});
