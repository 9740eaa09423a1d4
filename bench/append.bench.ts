/**
 * Append throughput and latency of the PostgreSQL event store.
 *
 *   1. One event per transaction, 16 concurrent writers, 16 tenants: SigID's `PostgresEventStore.append`
 *      vs a raw `INSERT` of the same rows into an equivalent plain table (target ≥ 0.6×) and vs Emmett's
 *      PostgreSQL event store (target ≥ 1.5×).
 *   2. The same writers all in one tenant (one stream category) vs 16 tenants (target ≥ 0.9×).
 *   3. Batches of 100 events per append vs a raw multi-row INSERT (target ≥ 0.7×).
 *   4. Embedded PGlite: one writer (PGlite has one connection), the same comparisons as 1 and 3.
 *   5. Write latency with read your writes (append, then wait for the projections): 3 projections
 *      registered vs 10 (target: the same), each write waiting for the projections that handle its
 *      type; and 10 waited for all (as before read your writes by type).
 *
 * Scale: BENCH_APPEND_EVENTS (events per run, one per append), BENCH_BATCH_EVENTS (events per run in
 * batches), BENCH_BATCH_SIZE, BENCH_WRITERS, BENCH_STREAMS_PER_WRITER, BENCH_PGLITE_EVENTS,
 * BENCH_PGLITE_BATCH_EVENTS, BENCH_RYW_EVENTS, BENCH_RUNS; BENCH_APPEND_SECTIONS (e.g. `5`) runs only those.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import { sql } from 'kysely';
import pg from 'pg';
import { z } from 'zod';
import { EventCatalog } from '../events/catalog.ts';
import { defineEvent, type EventOf } from '../events/envelope.ts';
import { defineProjection, type Projection } from '../projections/projection.ts';
import type { ProjectedTableName } from '../read-models/database.ts';
import { subjectKeysFor } from '../src/crypto/subject-keys.ts';
import { connectPostgres, type Database, openEmbedded } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { EventLog } from '../src/event-log.ts';
import type { EventToAppend, ExpectedRevision } from '../src/event-store/port.ts';
import { PostgresEventStore } from '../src/event-store/postgres.ts';
import { ProjectionRunner } from '../src/projection-runner.ts';
import {
  alternate,
  type Contender,
  closeDatabase,
  describeMachine,
  envInt,
  formatMs,
  main,
  onCleanup,
  percentile,
  RUNS,
  reportMedians,
  reportRatio,
  type Sample,
  scratchDatabase,
} from './support.ts';

const EVENTS = envInt('BENCH_APPEND_EVENTS', 6_400);
const BATCH_EVENTS = envInt('BENCH_BATCH_EVENTS', 48_000);
const BATCH_SIZE = envInt('BENCH_BATCH_SIZE', 100);
const WRITERS = envInt('BENCH_WRITERS', 16);
const STREAMS_PER_WRITER = envInt('BENCH_STREAMS_PER_WRITER', 8);
const PGLITE_EVENTS = envInt('BENCH_PGLITE_EVENTS', 2_000);
const PGLITE_BATCH_EVENTS = envInt('BENCH_PGLITE_BATCH_EVENTS', 20_000);
const RYW_EVENTS = envInt('BENCH_RYW_EVENTS', 3_200);
const SECTIONS = new Set((process.env.BENCH_APPEND_SECTIONS ?? '1,2,3,4,5').split(',').map((part) => part.trim()));

/** The columns of `sigid_events`, indexes and constraints included, in a plain table without the store around it. */
const RAW_TABLE = [
  `create table bench_raw_events (
    global_position bigint generated always as identity primary key,
    event_id uuid not null unique,
    stream_name text not null,
    stream_revision bigint not null,
    tenant_id text not null,
    event_type text not null,
    event_version integer not null,
    data jsonb not null,
    actor_type text not null,
    actor_id text not null,
    correlation_id text not null,
    causation_id text,
    recorded_at timestamptz not null default now(),
    unique (stream_name, stream_revision)
  )`,
  'create index bench_raw_events_tenant on bench_raw_events (tenant_id, global_position)',
  'create index bench_raw_events_tenant_type on bench_raw_events (tenant_id, event_type, global_position)',
];

const RAW_COLUMNS = `event_id, stream_name, stream_revision, tenant_id, event_type, event_version, data,
  actor_type, actor_id, correlation_id, causation_id`;

