import type { Kysely, Selectable } from 'kysely';
import type { ReadModels } from './database.ts';

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

export function findWebhookEndpoint(
  db: Kysely<ReadModels>,
  tenantId: string,
  endpointId: string,
): Promise<WebhookEndpointRow | undefined> {
  return db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('endpoint_id', '=', endpointId)
    .executeTakeFirst();
}

export function listWebhookEndpoints(
  db: Kysely<ReadModels>,
  tenantId: string,
  options: { limit: number; after?: string | undefined },
): Promise<WebhookEndpointRow[]> {
  let query = db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('endpoint_id')
    .limit(options.limit);
  if (options.after) query = query.where('endpoint_id', '>', options.after);
  return query.execute();
}
