import { type WebhookCommand, webhookEndpointAggregate } from '../commands/webhook.ts';
import type { WebhookEndpointRow } from '../read-models/webhook-endpoints.ts';
import { handleCommand } from '../src/command-handler.ts';
import { UnprocessableError, ValidationError } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import { enqueueRedelivery, enqueueReplay } from '../src/webhooks/queue.ts';
import { deleteWebhookSecrets, expireOtherSecrets, storeWebhookSecret } from '../src/webhooks/secrets.ts';
import { generateSecret } from '../src/webhooks/signature.ts';
import { checkWebhookUrl, WebhookUrlRefused } from '../src/webhooks/ssrf.ts';
import type { UseCase, Written } from './context.ts';

type Change = UseCase & { ifMatch?: number | undefined };

/** Refuses a URL SigID must not call (SSRF guard): 400 when malformed, 422 when it points inward. */
async function checkUrl(sigid: Sigid, url: string): Promise<void> {
  const { allowlist, resolve } = sigid.config.webhooks;
  try {
    await checkWebhookUrl(url, allowlist, resolve);
  } catch (error) {
    if (!(error instanceof WebhookUrlRefused)) throw error;
    if (error.code === 'invalid_url') throw new ValidationError(error.message);
    throw new UnprocessableError(error.code, error.message);
  }
}

/** A new signing secret and its id (`wss_…`; ids made before were `whsec_<hex>` and still read). */
function newSecret(context: UseCase): { secretId: string; secret: string } {
  return { secretId: context.random.id('wss'), secret: generateSecret((count) => context.random.bytes(count)) };
}

/**
 * Creates an endpoint: checks its URL, makes and stores its signing secret sealed, then records
 * `webhook.endpoint.created` naming only the secret's id. Returns the secret, shown once.
 */
export async function createWebhookEndpoint(
  sigid: Sigid,
  input: { url: string; event_types: string[]; description: string | null },
  context: UseCase,
): Promise<{ endpointId: string; secret: string; written: Written }> {
  await checkUrl(sigid, input.url);
  const endpointId = context.random.id('whk');
  const { secretId, secret } = newSecret(context);
  await storeWebhookSecret(sigid.db, sigid.masterKey, { tenantId: context.tenantId, endpointId, secretId, secret });
  failpoint('webhook.create:after-secret');
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpointId,
    { type: 'create_endpoint', endpoint_id: endpointId, ...input, secret_id: secretId },
    context,
  );
  return { endpointId, secret, written };
}

/** Changes an endpoint's URL (checked again), event types or description. */
export async function updateWebhookEndpoint(
  sigid: Sigid,
  endpointId: string,
  changes: { url?: string | undefined; event_types?: string[] | undefined; description?: string | null | undefined },
  context: Change,
): Promise<Written> {
  if (changes.url !== undefined) await checkUrl(sigid, changes.url);
  const command: WebhookCommand = {
    type: 'update_endpoint',
    ...(changes.url !== undefined ? { url: changes.url } : {}),
    ...(changes.event_types !== undefined ? { event_types: changes.event_types } : {}),
    ...(changes.description !== undefined ? { description: changes.description } : {}),
  };
  return handleCommand(sigid.log, webhookEndpointAggregate, endpointId, command, context);
}

/** Stops deliveries to an endpoint until it is enabled again. */
export function disableWebhookEndpoint(sigid: Sigid, endpointId: string, context: Change): Promise<Written> {
  return handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpointId,
    { type: 'disable_endpoint', reason: 'manual', detail: null },
    context,
  );
}

/** Resumes deliveries, and tells the dispatcher (in any process) there is work. */
export async function enableWebhookEndpoint(sigid: Sigid, endpointId: string, context: Change): Promise<Written> {
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpointId,
    { type: 'enable_endpoint' },
    context,
  );
  await sigid.webhooks.notify();
  return written;
}

/** Deletes an endpoint for good, with its signing secrets. */
export async function deleteWebhookEndpoint(sigid: Sigid, endpointId: string, context: Change): Promise<Written> {
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpointId,
    { type: 'delete_endpoint' },
    context,
  );
  await deleteWebhookSecrets(sigid.db, context.tenantId, endpointId);
  return written;
}

/**
 * Replaces an endpoint's signing secret; the previous one keeps signing for `overlapMs`
 * (default SIGID_WEBHOOK_SECRET_OVERLAP). Returns the new secret, shown once.
 */
export async function rotateWebhookSecret(
  sigid: Sigid,
  endpointId: string,
  overlapMs: number | undefined,
  context: UseCase,
): Promise<{ secret: string; previousExpiresAt: Date; written: Written }> {
  const previousExpiresAt = new Date(Date.now() + (overlapMs ?? sigid.config.webhooks.secretOverlapMs));
  const { secretId, secret } = newSecret(context);
  await storeWebhookSecret(sigid.db, sigid.masterKey, { tenantId: context.tenantId, endpointId, secretId, secret });
  failpoint('webhook.rotate:after-secret');
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpointId,
    { type: 'rotate_secret', secret_id: secretId, previous_secret_expires_at: previousExpiresAt.toISOString() },
    context,
  );
  await expireOtherSecrets(sigid.db, context.tenantId, endpointId, secretId, previousExpiresAt);
  return { secret, previousExpiresAt, written };
}

/** Records an admin's request to deliver one message again, and queues it at the end of the endpoint's queue. */
export async function redeliverWebhookMessage(
  sigid: Sigid,
  endpoint: WebhookEndpointRow,
  message: { message_id: string; event_id: string; event_position: number; event_type: string },
  context: UseCase,
): Promise<{ messageId: string; written: Written }> {
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpoint.endpoint_id,
    { type: 'request_redelivery', message_id: message.message_id, event_id: message.event_id },
    context,
  );
  const messageId = await enqueueRedelivery(sigid.db, {
    tenantId: endpoint.tenant_id,
    endpointId: endpoint.endpoint_id,
    eventId: message.event_id,
    eventPosition: message.event_position,
    eventType: message.event_type,
  });
  return { messageId, written };
}

/** Records an admin's request to replay every matching event since a time or a position, and queues them. */
export async function replayWebhookEvents(
  sigid: Sigid,
  endpoint: WebhookEndpointRow,
  from: { since?: Date | undefined; afterPosition?: number | undefined },
  context: UseCase,
): Promise<{ enqueued: number; lastPosition: number | null; truncated: boolean; written: Written }> {
  if (from.since && from.since.getTime() > Date.now()) throw new ValidationError('`since` is in the future.');
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpoint.endpoint_id,
    { type: 'request_replay', since: from.since?.toISOString() ?? null, after_position: from.afterPosition ?? null },
    context,
  );
  const result = await enqueueReplay(sigid.db, sigid.log, {
    tenantId: endpoint.tenant_id,
    endpointId: endpoint.endpoint_id,
    eventTypes: endpoint.event_types,
    since: from.since,
    afterPosition: from.afterPosition,
  });
  await sigid.webhooks.notify();
  return { ...result, written };
}