/** A realistic event body: a profile update of a few hundred bytes. */
function eventData(writer: number, index: number) {
  return {
    user_id: `usr_${writer}_${index % 997}`,
    changes: { name: `User ${index}`, locale: 'en-GB', email_verified: index % 2 === 0 },
    previous: { name: `User ${index - 1}`, locale: 'fr-FR', email_verified: index % 2 === 1 },
    reason: 'profile updated through the admin API',
  };
}

function sigidEvent(tenantId: string, writer: number, index: number): EventToAppend {
  return {
    id: randomUUID(),
    type: 'user.updated',
    version: 1,
    data: eventData(writer, index),
    metadata: {
      tenantId,
      actor: { type: 'api_key', id: `key_${writer}` },
      correlationId: randomUUID(),
      causationId: null,
    },
  };
}

/** The row the raw baselines insert: exactly what SigID stores for the same event. */
function rawRow(stream: string, revision: number, event: EventToAppend): unknown[] {
  return [
    event.id,
    stream,
    revision,
    event.metadata.tenantId,
    event.type,
    event.version,
    JSON.stringify(event.data),
    event.metadata.actor.type,
    event.metadata.actor.id,
    event.metadata.correlationId,
    event.metadata.causationId,
  ];
}

function tenantOf(writer: number, tenants: number): string {
  return `tnt_bench_${writer % tenants}`;
}

/**
 * `writers` concurrent loops, each appending `perWriter` times to its own `STREAMS_PER_WRITER` streams
 * in turn; `append` does one append (of `size` events) and the latency of each is recorded.
 */
async function drive(options: {
  writers: number;
  appendsPerWriter: number;
  size: number;
  append: (writer: number, streamIndex: number, call: number) => Promise<void>;
}): Promise<Sample> {
  const latencies = new Float64Array(options.writers * options.appendsPerWriter);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.writers }, async (_, writer) => {
      for (let call = 0; call < options.appendsPerWriter; call++) {
        const t0 = performance.now();
        await options.append(writer, call % STREAMS_PER_WRITER, call);
        latencies[writer * options.appendsPerWriter + call] = performance.now() - t0;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    rate: (options.writers * options.appendsPerWriter * options.size) / seconds,
    p99: percentile(Array.from(latencies), 99),
  };
}

/** Opens every connection of a pool before the clock starts. */
async function warmPool(query: (sql: string) => Promise<unknown>, connections: number): Promise<void> {
  await Promise.all(Array.from({ length: connections }, () => query('select pg_sleep(0.01)')));
}

interface SigidOptions {
  url: string;
  tenants: number;
  size: number;
  events: number;
  writers: number;
}

/** SigID: `PostgresEventStore.append` with an exact expected revision (`no_stream` for a stream's first append). */
function sigidContender(name: string, options: SigidOptions): Contender {
  return {
    name,
    async run(round) {
      // The store LISTENs on one connection and NOTIFYs after commits on another: as it runs in production.
      const db = connectPostgres(options.url, { max: options.writers + 2 });
      const store = await new PostgresEventStore(db).start();
      try {
        await warmPool((sql) => db.query(sql), options.writers + 2);
        const revisions = new Map<string, number>();
        const run = `${name.replace(/\W/g, '')}${round}${randomUUID().slice(0, 8)}`;
        return await drive({
          writers: options.writers,
          appendsPerWriter: Math.ceil(options.events / options.size / options.writers),
          size: options.size,
          async append(writer, streamIndex, call) {
            const tenantId = tenantOf(writer, options.tenants);
            const stream = `${tenantId}-${run}_${writer}_${streamIndex}`;
            const events = Array.from({ length: options.size }, (_, i) => sigidEvent(tenantId, writer, call + i));
            const current = revisions.get(stream);
            const expected: ExpectedRevision = current === undefined ? 'no_stream' : current;
            const result = await store.append(stream, events, expected);
            revisions.set(stream, result.nextRevision);
          },
        });
      } finally {
        await store.close();
        await closeDatabase(db);
      }
    },
  };
}

