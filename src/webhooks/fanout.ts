import type { Logger } from 'pino';
import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import { matchesEventType, type WebhookEvent } from '../../events/webhook.ts';
import type { Database, Queryable } from '../db/database.ts';
import type { EventLog } from '../event-log.ts';
import type { StoredEvent } from '../event-store/port.ts';
import { sleep } from '../event-store/subscription.ts';
import { newId } from '../ids.ts';
import { lockQueues } from './queue.ts';

const CHECKPOINT = 'fanout';
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

  async #run(): Promise<void> {
    const signal = this.#controller.signal;
    while (!signal.aborted) {
      const release = await this.#db.tryLock('webhooks:fanout').catch((error: unknown) => {
        this.#logger?.error({ err: error }, 'webhook fan-out lock failed');
        return null;
      });
      if (!release) {
        await sleep(this.#pollMs * 2, signal);
        continue;
      }
      try {
        while (!signal.aborted) {
          const moved = await this.step();
          if (!moved) await this.#log.store.waitForAppend(this.#pollMs, signal);
        }
      } catch (error) {
        if (!signal.aborted) {
          this.#logger?.error({ err: error }, 'webhook fan-out stopped; restarting');
          await sleep(this.#pollMs, signal);
        }
      } finally {
        await release();
      }
    }
  }

  /** Where the fan-out has read up to. */
  async checkpoint(): Promise<number> {
    const { rows } = await this.#db.query<{ position: number }>(
      'select position from webhook_checkpoints where name = $1',
      [CHECKPOINT],
    );
    return rows[0]?.position ?? 0;
  }

  /** Fans out one page of the stream; false when there was nothing new. */
  async step(): Promise<boolean> {
    const from = await this.checkpoint();
    const page = await this.#log.store.readAll({ after: from, limit: BATCH_SIZE, direction: 'forwards' });
    if (page.events.length === 0 && page.checkpoint <= from) return false;
    const events = page.events.filter((event) => event.tenantId !== PLATFORM_TENANT);
    // Decoded outside the transaction (on PGlite a query inside it through another handle would wait on it).
    const endpointEvents = new Map<string, WebhookEvent>();
    for (const event of events) {
      if (event.type.startsWith('webhook.endpoint.')) {
        endpointEvents.set(event.id, (await this.#log.decode(event)) as unknown as WebhookEvent);
      }
    }
    let enqueued = 0;
    let enabled = false;
    await this.#db.transaction(async (tx) => {
      const { rows } = await tx.query<{ position: number }>(
        'select position from webhook_checkpoints where name = $1 for update',
        [CHECKPOINT],
      );
      if ((rows[0]?.position ?? 0) !== from) throw new Error('the fan-out checkpoint moved: another fan-out runs');
      const subscriptions = await loadSubscriptions(tx, [...new Set(events.map((event) => event.tenantId))]);
      const messages: Array<{ event: StoredEvent; endpointId: string }> = [];
      const deleted: Subscription[] = [];
      for (const event of events) {
        const change = endpointEvents.get(event.id);
        if (change) applyEndpointEvent(subscriptions, event.tenantId, change, deleted);
        if (change?.type === 'webhook.endpoint.enabled') enabled = true;
        if (event.type === 'tenant.deleted') {
          // A deleted tenant's endpoints get nothing more, this event included.
          for (const subscription of subscriptions.get(event.tenantId)?.values() ?? []) deleted.push(subscription);
          subscriptions.delete(event.tenantId);
        }
        for (const subscription of subscriptions.get(event.tenantId)?.values() ?? []) {
          if (subscription.enabled && matchesEventType(subscription.event_types, event.type)) {
            messages.push({ event, endpointId: subscription.endpoint_id });
          }
        }
      }
      await saveSubscriptions(tx, subscriptions, deleted);
      enqueued = await insertMessages(tx, messages);
      await tx.query(
        `insert into webhook_checkpoints (name, position, updated_at) values ($1, $2, now())
         on conflict (name) do update set position = excluded.position, updated_at = now()`,
        [CHECKPOINT, page.checkpoint],
      );
    });
    // Queued messages, or an endpoint whose queue may now go out again: tell the dispatcher.
    if (enqueued > 0 || enabled) this.#onEnqueued();
    return true;
  }
}

async function loadSubscriptions(tx: Queryable, tenantIds: string[]): Promise<Map<string, Map<string, Subscription>>> {
  const byTenant = new Map<string, Map<string, Subscription>>();
  if (tenantIds.length === 0) return byTenant;
  const { rows } = await tx.query<Subscription>(
    `select tenant_id, endpoint_id, url, event_types, enabled from webhook_subscriptions
     where tenant_id = any($1::text[]) order by tenant_id, endpoint_id`,
    [tenantIds],
  );
  for (const row of rows) {
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
      await tx.query(
        `insert into webhook_subscriptions (tenant_id, endpoint_id, url, event_types, enabled)
         values ($1, $2, $3, $4::jsonb, $5)
         on conflict (tenant_id, endpoint_id) do update
           set url = excluded.url, event_types = excluded.event_types, enabled = excluded.enabled,
               failing_since = case when excluded.enabled and not webhook_subscriptions.enabled then null
                                    else webhook_subscriptions.failing_since end`,
        [
          subscription.tenant_id,
          subscription.endpoint_id,
          subscription.url,
          JSON.stringify(subscription.event_types),
          subscription.enabled,
        ],
      );
    }
  }
  for (const subscription of deleted) {
    // Its unfinished messages (past its cursor) are cancelled; without the cursor, the rest read as delivered.
    await tx.query(
      `with gone as (delete from webhook_subscriptions where tenant_id = $1 and endpoint_id = $2 returning delivered_seq)
       update webhook_messages set outcome = 'cancelled', finished_at = now()
       where tenant_id = $1 and endpoint_id = $2 and outcome is null and seq > (select delivered_seq from gone)`,
      [subscription.tenant_id, subscription.endpoint_id],
    );
  }
}

async function insertMessages(tx: Queryable, messages: Array<{ event: StoredEvent; endpointId: string }>) {
  if (messages.length === 0) return 0;
  const endpoints = new Map(messages.map((message) => [message.endpointId, message.event.tenantId]));
  await lockQueues(
    tx,
    [...endpoints].map(([endpointId, tenantId]) => ({ tenantId, endpointId })),
  );
  const result = await tx.query(
    `insert into webhook_messages (tenant_id, message_id, endpoint_id, event_id, event_position, event_type, origin)
     select u.tenant_id, u.message_id, u.endpoint_id, u.event_id, u.event_position, u.event_type, 'stream'
     from unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::bigint[], $6::text[])
            with ordinality as u(tenant_id, message_id, endpoint_id, event_id, event_position, event_type, ord)
     order by u.ord
     on conflict (endpoint_id, event_id) where origin = 'stream' do nothing`,
    [
      messages.map((message) => message.event.tenantId),
      messages.map(() => newId('msg')),
      messages.map((message) => message.endpointId),
      messages.map((message) => message.event.id),
      messages.map((message) => message.event.position),
      messages.map((message) => message.event.type),
    ],
  );
  return result.rowCount;
}
