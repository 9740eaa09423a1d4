import { sql } from 'kysely';
import type { Logger } from 'pino';
import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import { matchesEventType, type WebhookEvent } from '../../events/webhook.ts';
import type { WebhookMessageOrigin } from '../../read-models/webhook-messages.ts';
import type { Database, Queryable } from '../db/database.ts';
import { build, run } from '../db/typed-query.ts';
import type { EventLog } from '../event-log.ts';
import type { StoredEvent } from '../event-store/port.ts';
import { newId } from '../ids.ts';
import { runWorkerLoop } from '../worker-loop.ts';
import { type ReplayedEvent, replaySelection } from './queue.ts';

/** The fan-out's row in `projection_checkpoints`, the one checkpoint table. */
export const FANOUT_CHECKPOINT = 'webhook_fanout';
const BATCH_SIZE = 500;

interface Subscription {
  tenant_id: string;
  endpoint_id: string;
  url: string;
  event_types: string[];
  enabled: boolean;
  /** Changed by this page: to be written back. */
  dirty?: 'upsert' | 'delete';
}

/**
 * The fan-out: an event-store subscription with its own checkpoint that turns each event into one
 * queued message per endpoint subscribed to it. It keeps its own view of the endpoints
 * (`webhook_subscriptions`), built from the `webhook.endpoint.*` events it reads in stream order, so
 * an endpoint receives exactly the events after its creation while it is enabled, whatever the
 * read-model projections' lag. Messages and the new checkpoint are written in one transaction: a
 * crash never loses an event nor queues it twice. An advisory lock keeps it to one process.
 */
