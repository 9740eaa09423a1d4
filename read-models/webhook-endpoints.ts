import type { Insertable, Kysely, Selectable } from 'kysely';
import { narrow } from './narrow.ts';

export const tableName = 'webhook_endpoints';

export type WebhookEndpointStatus = 'enabled' | 'disabled';

export interface WebhookEndpointsTable {
  tenant_id: string;
  endpoint_id: string;
  url: string;
  /** JSON array of event type patterns (`*`, `agent.*`, `tenant.renamed`). */
  event_types: string[];
  description: string | null;
  status: WebhookEndpointStatus;
  disabled_reason: string | null;
  disabled_detail: string | null;
  disabled_at: Date | null;
  secret_id: string;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type NewWebhookEndpointRow = Insertable<WebhookEndpointsTable>;

/** The database as far as this table goes. */
export type WebhookEndpointsModel = { [tableName]: WebhookEndpointsTable };

export function findWebhookEndpoint<DB extends WebhookEndpointsModel>(
  db: Kysely<DB>,
  tenantId: string,
  endpointId: string,
): Promise<WebhookEndpointRow | undefined> {
  return narrow<WebhookEndpointsModel>(db)
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('endpoint_id', '=', endpointId)
    .executeTakeFirst();
}

export function listWebhookEndpoints<DB extends WebhookEndpointsModel>(
  db: Kysely<DB>,
  tenantId: string,
  options: { limit: number; after?: string | undefined },
): Promise<WebhookEndpointRow[]> {
  let query = narrow<WebhookEndpointsModel>(db)
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('endpoint_id')
    .limit(options.limit);
  if (options.after) query = query.where('endpoint_id', '>', options.after);
  return query.execute();
}