/** Raw: the same rows with one `INSERT ... VALUES` (one row per statement, or `size` rows per statement). */
function rawContender(name: string, options: SigidOptions): Contender {
  return {
    name,
    async run(round) {
      const client = new pg.Pool({ connectionString: options.url, max: options.writers });
      try {
        await warmPool((sql) => client.query(sql), options.writers);
        const revisions = new Map<string, number>();
        const run = `${name.replace(/\W/g, '')}${round}${randomUUID().slice(0, 8)}`;
        return await drive({
          writers: options.writers,
          appendsPerWriter: Math.ceil(options.events / options.size / options.writers),
          size: options.size,
          async append(writer, streamIndex, call) {
            const tenantId = tenantOf(writer, options.tenants);
            const stream = `${tenantId}-${run}_${writer}_${streamIndex}`;
            const first = (revisions.get(stream) ?? -1) + 1;
            const params: unknown[] = [];
            const tuples: string[] = [];
            for (let i = 0; i < options.size; i++) {
              const row = rawRow(stream, first + i, sigidEvent(tenantId, writer, call + i));
              const base = params.length;
              tuples.push(
                `(${row.map((_, column) => `$${base + column + 1}${column === 6 ? '::jsonb' : ''}`).join(', ')})`,
              );
              params.push(...row);
            }
            await client.query(`insert into bench_raw_events (${RAW_COLUMNS}) values ${tuples.join(', ')}`, params);
            revisions.set(stream, first + options.size - 1);
          },
        });
      } finally {
        await client.end();
      }
    },
  };
}

/** Emmett's PostgreSQL event store (`appendToStream` with the expected version it returned last time). */
function emmettContender(name: string, options: SigidOptions): Contender {
  return {
    name,
    async run(round) {
      const client = new pg.Pool({ connectionString: options.url, max: options.writers });
      const store = getPostgreSQLEventStore(options.url, { connectionOptions: { pool: client } });
      try {
        await warmPool((sql) => client.query(sql), options.writers);
        const versions = new Map<string, bigint>();
        const run = `${name.replace(/\W/g, '')}${round}${randomUUID().slice(0, 8)}`;
        return await drive({
          writers: options.writers,
          appendsPerWriter: Math.ceil(options.events / options.size / options.writers),
          size: options.size,
          async append(writer, streamIndex, call) {
            const tenantId = tenantOf(writer, options.tenants);
            const stream = `${tenantId}-${run}_${writer}_${streamIndex}`;
            const events = Array.from({ length: options.size }, (_, i) => {
              const event = sigidEvent(tenantId, writer, call + i);
              return {
                type: event.type,
                data: event.data as Record<string, unknown>,
                metadata: {
                  tenantId,
                  actor: event.metadata.actor,
                  correlationId: event.metadata.correlationId,
                },
              };
            });
            const result = await store.appendToStream(stream, events, {
              expectedStreamVersion: versions.get(stream) ?? 'STREAM_DOES_NOT_EXIST',
            });
            versions.set(stream, result.nextExpectedStreamVersion);
          },
        });
      } finally {
        await store.close().catch(() => {});
        await client.end().catch(() => {});
      }
    },
  };
}

