/**
 * Reading the global order through: `catchUp` (the subscription's page generator) and a
 * `ProjectionRunner` catching a trivial projection up from zero, over N events of many interleaved
 * streams and tenants, against a raw keyset-paginated SELECT of the same rows.
 *
 * Seeding: one `INSERT ... SELECT generate_series` straight into `sigid_events` and `sigid_streams`
 * (in chunks), then VACUUM ANALYZE, so every contender reads the same settled, hint-bitted table.
 *
 * The projections catch up over the first BENCH_PROJECTION_EVENTS (default 100,000) events of the
 * same store: the one that upserts a row per event runs at a few thousand events/s on 2 cores, so 1M
 * events × 5 runs would take over half an hour. Rates are per second, so they compare all the same.
 *
 * Scale: BENCH_EVENTS (default 1,000,000), BENCH_PROJECTION_EVENTS, BENCH_STREAMS, BENCH_TENANTS,
 * BENCH_PAGE_SIZE, BENCH_RUNS.
 */
import { sql } from 'kysely';
import pg from 'pg';
import { EventCatalog } from '../events/catalog.ts';
import type { EventOf } from '../events/envelope.ts';
import { defineProjection, type Projection } from '../projections/projection.ts';
import type { ProjectedTableName } from '../read-models/database.ts';
import { subjectKeysFor } from '../src/crypto/subject-keys.ts';
import { connectPostgres } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { EventLog } from '../src/event-log.ts';
import { PostgresEventStore } from '../src/event-store/postgres.ts';
import { catchUp } from '../src/event-store/subscription.ts';
import { ProjectionRunner } from '../src/projection-runner.ts';
import {
  alternate,
  benchRecorded,
  closeDatabase,
  describeMachine,
  envInt,
  main,
  RUNS,
  reportMedians,
  reportRatio,
  scratchDatabase,
} from './support.ts';

const EVENTS = envInt('BENCH_EVENTS', 1_000_000);
const STREAMS = envInt('BENCH_STREAMS', 20_000);
const TENANTS = envInt('BENCH_TENANTS', 100);
const PAGE_SIZE = envInt('BENCH_PAGE_SIZE', 500);
/** The projection applies one SQL statement per event, so it catches up over the first events only. */
const PROJECTION_EVENTS = Math.min(EVENTS, envInt('BENCH_PROJECTION_EVENTS', 100_000));
const SEED_CHUNK = 100_000;

const COLUMNS = `global_position, event_id, stream_name, stream_revision, tenant_id, event_type, event_version,
  data, actor_type, actor_id, correlation_id, causation_id, recorded_at`;

/** The one event type of the seeded store, in a catalog of its own so that the runner can decode it. */

/** Seeds `events` events round-robin over `streams` streams of `tenants` tenants, oldest first. */
async function seed(url: string): Promise<void> {
  const db = connectPostgres(url, { max: 1 });
  await migrateToLatest(db);
  const started = performance.now();
  for (let from = 0; from < EVENTS; from += SEED_CHUNK) {
    const to = Math.min(EVENTS, from + SEED_CHUNK) - 1;
    await db.query(
      `insert into sigid_events (event_id, stream_name, stream_revision, tenant_id, event_type, event_version, data,
                                 actor_type, actor_id, correlation_id, causation_id, recorded_at)
       select gen_random_uuid(), 'tnt_' || (i % $2 % $3) || '-ent_' || (i % $2), i / $2, 'tnt_' || (i % $2 % $3),
              'bench.recorded', 1,
              jsonb_build_object('n', i, 'user_id', 'usr_' || (i % $2),
                                 'changes', jsonb_build_object('name', 'User ' || i, 'locale', 'en-GB'),
                                 'reason', 'profile updated through the admin API'),
              'api_key', 'key_' || (i % $2 % $3), gen_random_uuid()::text, null,
              now() - make_interval(secs => ($4 - i) / 1000.0)
       from generate_series($1::bigint, $5::bigint) as i`,
      [from, STREAMS, TENANTS, EVENTS, to],
    );
    process.stdout.write(`\r  seeding: ${to + 1}/${EVENTS} events`);
  }
  await db.query(
    `insert into sigid_streams (stream_name, tenant_id, revision)
     select stream_name, min(tenant_id), max(stream_revision) from sigid_events group by stream_name`,
  );
  await db.query(`create table bench_stream_heads (
    stream_name text primary key, tenant_id text not null, revision bigint not null, position bigint not null)`);
  await db.query('vacuum analyze');
  const { rows } = await db.query<{ size: string }>(
    `select pg_size_pretty(pg_total_relation_size('sigid_events')) as size`,
  );
  console.log(
    `\r  seeded ${EVENTS} events over ${STREAMS} streams of ${TENANTS} tenants in ${((performance.now() - started) / 1000).toFixed(0)} s (sigid_events with indexes: ${rows[0]?.size})`,
  );
  await closeDatabase(db);
}

type BenchEvent = EventOf<typeof benchRecorded>;

/** A trivial projection: the latest revision and position of every stream, one upsert per event. */
const streamHeads = defineProjection<BenchEvent>({
  name: 'bench_stream_heads',
  version: 1,
  tables: ['bench_stream_heads' as ProjectedTableName],
  on: {
    async 'bench.recorded'(trx, event) {
      await sql`insert into bench_stream_heads (stream_name, tenant_id, revision, position)
                values (${event.stream}, ${event.tenantId}, ${event.revision}, ${event.position})
                on conflict (stream_name) do update set revision = excluded.revision, position = excluded.position`.execute(
        trx,
      );
    },
  },
});

