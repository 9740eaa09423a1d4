import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '../events/catalog.ts';
import { defineProjection, type Projection } from '../projections/projection.ts';
import type { ProjectedTableName } from '../read-models/database.ts';
import { subjectKeysFor } from '../src/crypto/subject-keys.ts';
import { connectPostgres, type Database } from '../src/db/database.ts';
import { EventLog } from '../src/event-log.ts';
import { PostgresEventStore } from '../src/event-store/postgres.ts';
import { consistent } from '../src/http/read-your-writes.ts';
import { ProjectionRunner } from '../src/projection-runner.ts';
import type { Sigid } from '../src/sigid.ts';
import { type Backend, backends } from './support/databases.ts';

/**
 * A deliberately non-idempotent projection (it adds 1 per event) so that applying an event twice, or
 * skipping one, shows in the counts. It fails on any rename to a name starting with "poison".
 */
function countingProjection(version = 1): Projection {
  return defineProjection({
    name: 'test_counts',
    version,
    tables: ['test_counts' as ProjectedTableName],
    on: {
      async 'tenant.renamed'(trx, event) {
        await sql`insert into test_counts (stream, count) values (${event.stream}, 1)
                  on conflict (stream) do update set count = test_counts.count + 1`.execute(trx);
        if (event.data.name.startsWith('poison')) throw new Error('this event cannot be projected');
      },
    },
  });
}

async function counts(db: Database): Promise<Record<string, number>> {
  const { rows } = await db.query<{ stream: string; count: number }>('select stream, count from test_counts');
  return Object.fromEntries(rows.map((row) => [row.stream, row.count]));
}

