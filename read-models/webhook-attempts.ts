import type { Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'webhook_attempts';

/** The delivery log: one row per HTTP attempt, with what the receiver answered (body truncated). */
export interface WebhookAttemptsTable {
  tenant_id: string;
  message_id: string;
  attempt: number;
  endpoint_id: string;
  attempted_at: Date;
  outcome: 'succeeded' | 'failed';
  response_status: number | null;
  latency_ms: number;
  response_body: string | null;
  error: string | null;
  next_attempt_at: Date | null;
}

export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
export type NewWebhookAttemptRow = Insertable<WebhookAttemptsTable>;

/** The database as far as this table goes (worker state: the dispatcher writes it). */
export type WebhookAttemptsModel = { [tableName]: WebhookAttemptsTable };

/** A message's attempts, first to last. */
export function listMessageAttempts<DB extends WebhookAttemptsModel>(
  db: Kysely<DB>,
  tenantId: string,
  messageId: string,
): Promise<WebhookAttemptRow[]> {
  return narrow<WebhookAttemptsModel>(db)
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('message_id', '=', messageId)
    .orderBy('attempt')
    .execute();
}

/** An endpoint's attempts, newest first. */
export function listEndpointAttempts<DB extends WebhookAttemptsModel>(
  db: Kysely<DB>,
  tenantId: string,
  endpointId: string,
  options: { limit: number; before?: Date | undefined },
): Promise<WebhookAttemptRow[]> {
  let query = narrow<WebhookAttemptsModel>(db)
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('endpoint_id', '=', endpointId)
    .orderBy('attempted_at', 'desc')
    .orderBy('message_id', 'desc')
    .limit(options.limit);
  if (options.before) query = query.where('attempted_at', '<', options.before);
  return query.execute();
}
