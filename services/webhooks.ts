import { type WebhookCommand, webhookEndpointAggregate } from '../commands/webhook.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import type { WebhookEvent } from '../events/webhook.ts';
import type { WebhookEndpointRow } from '../read-models/webhook-endpoints.ts';
import { handleCommand } from '../src/command-handler.ts';
import { UnprocessableError, ValidationError } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import { replaySelection } from '../src/webhooks/queue.ts';
import { storeWebhookSecret } from '../src/webhooks/secrets.ts';
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
  await storeWebhookSecret(sigid.secrets, { tenantId: context.tenantId, endpointId, secretId, secret });
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

/**
 * Deletes an endpoint for good: one append. Its signing secrets are deleted by the `secrets` reactor
 * from that event (in its checkpoint's transaction), so a crash right after the append loses nothing.
 */
export async function deleteWebhookEndpoint(sigid: Sigid, endpointId: string, context: Change): Promise<Written> {
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpointId,
    { type: 'delete_endpoint' },
    context,
  );
  failpoint('webhook.endpoint.deleted');
  return written;
}

/**
 * Replaces an endpoint's signing secret; the previous one keeps signing for `overlapMs`
 * (default SIGID_WEBHOOK_SECRET_OVERLAP). Returns the new secret, shown once. The new secret is
 * stored inactive; the `secrets` reactor activates it from `secret_rotated` and expires the older
 * ones, decided by the event's order — so concurrent rotations each leave a working current secret.
 */
export async function rotateWebhookSecret(
  sigid: Sigid,
  endpointId: string,
  overlapMs: number | undefined,
  context: UseCase,
): Promise<{ secret: string; previousExpiresAt: Date; written: Written }> {
  const previousExpiresAt = new Date(Date.now() + (overlapMs ?? sigid.config.webhooks.secretOverlapMs));
  const { secretId, secret } = newSecret(context);
  await storeWebhookSecret(sigid.secrets, { tenantId: context.tenantId, endpointId, secretId, secret });
  failpoint('webhook.rotate:after-secret');
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpointId,
    { type: 'rotate_secret', secret_id: secretId, previous_secret_expires_at: previousExpiresAt.toISOString() },
    context,
  );
  return { secret, previousExpiresAt, written };
}

/** How long a request waits to answer with its messages queued; the fan-out queues them regardless. */
const QUEUED_WAIT_MS = 10_000;

/**
 * Records an admin's request to deliver one message again. The event is the whole write: it names
 * the new message, which the fan-out queues at the end of the endpoint's queue when it reaches the
 * event, so a crash after the append still queues it, once. Answers once it is queued (or, if the
 * fan-out is far behind, queued soon: `queued` false).
 */
export async function redeliverWebhookMessage(
  sigid: Sigid,
  endpoint: WebhookEndpointRow,
  message: { message_id: string; event_id: string; event_position: number; event_type: string },
  context: UseCase,
): Promise<{ messageId: string; queued: boolean; written: Written }> {
  const messageId = context.random.id('msg');
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpoint.endpoint_id,
    {
      type: 'request_redelivery',
      message_id: message.message_id,
      event_id: message.event_id,
      redelivery_message_id: messageId,
      event_position: message.event_position,
      event_type: message.event_type,
    },
    context,
  );
  const queued = written.position !== null && (await sigid.webhooks.fanout.reached(written.position, QUEUED_WAIT_MS));
  return { messageId, queued, written };
}

/**
 * Records an admin's request to replay every matching event since a time or a position. The event
 * is the whole write: the fan-out queues the events it selects when it reaches it (a crash after the
 * append still queues them, once); the answer is the same selection, read here.
 */
export async function replayWebhookEvents(
  sigid: Sigid,
  endpoint: WebhookEndpointRow,
  from: { since?: Date | undefined; afterPosition?: number | undefined },
  context: UseCase,
): Promise<{ enqueued: number; lastPosition: number | null; truncated: boolean; written: Written }> {
  if (from.since && from.since.getTime() > Date.now()) throw new ValidationError('`since` is in the future.');
  const replayId = context.random.id('rpl');
  const written = await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpoint.endpoint_id,
    {
      type: 'request_replay',
      replay_id: replayId,
      since: from.since?.toISOString() ?? null,
      after_position: from.afterPosition ?? null,
    },
    context,
  );
  // The request's event, appended now or (a retried request's) by the run that died: the answer is
  // the selection it records, as the fan-out reads it.
  const history = await sigid.log.readStream(webhookEndpointAggregate.stream(endpoint.tenant_id, endpoint.endpoint_id));
  const recorded = history.find(
    (event): event is RecordedEvent<WebhookEvent & { type: 'webhook.endpoint.replay_requested' }> =>
      event.type === 'webhook.endpoint.replay_requested' &&
      (event.data as { replay_id: string | null }).replay_id === replayId,
  );
  if (!recorded?.data.event_types) throw new Error('the replay request was not recorded');
  const { events, truncated } = await replaySelection(sigid.log.store, {
    tenantId: endpoint.tenant_id,
    eventTypes: recorded.data.event_types,
    since: recorded.data.since === null ? null : new Date(recorded.data.since),
    afterPosition: recorded.data.after_position,
    before: recorded.position,
  });
  await sigid.webhooks.fanout.reached(recorded.position, QUEUED_WAIT_MS);
  return { enqueued: events.length, lastPosition: events.at(-1)?.position ?? null, truncated, written };
}