describe.each(backends)('projection runner ($name)', (backend: Backend) => {
  let db: Database;
  let drop: () => Promise<void>;
  let store: PostgresEventStore;
  let log: EventLog;
  const tenantId = 'ten_projection_test';

  beforeAll(async () => {
    ({ db, drop } = await backend.open());
    await db.query('create table test_counts (stream text primary key, count integer not null)');
    store = await new PostgresEventStore(db).start();
    log = new EventLog(store, catalog, subjectKeysFor(db));
  });
  afterAll(async () => {
    await store?.close();
    await drop?.();
  });

  async function rename(stream: string, names: string[]) {
    let position = 0;
    for (const name of names) {
      const result = await log.append(stream, [{ type: 'tenant.renamed', data: { name, previous_name: 'x' } }], 'any', {
        tenantId,
        actor: { type: 'system', id: 'test' },
        correlationId: randomUUID(),
      });
      position = result.position;
    }
    return position;
  }

  it('applies every event exactly once across restarts, sets a poisoned event aside and moves on', async () => {
    const runner = new ProjectionRunner(db, log, [countingProjection()], { pollMs: 20 });
    runner.start();
    await rename(`${tenantId}-a`, ['a1', 'a2', 'a3']);
    const poisonAt = await rename(`${tenantId}-b`, ['b1', 'poison pill', 'b3']);
    expect(await runner.waitFor(poisonAt)).toBe(true);
    await runner.stop();
    // The poisoned event's own write was rolled back with it: b counts only b1 and b3.
    expect(await counts(db)).toEqual({ [`${tenantId}-a`]: 3, [`${tenantId}-b`]: 2 });
    const { rows: failures } = await db.query<{ event_type: string; error: string; attempts: number }>(
      'select event_type, error, attempts from projection_failures',
    );
    expect(failures).toEqual([{ event_type: 'tenant.renamed', error: 'this event cannot be projected', attempts: 3 }]);

    // A new runner (a restart) continues from the checkpoint: nothing is applied twice.
    const restarted = new ProjectionRunner(db, log, [countingProjection()], { pollMs: 20 });
    restarted.start();
    const last = await rename(`${tenantId}-a`, ['a4']);
    expect(await restarted.waitFor(last)).toBe(true);
    await restarted.stop();
    expect(await counts(db)).toEqual({ [`${tenantId}-a`]: 4, [`${tenantId}-b`]: 2 });
    const [status] = await restarted.status();
    expect(status).toMatchObject({ name: 'test_counts', position: last, lag: 0, failures: 1 });
  });

  it('rebuilds from zero, on demand and when its version is bumped, to the same rows', async () => {
    const before = await counts(db);
    const runner = new ProjectionRunner(db, log, [countingProjection()], { pollMs: 20 });
    await runner.rebuild('test_counts');
    expect(await counts(db)).toEqual({});
    await runner.catchUp('test_counts');
    expect(await counts(db)).toEqual(before);

    const bumped = new ProjectionRunner(db, log, [countingProjection(2)], { pollMs: 20 });
    bumped.start();
    expect(await bumped.waitFor(await store.headPosition())).toBe(true);
    await bumped.stop();
    expect(await counts(db)).toEqual(before);
    const { rows } = await db.query<{ version: number }>(
      "select version from projection_checkpoints where name = 'test_counts'",
    );
    expect(rows[0]?.version).toBe(2);
  });

  // A projection stuck in its transaction holds PGlite's one connection: this needs PostgreSQL's pool.
  if (backend.name === 'postgres')
    it('read your writes waits only for the projections that handle the types the write appended', async () => {
      let release = () => {};
      const stuck = new Promise<void>((resolve) => {
        release = resolve;
      });
      const slow = defineProjection({
        name: 'test_slow_keys',
        version: 1,
        tables: [],
        on: {
          'api_key.created': () => stuck,
        },
      });
      const runner = new ProjectionRunner(db, log, [countingProjection(3), slow], { pollMs: 20 });
      runner.start();
      try {
        const keyed = await log.append(
          `${tenantId}-key`,
          [{ type: 'api_key.created', data: { key_id: 'key_slow', name: 'slow' } }],
          'any',
          { tenantId, actor: { type: 'system', id: 'test' }, correlationId: randomUUID() },
        );
        const position = await rename(`${tenantId}-d`, ['d1']);
        expect(position).toBeGreaterThan(keyed.position);
        // The rename is shown by test_counts, which gets there; the slow projection reads no renames.
        expect(await runner.waitFor(position, 15_000, { types: ['tenant.renamed'] })).toBe(true);
        const answered: Array<[string, string]> = [];
        const request = { res: { set: (name: string, value: string) => answered.push([name, value]) } };
        const sigid = { projections: runner, config: { readYourWritesTimeoutMs: 300 } } as unknown as Sigid;
        await consistent(sigid, request as unknown as Request, { position, types: ['tenant.renamed'] });
        expect(answered).toEqual([]);
        // Without the types (or with the slow one's type) it waits for every projection, in vain here.
        await consistent(sigid, request as unknown as Request, position);
        expect(answered).toEqual([['SigID-Consistency', 'pending']]);
        expect(await runner.waitFor(position, 300, { types: ['api_key.created'] })).toBe(false);
      } finally {
        release();
        await runner.stop();
      }
    });

  it('sleeps while only other types are appended, rather than chase the head; a wait for everything still gets there', async () => {
    const runner = new ProjectionRunner(db, log, [countingProjection(4)], { pollMs: 100 });
    const reads = { count: 0 };
    const readAll = store.readAll.bind(store);
    store.readAll = (options) => {
      if (options?.types?.includes('tenant.renamed')) reads.count++;
      return readAll(options);
    };
    runner.start();
    try {
      await runner.waitFor(await rename(`${tenantId}-quiet`, ['q1']), 15_000);
      reads.count = 0;
      // For 1.5 s (15 polls), appends of a type the projection does not read, one after another.
      let position = 0;
      const until = Date.now() + 1500;
      for (let index = 0; Date.now() < until; index++) {
        ({ position } = await log.append(
          `${tenantId}-keys-${index}`,
          [{ type: 'api_key.created', data: { key_id: `key_quiet_${index}`, name: 'quiet' } }],
          'any',
          { tenantId, actor: { type: 'system', id: 'test' }, correlationId: randomUUID() },
        ));
      }
      // Chasing the head read about once per append; sleeping reads once per poll.
      expect(reads.count).toBeLessThan(40);
      expect(await runner.waitFor(position, 15_000)).toBe(true);
    } finally {
      store.readAll = readAll;
      await runner.stop();
    }
  });

  // Two processes on one embedded database cannot happen (the data-dir lock), so this is PostgreSQL's.
  if (backend.name === 'postgres')
    it('runs each projection in one process at a time; another takes over when it stops', async () => {
      // A second connection pool stands in for a second SigID process.
      const url = (await db.query<{ db: string }>('select current_database() as db')).rows[0]?.db as string;
      const otherDb = connectPostgres(`postgres://postgres@127.0.0.1:5432/${url}`);
      const otherStore = await new PostgresEventStore(otherDb).start();
      const otherLog = new EventLog(otherStore, catalog, subjectKeysFor(otherDb));
      const first = new ProjectionRunner(db, log, [countingProjection(2)], { pollMs: 20 });
      const second = new ProjectionRunner(otherDb, otherLog, [countingProjection(2)], { pollMs: 20 });
      try {
        first.start();
        await new Promise((resolve) => setTimeout(resolve, 200));
        second.start();
        const start = await counts(db);
        const position = await rename(`${tenantId}-c`, ['c1', 'c2']);
        expect(await first.waitFor(position)).toBe(true);
        const [firstStatus] = await first.status();
        const [secondStatus] = await second.status();
        expect([firstStatus?.running_here, secondStatus?.running_here]).toEqual([true, false]);

        await first.stop();
        const later = await rename(`${tenantId}-c`, ['c3']);
        expect(await second.waitFor(later, 15_000)).toBe(true);
        const [takenOver] = await second.status();
        expect(takenOver?.running_here).toBe(true);
        expect((await counts(db))[`${tenantId}-c`]).toBe((start[`${tenantId}-c`] ?? 0) + 3);
      } finally {
        await first.stop();
        await second.stop();
        await otherStore.close();
        await otherDb.close();
      }
    });
});