/** The same rows written a page at a time: one multi-row upsert per page (the page-handler API). */
const streamHeadsByPage = defineProjection<BenchEvent, 'bench.recorded'>({
  name: 'bench_stream_heads_page',
  version: 1,
  tables: ['bench_stream_heads' as ProjectedTableName],
  page: {
    types: ['bench.recorded'],
    async apply(trx, events) {
      // One row per stream: an upsert may not touch a row twice, and the last event of a stream wins.
      const last = new Map<string, (typeof events)[number]>();
      for (const event of events) last.set(event.stream, event);
      // In key order: the index is walked in order, and two writers could never deadlock on it.
      const heads = [...last.values()].sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
      await sql`insert into bench_stream_heads (stream_name, tenant_id, revision, position)
                select * from unnest(${heads.map((event) => event.stream)}::text[],
                                     ${heads.map((event) => event.tenantId)}::text[],
                                     ${heads.map((event) => event.revision)}::bigint[],
                                     ${heads.map((event) => event.position)}::bigint[])
                on conflict (stream_name) do update set revision = excluded.revision, position = excluded.position`.execute(
        trx,
      );
    },
  },
});

/** The runner's own cost: reads, decodes and checkpoints every page, writes nothing per event. */
const noop = defineProjection<BenchEvent>({
  name: 'bench_noop',
  version: 1,
  tables: [],
  on: { async 'bench.recorded'() {} },
});

class Reached extends Error {}

main(async () => {
  console.log(
    `# subscription benchmark — ${describeMachine()}, ${RUNS} alternating runs per contender, medians quoted`,
  );
  const { url, name } = await scratchDatabase('subscription');
  console.log(`  scratch database ${name}`);
  await seed(url);

  const raw = {
    name: 'raw keyset SELECT',
    async run() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const started = performance.now();
        let after = '0';
        let count = 0;
        while (true) {
          const { rows } = await client.query<{ global_position: string }>(
            `select ${COLUMNS} from sigid_events where global_position > $1 order by global_position limit $2`,
            [after, PAGE_SIZE],
          );
          count += rows.length;
          if (rows.length < PAGE_SIZE) break;
          after = (rows[rows.length - 1] as { global_position: string }).global_position;
        }
        if (count !== EVENTS) throw new Error(`raw read ${count} events, expected ${EVENTS}`);
        return { rate: count / ((performance.now() - started) / 1000) };
      } finally {
        await client.end();
      }
    },
  };

  const subscription = {
    name: 'SigID catchUp',
    async run() {
      // A fresh store, as a new subscriber process would have: its watermark starts from zero.
      const db = connectPostgres(url, { max: 2 });
      const store = new PostgresEventStore(db);
      try {
        const started = performance.now();
        let count = 0;
        for await (const page of catchUp(store, { batchSize: PAGE_SIZE, pollMs: 10 })) {
          count += page.events.length;
          if (count >= EVENTS) break;
        }
        return { rate: count / ((performance.now() - started) / 1000) };
      } finally {
        await store.close();
        await closeDatabase(db);
      }
    },
  };

  const runnerDb = connectPostgres(url, { max: 4 });
  const runnerStore = new PostgresEventStore(runnerDb);
  const log = new EventLog(runnerStore, new EventCatalog([benchRecorded]), subjectKeysFor(runnerDb));
  const runner = new ProjectionRunner(runnerDb, log, [streamHeads, streamHeadsByPage, noop]);
  /** `ProjectionRunner.catchUp` (the CLI's rebuild path) from zero, stopped once PROJECTION_EVENTS are applied. */
  const projectionContender = (label: string, target: Projection) => ({
    name: label,
    async before() {
      await runner.rebuild(target.name);
      await runnerDb.query('vacuum bench_stream_heads');
    },
    async run() {
      const started = performance.now();
      let reached = 0;
      await runner
        .catchUp(target.name, (position) => {
          reached = position;
          if (position >= PROJECTION_EVENTS) throw new Reached();
        })
        .catch((error: unknown) => {
          if (!(error instanceof Reached)) throw error;
        });
      const seconds = (performance.now() - started) / 1000;
      if (reached < PROJECTION_EVENTS) throw new Error(`${label} stopped at ${reached}`);
      return { rate: reached / seconds };
    },
  });
  const projection = projectionContender('SigID ProjectionRunner (upsert)', streamHeads);
  const projectionByPage = projectionContender('SigID ProjectionRunner (page upsert)', streamHeadsByPage);
  const projectionNoop = projectionContender('SigID ProjectionRunner (no-op)', noop);

  // One untimed pass each: caches warm, plans cached, the same for everyone.
  await raw.run();

  console.log(
    `\n## Reading ${EVENTS} interleaved events through, pages of ${PAGE_SIZE} (projections: the first ${PROJECTION_EVENTS})`,
  );
  const samples = await alternate('read-through', [raw, subscription, projection, projectionByPage, projectionNoop]);
  reportMedians('events/s', samples);
  reportRatio({
    label: 'catchUp read-through vs raw keyset SELECT',
    samples,
    subject: 'SigID catchUp',
    baseline: 'raw keyset SELECT',
  });
  reportRatio({
    label: 'ProjectionRunner catch-up (one upsert per event) vs raw keyset SELECT',
    samples,
    subject: 'SigID ProjectionRunner (upsert)',
    baseline: 'raw keyset SELECT',
  });
  reportRatio({
    label: 'ProjectionRunner catch-up (one multi-row upsert per page, the page handler) vs raw keyset SELECT',
    samples,
    subject: 'SigID ProjectionRunner (page upsert)',
    baseline: 'raw keyset SELECT',
  });
  reportRatio({
    label: 'ProjectionRunner catch-up (no-op apply: the runner alone) vs raw keyset SELECT',
    samples,
    subject: 'SigID ProjectionRunner (no-op)',
    baseline: 'raw keyset SELECT',
  });
  await closeDatabase(runnerDb);
});
