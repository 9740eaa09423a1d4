import type { Generated, Kysely, Selectable } from 'kysely';
import type { ReadModels } from './database.ts';

export const tableName = 'webhook_messages';

/** `stream`: fanned out from the event stream; `redelivery` and `replay`: asked for by an admin. */
export type WebhookMessageOrigin = 'stream' | 'redelivery' | 'replay';
/** `failed`: every attempt failed (or the receiver refused it for good); `cancelled`: the endpoint was deleted. */
export type WebhookMessageStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

/** The delivery queue: one row per (endpoint, event) to deliver, in `seq` order per endpoint. */
export interface WebhookMessagesTable {
  tenant_id: string;
  message_id: string;
  seq: Generated<number>;
  endpoint_id: string;
  event_id: string;
  event_position: number;
  event_type: string;
  origin: WebhookMessageOrigin;
  status: WebhookMessageStatus;
  attempts: Generated<number>;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_response_status: number | null;
  last_error: string | null;
  created_at: Generated<Date>;
  finished_at: Date | null;
}

export type WebhookMessageRow = Selectable<WebhookMessagesTable>;

export function findWebhookMessage(
  db: Kysely<ReadModels>,
  tenantId: string,
  endpointId: string,
  messageId: string,
): Promise<WebhookMessageRow | undefined> {
  return db
    .selectFrom('webhook_messages')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('endpoint_id', '=', endpointId)
    .where('message_id', '=', messageId)
    .executeTakeFirst();
}

/** An endpoint's messages, newest first, paged by `seq`. */
export function listWebhookMessages(
  db: Kysely<ReadModels>,
  tenantId: string,
  endpointId: string,
  options: { limit: number; beforeSeq?: number | undefined; status?: WebhookMessageStatus | undefined },
): Promise<WebhookMessageRow[]> {
  let query = db
    .selectFrom('webhook_messages')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('endpoint_id', '=', endpointId)
    .orderBy('seq', 'desc')
    .limit(options.limit);
  if (options.beforeSeq !== undefined) query = query.where('seq', '<', options.beforeSeq);
  if (options.status) query = query.where('status', '=', options.status);
  return query.execute();
}