/** The embedded backend: one writer, SigID's append vs raw inserts through the same PGlite handle. */
async function embedded(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sigid-bench-pglite-'));
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const db = await openEmbedded(dir);
  onCleanup(() => db.close());
  await migrateToLatest(db);
  for (const statement of RAW_TABLE) await db.query(statement);
  const store = await new PostgresEventStore(db).start();

  const sigid = (name: string, size: number, events: number): Contender => ({
    name,
    async run(round) {
      const revisions = new Map<string, number>();
      return drive({
        writers: 1,
        appendsPerWriter: Math.ceil(events / size),
        size,
        async append(_writer, streamIndex, call) {
          const stream = `tnt_bench_0-${name.replace(/\W/g, '')}${round}_${streamIndex}`;
          const batch = Array.from({ length: size }, (_, i) => sigidEvent('tnt_bench_0', 0, call + i));
          const current = revisions.get(stream);
          const result = await store.append(stream, batch, current === undefined ? 'no_stream' : current);
          revisions.set(stream, result.nextRevision);
        },
      });
    },
  });
  const raw = (name: string, size: number, events: number, database: Database): Contender => ({
    name,
    async run(round) {
      const revisions = new Map<string, number>();
      return drive({
        writers: 1,
        appendsPerWriter: Math.ceil(events / size),
        size,
        async append(_writer, streamIndex, call) {
          const stream = `tnt_bench_0-${name.replace(/\W/g, '')}${round}_${streamIndex}`;
          const first = (revisions.get(stream) ?? -1) + 1;
          const params: unknown[] = [];
          const tuples: string[] = [];
          for (let i = 0; i < size; i++) {
            const row = rawRow(stream, first + i, sigidEvent('tnt_bench_0', 0, call + i));
            const base = params.length;
            tuples.push(
              `(${row.map((_, column) => `$${base + column + 1}${column === 6 ? '::jsonb' : ''}`).join(', ')})`,
            );
            params.push(...row);
          }
          await database.query(`insert into bench_raw_events (${RAW_COLUMNS}) values ${tuples.join(', ')}`, params);
          revisions.set(stream, first + size - 1);
        },
      });
    },
  });

  // Untimed warm-up, as on PostgreSQL.
  await sigid('warm-up', 1, 200).run(0);
  await raw('warm-up', 1, 200, db).run(0);
  await sigid('warm-up', BATCH_SIZE, BATCH_SIZE * 5).run(1);
  await raw('warm-up', BATCH_SIZE, BATCH_SIZE * 5, db).run(1);

  console.log(`\n## Embedded PGlite (data dir on ${tmpdir()}, ONE writer: PGlite has a single connection)`);
  const single = await alternate('pglite 1/append', [
    sigid('SigID append (PGlite)', 1, PGLITE_EVENTS),
    raw('raw INSERT (PGlite)', 1, PGLITE_EVENTS, db),
  ]);
  reportMedians(`${PGLITE_EVENTS} events per run, one event per append, 1 writer`, single);
  reportRatio({
    label: 'PGlite append 1 event/tx vs raw INSERT',
    samples: single,
    subject: 'SigID append (PGlite)',
    baseline: 'raw INSERT (PGlite)',
    target: 0.6,
  });
  const batched = await alternate(`pglite ${BATCH_SIZE}/append`, [
    sigid(`SigID append ×${BATCH_SIZE} (PGlite)`, BATCH_SIZE, PGLITE_BATCH_EVENTS),
    raw(`raw multi-row INSERT ×${BATCH_SIZE} (PGlite)`, BATCH_SIZE, PGLITE_BATCH_EVENTS, db),
  ]);
  reportMedians(`${PGLITE_BATCH_EVENTS} events per run, ${BATCH_SIZE} events per append, 1 writer`, batched);
  reportRatio({
    label: `PGlite append ${BATCH_SIZE} events/tx vs raw multi-row INSERT`,
    samples: batched,
    subject: `SigID append ×${BATCH_SIZE} (PGlite)`,
    baseline: `raw multi-row INSERT ×${BATCH_SIZE} (PGlite)`,
    target: 0.7,
  });
  await store.close();
}

/** The written event, and one event type per other aggregate (ten aggregates, one projection each). */
const profileUpdated = defineEvent({
  type: 'bench.profile.updated',
  version: 1,
  description: 'A benchmark write.',
  schema: z.object({ user_id: z.string(), name: z.string() }),
});
const otherAggregates = Array.from({ length: 9 }, (_, index) =>
  defineEvent({
    type: `bench.aggregate_${index}.changed`,
    version: 1,
    description: 'An event of another aggregate, never written here.',
    schema: z.object({ id: z.string() }),
  }),
);
type ProfileUpdated = EventOf<typeof profileUpdated>;

/** The written aggregate's read model: one upsert per event. */
const profiles = defineProjection<ProfileUpdated>({
  name: 'bench_profiles',
  version: 1,
  tables: ['bench_profiles' as ProjectedTableName],
  on: {
    async 'bench.profile.updated'(trx, event) {
      await sql`insert into bench_profiles (tenant_id, user_id, name, revision)
                values (${event.tenantId}, ${event.data.user_id}, ${event.data.name}, ${event.revision})
                on conflict (tenant_id, user_id) do update set name = excluded.name, revision = excluded.revision`.execute(
        trx,
      );
    },
  },
});

/** The other aggregates' projections: each reads only its own type (none of which is written here). */
const others: Projection[] = otherAggregates.map((definition, index) =>
  defineProjection<{ type: string; data: unknown }>({
    name: `bench_aggregate_${index}`,
    version: 1,
    tables: [],
    on: { async [definition.type]() {} },
  }),
);

/**
 * 16 writers, each appending one event and then waiting for read your writes, with `projections`
 * registered in this process's runner (as `sigid serve` runs them); `byType`: the write waits for
 * the projections handling its type only, else for every projection.
 */
