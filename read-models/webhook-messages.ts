import { type Generated, type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import { narrow } from './narrow.ts';
import type { WebhookAttemptsModel } from './webhook-attempts.ts';
import type { WebhookSubscriptionsModel } from './webhook-subscriptions.ts';

export const tableName = 'webhook_messages';

/** `stream`: fanned out from the event stream; `redelivery` and `replay`: asked for by an admin. */
export type WebhookMessageOrigin = 'stream' | 'redelivery' | 'replay';
/** `failed`: every attempt failed (or the receiver refused it for good); `cancelled`: the endpoint was deleted. */
export type WebhookMessageStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

/**
 * The delivery queue: one row per (endpoint, event) to deliver, in `seq` order per endpoint. Rows are
 * written once; `outcome` only when a message ends otherwise than delivered. Whether it was delivered
 * is told by the endpoint's cursor (`webhook_subscriptions.delivered_seq`), what happened at each try
 * by `webhook_attempts`.
 */
export interface WebhookMessagesTable {
  tenant_id: string;
  message_id: string;
  seq: Generated<number>;
  endpoint_id: string;
  event_id: string;
  event_position: number;
  event_type: string;
  origin: WebhookMessageOrigin;
  outcome: 'failed' | 'cancelled' | null;
  created_at: Generated<Date>;
  finished_at: Date | null;
}

export type NewWebhookMessageRow = Insertable<WebhookMessagesTable>;

/** The database as far as this table goes (worker state: the fan-out and the admin API fill it). */
export type WebhookMessagesModel = { [tableName]: WebhookMessagesTable };

/** What the delivery log reads: the queue, its cursors and the attempts. */
type DeliveryLog = WebhookMessagesModel & WebhookSubscriptionsModel & WebhookAttemptsModel;

/** A message as the delivery log shows it: its row, its status and its last attempt. */
export interface WebhookMessageRow extends Omit<Selectable<WebhookMessagesTable>, 'outcome'> {
  status: WebhookMessageStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_response_status: number | null;
  last_error: string | null;
}

/** A message's status: its `outcome` when it ended otherwise, else where it stands against the cursor. */
// A deleted endpoint's unfinished messages were cancelled with it: the rest were delivered.
const status = sql<WebhookMessageStatus>`coalesce(m.outcome,
  case when s.delivered_seq is null or m.seq <= s.delivered_seq then 'delivered' else 'pending' end)`;

function messages<DB extends DeliveryLog>(db: Kysely<DB>, tenantId: string, endpointId: string) {
  return narrow<DeliveryLog>(db)
    .selectFrom('webhook_messages as m')
    .leftJoin('webhook_subscriptions as s', (join) =>
      join.onRef('s.tenant_id', '=', 'm.tenant_id').onRef('s.endpoint_id', '=', 'm.endpoint_id'),
    )
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('webhook_attempts as a')
          .select(['a.attempt', 'a.attempted_at', 'a.response_status', 'a.error'])
          .whereRef('a.tenant_id', '=', 'm.tenant_id')
          .whereRef('a.message_id', '=', 'm.message_id')
          .orderBy('a.attempt', 'desc')
          .limit(1)
          .as('last'),
      (join) => join.onTrue(),
    )
    .select([
      'm.tenant_id',
      'm.message_id',
      'm.seq',
      'm.endpoint_id',
      'm.event_id',
      'm.event_position',
      'm.event_type',
      'm.origin',
      'm.created_at',
      status.as('status'),
      sql<number>`coalesce(last.attempt, 0)`.as('attempts'),
      // Only the message at the head of the queue is being tried; the others wait their turn.
      sql<Date | null>`case when ${status} = 'pending' and last.attempt is not null
                            then coalesce(s.next_attempt_at, now()) end`.as('next_attempt_at'),
      sql<Date | null>`coalesce(m.finished_at, case when ${status} = 'delivered' then last.attempted_at end)`.as(
        'finished_at',
      ),
      'last.attempted_at as last_attempt_at',
      'last.response_status as last_response_status',
      'last.error as last_error',
    ])
    .where('m.tenant_id', '=', tenantId)
    .where('m.endpoint_id', '=', endpointId);
}

export async function findWebhookMessage<DB extends DeliveryLog>(
  db: Kysely<DB>,
  tenantId: string,
  endpointId: string,
  messageId: string,
): Promise<WebhookMessageRow | undefined> {
  return (await messages(db, tenantId, endpointId).where('m.message_id', '=', messageId).executeTakeFirst()) as
    | WebhookMessageRow
    | undefined;
}

/** An endpoint's messages, newest first, paged by `seq`. */
export async function listWebhookMessages<DB extends DeliveryLog>(
  db: Kysely<DB>,
  tenantId: string,
  endpointId: string,
  options: { limit: number; beforeSeq?: number | undefined; status?: WebhookMessageStatus | undefined },
): Promise<WebhookMessageRow[]> {
  let query = messages(db, tenantId, endpointId).orderBy('m.seq', 'desc').limit(options.limit);
  if (options.beforeSeq !== undefined) query = query.where('m.seq', '<', options.beforeSeq);
  if (options.status) query = query.where(status, '=', options.status);
  return (await query.execute()) as WebhookMessageRow[];
}
