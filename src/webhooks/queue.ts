import { sql } from 'kysely';
import { matchesEventType } from '../../events/webhook.ts';
import type { Database, Queryable } from '../db/database.ts';
import { build, run } from '../db/typed-query.ts';
import type { EventLog } from '../event-log.ts';
import { newId } from '../ids.ts';

/** Most events one replay request queues; the answer says where to continue from. */
export const REPLAY_LIMIT = 10_000;

/**
 * Takes the queues of these endpoints for the rest of the transaction, before it adds messages to
 * them. The dispatcher reads an endpoint's queue past its cursor in `seq` order, so messages must
 * become visible in `seq` order per endpoint: a message committed with a lower `seq` after the cursor
 * passed a higher one would never be sent. Writers to one queue therefore go one at a time (each draws
 * its `seq` values after taking the lock, and commits before the next one draws). Locked in one order,
 * so two writers never deadlock.
 */
export async function lockQueues(tx: Queryable, endpoints: Array<{ tenantId: string; endpointId: string }>) {
  if (endpoints.length === 0) return;
  await run(
    tx,
    build
      .selectFrom('webhook_subscriptions')
      .select(sql<number>`1`.as('locked'))
      .where(
        sql<boolean>`(tenant_id, endpoint_id) in (select * from unnest(${endpoints.map((endpoint) => endpoint.tenantId)}::text[],
                                                                   ${endpoints.map((endpoint) => endpoint.endpointId)}::text[]))`,
      )
      .orderBy('tenant_id')
      .orderBy('endpoint_id')
      .forNoKeyUpdate(),
  );
}

/**
 * Queues one event again for one endpoint, at the end of its queue. The message carries the same
 * event, so the same `webhook-id`: a receiver that already has it can tell.
 */
export async function enqueueRedelivery(
  db: Database,
  message: { tenantId: string; endpointId: string; eventId: string; eventPosition: number; eventType: string },
): Promise<string> {
  const messageId = newId('msg');
  await db.transaction(async (tx) => {
    await lockQueues(tx, [message]);
    await run(
      tx,
      build.insertInto('webhook_messages').values({
        tenant_id: message.tenantId,
        message_id: messageId,
        endpoint_id: message.endpointId,
        event_id: message.eventId,
        event_position: message.eventPosition,
        event_type: message.eventType,
        origin: 'redelivery',
        outcome: null,
        finished_at: null,
      }),
    );
  });
  return messageId;
}

/**
 * Queues, for one endpoint, every event of its tenant that its subscription matches since a time or
 * after a position, up to the head as it is now and at most REPLAY_LIMIT events, in stream order.
 */
export async function enqueueReplay(
  db: Database,
  log: EventLog,
  input: {
    tenantId: string;
    endpointId: string;
    eventTypes: readonly string[];
    since?: Date | undefined;
    afterPosition?: number | undefined;
  },
): Promise<{ enqueued: number; lastPosition: number | null; truncated: boolean }> {
  const head = await log.store.headPosition();
  let after = input.afterPosition ?? 0;
  let enqueued = 0;
  let lastPosition: number | null = null;
  while (after < head && enqueued < REPLAY_LIMIT) {
    const page = await log.store.readAll({
      tenantId: input.tenantId,
      after,
      before: head + 1,
      limit: 1000,
      ...(input.since ? { since: input.since } : {}),
    });
    const matching = page.events
      .filter((event) => matchesEventType(input.eventTypes, event.type))
      .slice(0, REPLAY_LIMIT - enqueued);
    if (matching.length > 0) {
      await db.transaction(async (tx) => {
        await lockQueues(tx, [input]);
        await run(
          tx,
          build
            .insertInto('webhook_messages')
            .columns(['tenant_id', 'message_id', 'endpoint_id', 'event_id', 'event_position', 'event_type', 'origin'])
            .expression(
              sql`select ${input.tenantId}, u.message_id, ${input.endpointId}, u.event_id, u.event_position,
                         u.event_type, 'replay'
                  from unnest(${matching.map(() => newId('msg'))}::text[], ${matching.map((event) => event.id)}::uuid[],
                              ${matching.map((event) => event.position)}::bigint[],
                              ${matching.map((event) => event.type)}::text[]) with ordinality
                         as u(message_id, event_id, event_position, event_type, ord)
                  order by u.ord`,
            ),
        );
      });
      enqueued += matching.length;
      lastPosition = (matching[matching.length - 1] as { position: number }).position;
    }
    if (page.events.length < 1000) break;
    after = page.checkpoint;
  }
  return { enqueued, lastPosition, truncated: enqueued >= REPLAY_LIMIT };
}