function readYourWritesContender(name: string, url: string, projections: Projection[], byType: boolean): Contender {
  let runner: ProjectionRunner | undefined;
  let log: EventLog | undefined;
  let close = async () => {};
  return {
    name,
    async before() {
      const db = connectPostgres(url, { max: WRITERS + projections.length + 4 });
      const store = await new PostgresEventStore(db).start();
      log = new EventLog(
        store,
        new EventCatalog([profileUpdated, ...otherAggregates]),
        subjectKeysFor(db, Buffer.alloc(32, 7)),
      );
      runner = new ProjectionRunner(db, log, projections, { pollMs: 500 });
      runner.start();
      // Every projection at the head before the clock starts (the ones a smaller set left behind included).
      await runner.waitFor(await store.headPosition(), 60_000);
      await warmPool((text) => db.query(text), WRITERS);
      const active = runner;
      close = async () => {
        await active.stop();
        await store.close();
        await closeDatabase(db);
      };
    },
    async run(round) {
      const events = log as EventLog;
      const active = runner as ProjectionRunner;
      const latencies: number[] = [];
      const run = `${name.replace(/\W/g, '')}${round}${randomUUID().slice(0, 8)}`;
      try {
        const sample = await drive({
          writers: WRITERS,
          appendsPerWriter: Math.ceil(RYW_EVENTS / WRITERS),
          size: 1,
          async append(writer, streamIndex, call) {
            const tenantId = tenantOf(writer, WRITERS);
            const t0 = performance.now();
            const result = await events.append(
              `${tenantId}-${run}_${writer}_${streamIndex}`,
              [
                {
                  type: 'bench.profile.updated',
                  data: { user_id: `usr_${writer}_${streamIndex}`, name: `User ${call}` },
                },
              ],
              'any',
              { tenantId, actor: { type: 'api_key', id: `key_${writer}` }, correlationId: randomUUID() },
            );
            const caughtUp = await active.waitFor(
              result.position,
              10_000,
              byType ? { types: [profileUpdated.type] } : {},
            );
            if (!caughtUp) throw new Error('read your writes timed out');
            latencies.push(performance.now() - t0);
          },
        });
        return { ...sample, extra: { p50: percentile(latencies, 50) } };
      } finally {
        await close();
      }
    },
  };
}

async function readYourWrites(url: string): Promise<void> {
  console.log(
    `\n## 5. Write latency with read your writes: ${WRITERS} writers, one event per append, then wait for the projections (${RYW_EVENTS} writes per run)`,
  );
  const setup = connectPostgres(url, { max: 1 });
  await setup.query(`create table if not exists bench_profiles (
    tenant_id text not null, user_id text not null, name text not null, revision bigint not null,
    primary key (tenant_id, user_id))`);
  await closeDatabase(setup);
  const three = [profiles, ...others.slice(0, 2)];
  const ten = [profiles, ...others];
  const samples = await alternate('read your writes', [
    readYourWritesContender('3 projections, wait by type', url, three, true),
    readYourWritesContender('10 projections, wait by type', url, ten, true),
    readYourWritesContender('10 projections, wait for all', url, ten, false),
  ]);
  reportMedians('writes/s and p99 latency of append + read your writes', samples);
  for (const [name, list] of samples) {
    const p50s = list.map((sample) => sample.extra?.p50 ?? 0).sort((a, b) => a - b);
    console.log(`    ${name.padEnd(34)} p50 ${formatMs(p50s[Math.floor(p50s.length / 2)] as number)} (median of runs)`);
  }
  reportRatio({
    label: 'writes/s with 10 projections vs 3 (read your writes by type)',
    samples,
    subject: '10 projections, wait by type',
    baseline: '3 projections, wait by type',
    target: 0.9,
  });
  reportRatio({
    label: 'writes/s with 10 projections waiting for all vs 3 by type',
    samples,
    subject: '10 projections, wait for all',
    baseline: '3 projections, wait by type',
  });
}