export class WebhookFanout {
  readonly #db: Database;
  readonly #log: EventLog;
  readonly #logger: Logger | undefined;
  readonly #pollMs: number;
  readonly #onEnqueued: () => void;
  readonly #controller = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(
    db: Database,
    log: EventLog,
    options: { logger?: Logger | undefined; pollMs: number; onEnqueued: () => void },
  ) {
    this.#db = db;
    this.#log = log;
    this.#logger = options.logger;
    this.#pollMs = options.pollMs;
    this.#onEnqueued = options.onEnqueued;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#loop;
  }

  #run(): Promise<void> {
    return runWorkerLoop({
      db: this.#db,
      lock: 'webhooks:fanout',
      signal: this.#controller.signal,
      lockRetryMs: this.#pollMs * 2,
      restartMs: this.#pollMs,
      logger: this.#logger,
      describe: { worker: 'webhook fan-out' },
      work: async (signal) => {
        while (!signal.aborted) {
          const moved = await this.step();
          if (!moved) await this.#log.store.waitForAppend(this.#pollMs, signal);
        }
      },
    });
  }

  /** Where the fan-out has read up to. */
  async checkpoint(): Promise<number> {
    return readCheckpoint(this.#db, false);
  }

  /** Fans out one page of the stream; false when there was nothing new. */
  async step(): Promise<boolean> {
    const from = await this.checkpoint();
    const page = await this.#log.store.readAll({ after: from, limit: BATCH_SIZE, direction: 'forwards' });
    if (page.events.length === 0 && page.checkpoint <= from) return false;
    let checkpoint = page.checkpoint;
    let events = page.events.filter((event) => event.tenantId !== PLATFORM_TENANT);
    // One replay request per step, at its end: what it queues (up to REPLAY_LIMIT) stays bounded.
    const replayAt = events.findIndex((event) => event.type === 'webhook.endpoint.replay_requested');
    if (replayAt >= 0) {
      events = events.slice(0, replayAt + 1);
      checkpoint = (events[replayAt] as StoredEvent).position;
    }
    // Decoded, and replays selected, outside the transaction (on PGlite a query inside it through
    // another handle would wait on it).
    const webhookEvents = new Map<string, WebhookEvent>();
    for (const event of events) {
      if (event.type.startsWith('webhook.')) {
        webhookEvents.set(event.id, (await this.#log.decode(event)) as unknown as WebhookEvent);
      }
    }
    const replayed = new Map<string, ReplayedEvent[]>();
    for (const event of events) {
      const change = webhookEvents.get(event.id);
      if (change?.type !== 'webhook.endpoint.replay_requested' || change.data.event_types === null) continue;
      const selection = await replaySelection(this.#log.store, {
        tenantId: event.tenantId,
        eventTypes: change.data.event_types,
        since: change.data.since === null ? null : new Date(change.data.since),
        afterPosition: change.data.after_position,
        before: event.position,
      });
      replayed.set(event.id, selection.events);
    }
    let enqueued = 0;
    let enabled = false;
    await this.#db.transaction(async (tx) => {
      if ((await readCheckpoint(tx, true)) !== from)
        throw new Error('the fan-out checkpoint moved: another fan-out runs');
      const subscriptions = await loadSubscriptions(tx, [...new Set(events.map((event) => event.tenantId))]);
      const messages: QueuedMessage[] = [];
      const deleted: Subscription[] = [];
      for (const event of events) {
        const change = webhookEvents.get(event.id);
        if (change) {
          applyEndpointEvent(subscriptions, event.tenantId, change, deleted);
          if (change.type === 'webhook.endpoint.enabled') enabled = true;
          messages.push(...requestedMessages(subscriptions, event.tenantId, change, replayed.get(event.id)));
        }
        if (event.type === 'tenant.deleted') {
          // A deleted tenant's endpoints get nothing more, this event included.
          for (const subscription of subscriptions.get(event.tenantId)?.values() ?? []) deleted.push(subscription);
          subscriptions.delete(event.tenantId);
        }
        for (const subscription of subscriptions.get(event.tenantId)?.values() ?? []) {
          if (subscription.enabled && matchesEventType(subscription.event_types, event.type)) {
            messages.push({
              tenantId: event.tenantId,
              endpointId: subscription.endpoint_id,
              messageId: newId('msg'),
              event: { id: event.id, position: event.position, type: event.type },
              origin: 'stream',
            });
          }
        }
      }
      await saveSubscriptions(tx, subscriptions, deleted);
      enqueued = await insertMessages(tx, messages);
      await run(
        tx,
        build
          .insertInto('projection_checkpoints')
          .values({ name: FANOUT_CHECKPOINT, version: 1, position: checkpoint, updated_at: sql`now()` })
          .onConflict((oc) => oc.column('name').doUpdateSet({ position: checkpoint, updated_at: sql`now()` })),
      );
    });
    // Queued messages, or an endpoint whose queue may now go out again: tell the dispatcher.
    if (enqueued > 0 || enabled) this.#onEnqueued();
    return true;
  }

  /**
   * Resolves once the fan-out (in this process or another) has passed `position`, or after
   * `timeoutMs`; true if it has. A redelivery or replay is queued when the fan-out reaches its event.
   */
  async reached(position: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.checkpoint()) >= position) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  }
}

interface QueuedMessage {
  tenantId: string;
  endpointId: string;
  messageId: string;
  event: ReplayedEvent;
  origin: WebhookMessageOrigin;
}

/**
 * The messages an admin's request queues, when the fan-out reaches its event: the one message of a
 * redelivery (under the id the request chose and answered with), the selected events of a replay.
 * Requests recorded before version 2 were queued by the request itself; a deleted endpoint gets none.
 */
function requestedMessages(
  subscriptions: Map<string, Map<string, Subscription>>,
  tenantId: string,
  change: WebhookEvent,
  replayed: ReplayedEvent[] | undefined,
): QueuedMessage[] {
  if (change.type === 'webhook.message.redelivery_requested') {
    const { endpoint_id, redelivery_message_id, event_id, event_position, event_type } = change.data;
    if (redelivery_message_id === null || event_position === null || event_type === null) return [];
    if (!subscriptions.get(tenantId)?.has(endpoint_id)) return [];
    return [
      {
        tenantId,
        endpointId: endpoint_id,
        messageId: redelivery_message_id,
        event: { id: event_id, position: event_position, type: event_type },
        origin: 'redelivery',
      },
    ];
  }
  if (change.type === 'webhook.endpoint.replay_requested' && replayed) {
    if (!subscriptions.get(tenantId)?.has(change.data.endpoint_id)) return [];
    return replayed.map((event) => ({
      tenantId,
      endpointId: change.data.endpoint_id,
      messageId: newId('msg'),
      event,
      origin: 'replay' as const,
    }));
  }
  return [];
}

