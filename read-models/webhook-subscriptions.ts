import type { Generated, Insertable, Selectable } from 'kysely';

export const tableName = 'webhook_subscriptions';

/**
 * The delivery worker's view of an endpoint, with its queue cursor and the retry state of the message
 * at its head. Worker state: the fan-out builds it from `webhook.endpoint.*` in stream order.
 */
export interface WebhookSubscriptionsTable {
  tenant_id: string;
  endpoint_id: string;
  url: string;
  /** JSON array of event type patterns. */
  event_types: string[];
  enabled: boolean;
  failing_since: Date | null;
  /** Every message of the endpoint with `seq` up to this is finished. */
  delivered_seq: Generated<number>;
  /** Attempts so far of the first unfinished message. */
  head_attempts: Generated<number>;
  /** When that message may be tried again; null: now. */
  next_attempt_at: Date | null;
}

export type WebhookSubscriptionRow = Selectable<WebhookSubscriptionsTable>;
export type NewWebhookSubscriptionRow = Insertable<WebhookSubscriptionsTable>;

/** The database as far as this table goes. */
export type WebhookSubscriptionsModel = { [tableName]: WebhookSubscriptionsTable };