main(async () => {
  console.log(`# append benchmark — ${describeMachine()}, ${RUNS} alternating runs per contender, medians quoted`);
  const { url } = await scratchDatabase('append');
  const setup = connectPostgres(url, { max: 1 });
  await migrateToLatest(setup);
  for (const statement of RAW_TABLE) await setup.query(statement);
  // Emmett creates its schema on first use; do it now, outside every timed run.
  const emmettSetup = getPostgreSQLEventStore(url);
  await emmettSetup.schema.migrate();
  await emmettSetup.close();
  const { rows } = await setup.query<{ server_version: string }>('show server_version');
  console.log(
    `PostgreSQL ${rows[0]?.server_version} at ${new URL(url).host}, scratch database ${new URL(url).pathname.slice(1)}`,
  );
  await closeDatabase(setup);

  if (SECTIONS.has('5')) await readYourWrites(url);
  if (!SECTIONS.has('1') && !SECTIONS.has('2') && !SECTIONS.has('3') && !SECTIONS.has('4')) return;

  const perTx = { url, size: 1, events: EVENTS, writers: WRITERS };
  // An untimed warm-up of each contender (JIT, catalog caches, first pages of every index).
  for (const contender of [
    sigidContender('warm-up', { ...perTx, tenants: WRITERS, events: WRITERS * 20 }),
    rawContender('warm-up', { ...perTx, tenants: WRITERS, events: WRITERS * 20 }),
    emmettContender('warm-up', { ...perTx, tenants: WRITERS, events: WRITERS * 20 }),
  ]) {
    await contender.run(0);
  }

  if (SECTIONS.has('1')) await section1(perTx);
  if (SECTIONS.has('2')) await section2(perTx);
  if (SECTIONS.has('3')) await section3(url);
  if (SECTIONS.has('4')) await embedded();
});

async function section1(perTx: { url: string; size: number; events: number; writers: number }): Promise<void> {
  console.log(
    `\n## 1. One event per append, ${WRITERS} concurrent writers, ${WRITERS} tenants, ${EVENTS} events per run`,
  );
  const single = await alternate('1 event/tx', [
    sigidContender('SigID PostgresEventStore.append', { ...perTx, tenants: WRITERS }),
    rawContender('raw INSERT (plain table)', { ...perTx, tenants: WRITERS }),
    emmettContender('Emmett appendToStream', { ...perTx, tenants: WRITERS }),
  ]);
  reportMedians('events/s and p99 latency of one append', single);
  reportRatio({
    label: 'append 1 event/tx vs raw INSERT',
    samples: single,
    subject: 'SigID PostgresEventStore.append',
    baseline: 'raw INSERT (plain table)',
    target: 0.6,
  });
  reportRatio({
    label: 'append 1 event/tx vs Emmett',
    samples: single,
    subject: 'SigID PostgresEventStore.append',
    baseline: 'Emmett appendToStream',
    target: 1.5,
  });
}

async function section2(perTx: { url: string; size: number; events: number; writers: number }): Promise<void> {
  console.log(`\n## 2. ${WRITERS} writers in ONE tenant (one stream category) vs ${WRITERS} tenants`);
  const categories = await alternate('categories', [
    sigidContender('SigID, 1 tenant', { ...perTx, tenants: 1 }),
    sigidContender(`SigID, ${WRITERS} tenants`, { ...perTx, tenants: WRITERS }),
  ]);
  reportMedians('events/s and p99 latency of one append', categories);
  reportRatio({
    label: 'one category vs many',
    samples: categories,
    subject: 'SigID, 1 tenant',
    baseline: `SigID, ${WRITERS} tenants`,
    target: 0.9,
  });
}

async function section3(url: string): Promise<void> {
  console.log(
    `\n## 3. ${BATCH_SIZE} events per append, ${WRITERS} concurrent writers, ${WRITERS} tenants, ${BATCH_EVENTS} events per run`,
  );
  const batch = { url, size: BATCH_SIZE, events: BATCH_EVENTS, writers: WRITERS, tenants: WRITERS };
  const batched = await alternate(`${BATCH_SIZE} events/tx`, [
    sigidContender(`SigID append ×${BATCH_SIZE}`, batch),
    rawContender(`raw multi-row INSERT ×${BATCH_SIZE}`, batch),
  ]);
  reportMedians(`events/s and p99 latency of one ${BATCH_SIZE}-event append`, batched);
  reportRatio({
    label: `append ${BATCH_SIZE} events/tx vs raw multi-row INSERT`,
    samples: batched,
    subject: `SigID append ×${BATCH_SIZE}`,
    baseline: `raw multi-row INSERT ×${BATCH_SIZE}`,
    target: 0.7,
  });
}
