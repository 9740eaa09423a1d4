import { sql } from 'kysely';
import type { WebhookSubscriptionRow } from '../../read-models/webhook-subscriptions.ts';
import type { Database } from '../db/database.ts';
import { build, column, columns, run, table } from '../db/typed-query.ts';
import type { BatchJson, QueuedMessage } from './verdict.ts';

/** The dispatcher's SQL: which endpoints have due work, an endpoint's lane, a round of batches saved. */

/** An endpoint's row as a batch's save leaves it. */
export type Saved = Pick<WebhookSubscriptionRow, 'enabled' | 'url' | 'failing_since'>;

/** An endpoint's row as the lane reads it, with the next messages past its cursor. */
export interface Lane extends Saved {
  delivered_seq: number;
  head_attempts: number;
  next_attempt_at: Date | null;
  queue: QueuedMessage[];
}

/** Every enabled endpoint with a message past its cursor, and when its head is due (null: now). */
export async function dueEndpoints(
  db: Database,
): Promise<Array<Pick<WebhookSubscriptionRow, 'tenant_id' | 'endpoint_id' | 'next_attempt_at'>>> {
  // One index probe per enabled endpoint for a message past its cursor, however long the queues are.
  const { rows } = await run(
    db,
    build
      .selectFrom('webhook_subscriptions as s')
      .select(['s.tenant_id', 's.endpoint_id', 's.next_attempt_at'])
      .where((eb) =>
        eb.and([
          eb.ref('s.enabled'),
          eb.exists(
            eb
              .selectFrom('webhook_messages as m')
              .select(sql<number>`1`.as('one'))
              .whereRef('m.tenant_id', '=', 's.tenant_id')
              .whereRef('m.endpoint_id', '=', 's.endpoint_id')
              .whereRef('m.seq', '>', 's.delivered_seq'),
          ),
        ]),
      ),
    'sigid_webhook_due',
  );
  return rows;
}

/**
 * The subscription (still enabled? which URL? the head's retry state) and the next `limit` messages
 * past its cursor (or past `afterSeq`, what the lane sent and is still saving), in one round trip.
 * The messages come as one JSON array: one JSON.parse instead of a row to parse per message.
 */
export async function readLane(
  db: Database,
  tenantId: string,
  endpointId: string,
  afterSeq: number,
  limit: number,
): Promise<Lane | undefined> {
  const { rows } = await run(
    db,
    build
      .selectFrom('webhook_subscriptions as s')
      .select(['s.url', 's.enabled', 's.failing_since', 's.delivered_seq', 's.head_attempts', 's.next_attempt_at'])
      .select((eb) => {
        const queue = eb
          .selectFrom('webhook_messages as q')
          .select(['q.seq', 'q.message_id', 'q.event_id', 'q.event_position', 'q.event_type'])
          .whereRef('q.tenant_id', '=', 's.tenant_id')
          .whereRef('q.endpoint_id', '=', 's.endpoint_id')
          .where('q.seq', '>', eb.fn<number>('greatest', [eb.ref('s.delivered_seq'), eb.val(afterSeq)]))
          .orderBy('q.seq')
          .limit(limit)
          .as('m');
        return sql<QueuedMessage[]>`(select coalesce(json_agg(m order by m.seq), '[]') from ${queue})`.as('queue');
      })
      .where('s.tenant_id', '=', tenantId)
      .where('s.endpoint_id', '=', endpointId),
    'sigid_webhook_lane',
  );
  return rows[0];
}

/**
 * One statement for a round of batches (of any endpoints): the attempt log, the messages given up,
 * each endpoint's cursor, head state and health; returns each endpoint's row as saved (absent: the
 * endpoint is gone). The cursor and the attempts are saved together, so an attempt number is never
 * saved twice; if a crash of PostgreSQL undoes them, those batches are sent again and logged then
 * (see queryUnflushed). Message rows are not touched, but for a message given up. Kept as SQL (one
 * statement per round is the dispatcher's throughput), its tables and columns checked by `table`
 * and `columns` against the table types.
 */
export async function saveBatches(db: Database, batches: BatchJson[]): Promise<Map<string, Saved>> {
  const attempts = table('webhook_attempts');
  const messages = table('webhook_messages');
  const subscriptions = table('webhook_subscriptions');
  const statement = sql<Saved & { endpoint_id: string }>`
    with b as (
      select * from jsonb_to_recordset(${JSON.stringify(batches)}::jsonb)
        as b(tenant text, endpoint text, seq bigint, head int, next float8, failing float8, recovered boolean,
             given text[], attempts jsonb)
    ),
    attempts as (
      insert into ${attempts} (${columns('webhook_attempts', [
        'tenant_id',
        'message_id',
        'attempt',
        'endpoint_id',
        'attempted_at',
        'outcome',
        'response_status',
        'latency_ms',
        'response_body',
        'error',
        'next_attempt_at',
      ])})
      select b.tenant, u.m, u.a, b.endpoint, to_timestamp(u.t / 1000),
             case when u.ok then 'succeeded' else 'failed' end, u.s, u.l, u.b, u.e, to_timestamp(u.n / 1000)
      from b cross join lateral jsonb_to_recordset(b.attempts)
        as u(m text, a int, t float8, ok boolean, n float8, s int, l int, b text, e text)
    ),
    given_up as (
      update ${messages} m set ${column('webhook_messages', 'outcome')} = 'failed',
                               ${column('webhook_messages', 'finished_at')} = now()
      from (select b.tenant, unnest(b.given) as message_id from b where b.given is not null) g
      where m.tenant_id = g.tenant and m.message_id = g.message_id
    ),
    saved as (
      update ${subscriptions} s
      set ${column('webhook_subscriptions', 'delivered_seq')} = greatest(s.delivered_seq, b.seq),
          ${column('webhook_subscriptions', 'head_attempts')} = b.head,
          ${column('webhook_subscriptions', 'next_attempt_at')} = to_timestamp(b.next / 1000),
          ${column('webhook_subscriptions', 'failing_since')} = case when b.failing is null then null
                               when b.recovered then to_timestamp(b.failing / 1000)
                               else coalesce(s.failing_since, to_timestamp(b.failing / 1000)) end
      from b
      where s.tenant_id = b.tenant and s.endpoint_id = b.endpoint
      returning s.endpoint_id, s.enabled, s.url, s.failing_since
    )
    select * from saved`.compile(build);
  const { rows } = await db.queryUnflushed<Saved & { endpoint_id: string }>(
    statement.sql,
    statement.parameters as unknown[],
    'sigid_webhook_record',
  );
  return new Map(rows.map((row) => [row.endpoint_id, row]));
}

/** Stops an endpoint's deliveries at once (the `webhook.endpoint.disabled` appended next says the same). */
export async function stopEndpoint(db: Database, tenantId: string, endpointId: string): Promise<void> {
  await run(
    db,
    build
      .updateTable('webhook_subscriptions')
      .set({ enabled: false })
      .where('tenant_id', '=', tenantId)
      .where('endpoint_id', '=', endpointId),
  );
}
