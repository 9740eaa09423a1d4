import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { WATERMARK_QUERY, Watermark } from '../src/event-store/watermark.ts';
import { freshPostgres } from './support/databases.ts';

/**
 * The read boundary is recomputed by every reader that reaches it (projections, workers, `/events`),
 * many times a second on a busy server: its query must read the positions after the last boundary,
 * never the whole event table (it once did: a hash anti-join over every event ever appended, ~200 ms
 * of the database's CPU per refresh at 500k events).
 */
describe('the read boundary (PostgreSQL)', () => {
  const EVENTS = 60_000;
  let db: Database;
  let url: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ db, url, drop } = await freshPostgres());
    await db.query(
      `insert into sigid_events (event_id, stream_name, stream_revision, tenant_id, event_type, event_version, data,
                                 actor_type, actor_id, correlation_id)
       select gen_random_uuid(), 'ten_w-s' || (i % 100), i / 100, 'ten_w', 'tenant.renamed', 1, '{}'::jsonb,
              'system', 'test', 'c'
       from generate_series(1, $1::int) as i`,
      [EVENTS],
    );
    await db.query('analyze sigid_events');
  }, 60_000);
  afterAll(async () => {
    await drop?.();
  });

  it('reaches the head of a gap-free log longer than one step of its walk', async () => {
    const watermark = new Watermark(db);
    expect(await watermark.refresh()).toBe(EVENTS);
  });

  it('reads only the positions after the last boundary, as the server plans it (a prepared statement)', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // A named statement is planned generically once it has run a few times: plan it that way now.
      await client.query('set plan_cache_mode = force_generic_plan');
      await client.query(`prepare boundary(bigint) as ${WATERMARK_QUERY}`);
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `explain (analyze, format json) execute boundary(${EVENTS - 10})`,
      );
      const plan = rows[0]?.['QUERY PLAN'][0].Plan as PlanNode;
      const read = rowsReadFrom(plan, 'sigid_events');
      // The ten positions after the boundary and the lookup of the first: not the 60,000 before it.
      expect(read).toBeGreaterThan(0);
      expect(read).toBeLessThan(100);
      const { rows: answer } = await client.query<{ first: string; run_end: string }>(
        `execute boundary(${EVENTS - 10})`,
      );
      expect(answer[0]).toMatchObject({ first: String(EVENTS - 9), run_end: String(EVENTS) });
    } finally {
      await client.end();
    }
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

/** Rows the plan's scans of `relation` returned, over all their loops. */
function rowsReadFrom(node: PlanNode, relation: string): number {
  const own = node['Relation Name'] === relation ? node['Actual Rows'] * node['Actual Loops'] : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsReadFrom(child, relation), 0);
}