/** The fan-out's checkpoint; `forUpdate` holds its row for the rest of the transaction. */
async function readCheckpoint(on: Queryable, forUpdate: boolean): Promise<number> {
  const query = build.selectFrom('projection_checkpoints').select('position').where('name', '=', FANOUT_CHECKPOINT);
  const { rows } = await run(on, forUpdate ? query.forUpdate() : query);
  return rows[0]?.position ?? 0;
}

async function loadSubscriptions(tx: Queryable, tenantIds: string[]): Promise<Map<string, Map<string, Subscription>>> {
  const byTenant = new Map<string, Map<string, Subscription>>();
  if (tenantIds.length === 0) return byTenant;
  const { rows } = await run(
    tx,
    build
      .selectFrom('webhook_subscriptions')
      .select(['tenant_id', 'endpoint_id', 'url', 'event_types', 'enabled'])
      .where('tenant_id', '=', sql<string>`any(${tenantIds}::text[])`)
      .orderBy('tenant_id')
      .orderBy('endpoint_id'),
  );
  for (const row of rows as Subscription[]) {
    const map = byTenant.get(row.tenant_id) ?? new Map<string, Subscription>();
    byTenant.set(row.tenant_id, map);
    map.set(row.endpoint_id, row);
  }
  return byTenant;
}

function applyEndpointEvent(
  subscriptions: Map<string, Map<string, Subscription>>,
  tenantId: string,
  event: WebhookEvent,
  deleted: Subscription[],
): void {
  const tenant = subscriptions.get(tenantId) ?? new Map<string, Subscription>();
  subscriptions.set(tenantId, tenant);
  const endpointId = event.data.endpoint_id;
  const current = tenant.get(endpointId);
  switch (event.type) {
    case 'webhook.endpoint.created':
      tenant.set(endpointId, {
        tenant_id: tenantId,
        endpoint_id: endpointId,
        url: event.data.url,
        event_types: event.data.event_types,
        enabled: true,
        dirty: 'upsert',
      });
      return;
    case 'webhook.endpoint.updated':
      if (!current) return;
      if (event.data.changes.url !== undefined) current.url = event.data.changes.url;
      if (event.data.changes.event_types !== undefined) current.event_types = event.data.changes.event_types;
      current.dirty = 'upsert';
      return;
    case 'webhook.endpoint.disabled':
    case 'webhook.endpoint.enabled':
      if (!current) return;
      current.enabled = event.type === 'webhook.endpoint.enabled';
      current.dirty = 'upsert';
      return;
    case 'webhook.endpoint.deleted':
      if (!current) return;
      tenant.delete(endpointId);
      deleted.push(current);
      return;
    case 'webhook.endpoint.secret_rotated':
    case 'webhook.endpoint.replay_requested':
    case 'webhook.message.redelivery_requested':
      return;
    default: {
      const unhandled: never = event;
      throw new Error(`unhandled webhook event ${String(unhandled)}`);
    }
  }
}

async function saveSubscriptions(
  tx: Queryable,
  subscriptions: Map<string, Map<string, Subscription>>,
  deleted: Subscription[],
): Promise<void> {
  for (const tenant of subscriptions.values()) {
    for (const subscription of tenant.values()) {
      if (subscription.dirty !== 'upsert') continue;
      // `enabled` is also switched off by the dispatcher the moment it disables an endpoint; the event
      // it appends then arrives here and says the same.
      await run(
        tx,
        build
          .insertInto('webhook_subscriptions')
          .values({
            tenant_id: subscription.tenant_id,
            endpoint_id: subscription.endpoint_id,
            url: subscription.url,
            event_types: sql<string[]>`${JSON.stringify(subscription.event_types)}::jsonb`,
            enabled: subscription.enabled,
            failing_since: null,
            next_attempt_at: null,
          })
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'endpoint_id']).doUpdateSet((eb) => ({
              url: eb.ref('excluded.url'),
              event_types: eb.ref('excluded.event_types'),
              enabled: eb.ref('excluded.enabled'),
              failing_since: eb
                .case()
                .when(eb.and([eb.ref('excluded.enabled'), eb.not(eb.ref('webhook_subscriptions.enabled'))]))
                .then(null)
                .else(eb.ref('webhook_subscriptions.failing_since'))
                .end(),
            })),
          ),
      );
    }
  }
  for (const subscription of deleted) {
    // Its unfinished messages (past its cursor) are cancelled; without the cursor, the rest read as delivered.
    await run(
      tx,
      build
        .with('gone', (db) =>
          db
            .deleteFrom('webhook_subscriptions')
            .where('tenant_id', '=', subscription.tenant_id)
            .where('endpoint_id', '=', subscription.endpoint_id)
            .returning('delivered_seq'),
        )
        .updateTable('webhook_messages')
        .set({ outcome: 'cancelled', finished_at: sql`now()` })
        .where('tenant_id', '=', subscription.tenant_id)
        .where('endpoint_id', '=', subscription.endpoint_id)
        .where('outcome', 'is', null)
        .where('seq', '>', (eb) => eb.selectFrom('gone').select('delivered_seq')),
    );
  }
}

async function insertMessages(tx: Queryable, queued: QueuedMessage[]) {
  if (queued.length === 0) return 0;
  // A retried redelivery request records its message id twice: the message is queued once.
  const redeliveries = queued.filter((message) => message.origin === 'redelivery');
  const existing = new Set<string>();
  if (redeliveries.length > 0) {
    const { rows } = await run(
      tx,
      build
        .selectFrom('webhook_messages')
        .select('message_id')
        .where(
          sql<boolean>`(tenant_id, message_id) in (select * from unnest(${redeliveries.map((message) => message.tenantId)}::text[],
                                                                      ${redeliveries.map((message) => message.messageId)}::text[]))`,
        ),
    );
    for (const row of rows) existing.add(row.message_id);
  }
  const messages = queued.filter((message) => {
    if (message.origin !== 'redelivery') return true;
    if (existing.has(message.messageId)) return false;
    existing.add(message.messageId);
    return true;
  });
  if (messages.length === 0) return 0;
  // The fan-out is the queue's one writer, and its transactions go one at a time (each holds the
  // checkpoint row): `seq` values become visible in order, so the dispatcher's cursor skips none.
  const result = await run(
    tx,
    build
      .insertInto('webhook_messages')
      .columns(['tenant_id', 'message_id', 'endpoint_id', 'event_id', 'event_position', 'event_type', 'origin'])
      .expression(
        sql`select u.tenant_id, u.message_id, u.endpoint_id, u.event_id, u.event_position, u.event_type, u.origin
            from unnest(${messages.map((message) => message.tenantId)}::text[],
                        ${messages.map((message) => message.messageId)}::text[],
                        ${messages.map((message) => message.endpointId)}::text[],
                        ${messages.map((message) => message.event.id)}::uuid[],
                        ${messages.map((message) => message.event.position)}::bigint[],
                        ${messages.map((message) => message.event.type)}::text[],
                        ${messages.map((message) => message.origin)}::text[])
                   with ordinality as u(tenant_id, message_id, endpoint_id, event_id, event_position, event_type, origin, ord)
            order by u.ord`,
      )
      .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).where(sql<boolean>`origin = 'stream'`).doNothing()),
  );
  return result.rowCount;
}
