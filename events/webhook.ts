import { z } from 'zod';
import { defineEvent, type EventOf, type Upcaster } from './envelope.ts';

/**
 * What an endpoint subscribes to: `*` (every event), a prefix wildcard such as `agent.*` (every
 * type under `agent.`, at any depth), or one exact type such as `tenant.renamed`.
 */
export const eventTypePatternSchema = z
  .string()
  .max(200)
  .regex(
    /^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$/,
    'an event type such as tenant.renamed, a wildcard such as agent.*, or * for all',
  );

export const webhookUrlSchema = z.string().min(1).max(2048);

const endpointFields = {
  endpoint_id: z.string(),
  url: webhookUrlSchema,
  event_types: z.array(eventTypePatternSchema).min(1),
  description: z.string().nullable(),
};

export const webhookEndpointCreated = defineEvent({
  type: 'webhook.endpoint.created',
  version: 1,
  description:
    'A webhook endpoint was created. Its signing secret is referenced by id only; the secret itself is never in an event.',
  schema: z.object({ ...endpointFields, secret_id: z.string() }),
});

export const webhookEndpointUpdated = defineEvent({
  type: 'webhook.endpoint.updated',
  version: 1,
  description:
    "A webhook endpoint's URL, subscribed event types or description changed; `previous` holds the old values.",
  schema: z.object({
    endpoint_id: z.string(),
    changes: z.object({
      url: endpointFields.url.optional(),
      event_types: endpointFields.event_types.optional(),
      description: endpointFields.description.optional(),
    }),
    previous: z.object({
      url: endpointFields.url.optional(),
      event_types: endpointFields.event_types.optional(),
      description: endpointFields.description.optional(),
    }),
  }),
});

export const disabledReasonSchema = z.enum(['manual', 'gone', 'failing', 'no_signing_secret']);

export const webhookEndpointDisabled = defineEvent({
  type: 'webhook.endpoint.disabled',
  version: 1,
  description:
    'A webhook endpoint stopped receiving deliveries: disabled by an admin (`manual`), by SigID because the receiver answered 410 Gone (`gone`), because it kept failing for the configured period (`failing`), or because it has no usable signing secret left (`no_signing_secret`).',
  schema: z.object({ endpoint_id: z.string(), reason: disabledReasonSchema, detail: z.string().nullable() }),
});

export const webhookEndpointEnabled = defineEvent({
  type: 'webhook.endpoint.enabled',
  version: 1,
  description: 'A disabled webhook endpoint receives deliveries again; messages queued for it resume in order.',
  schema: z.object({ endpoint_id: z.string() }),
});

export const webhookEndpointDeleted = defineEvent({
  type: 'webhook.endpoint.deleted',
  version: 1,
  description: 'A webhook endpoint was deleted; its undelivered messages are dropped and its secrets destroyed.',
  schema: z.object({ endpoint_id: z.string() }),
});

export const webhookEndpointSecretRotated = defineEvent({
  type: 'webhook.endpoint.secret_rotated',
  version: 1,
  description:
    "A webhook endpoint's signing secret was replaced. Until `previous_secret_expires_at` deliveries carry signatures by both secrets.",
  schema: z.object({
    endpoint_id: z.string(),
    secret_id: z.string(),
    previous_secret_id: z.string(),
    previous_secret_expires_at: z.iso.datetime(),
  }),
});

export const webhookEndpointReplayRequested = defineEvent({
  type: 'webhook.endpoint.replay_requested',
  version: 2,
  description:
    'An admin asked for every matching event since a time or a position to be delivered again to one endpoint. The fan-out queues them when it reaches this event: the events of the tenant before it, matching `event_types` (the subscription when asked), at most 10,000.',
  schema: z.object({
    endpoint_id: z.string(),
    /** Null on a request recorded before version 2. */
    replay_id: z.string().nullable(),
    since: z.iso.datetime().nullable(),
    after_position: z.number().int().nonnegative().nullable(),
    /** Null on a request recorded before version 2, whose messages were queued when it was made. */
    event_types: z.array(z.string()).nullable(),
  }),
});

export const webhookMessageRedeliveryRequested = defineEvent({
  type: 'webhook.message.redelivery_requested',
  version: 2,
  description:
    "An admin asked for one webhook message to be delivered again. The fan-out queues `redelivery_message_id` at the end of the endpoint's queue when it reaches this event.",
  schema: z.object({
    endpoint_id: z.string(),
    message_id: z.string(),
    event_id: z.string(),
    /** The new message; null on a request recorded before version 2, queued when it was made. */
    redelivery_message_id: z.string().nullable(),
    event_position: z.number().int().nonnegative().nullable(),
    event_type: z.string().nullable(),
  }),
});

/** Version 1 requests were queued by the request itself; version 2 ones by the fan-out. */
export const webhookUpcasters: readonly Upcaster[] = [
  {
    type: 'webhook.endpoint.replay_requested',
    fromVersion: 1,
    upcast: (data) => ({ ...data, replay_id: null, event_types: null }),
  },
  {
    type: 'webhook.message.redelivery_requested',
    fromVersion: 1,
    upcast: (data) => ({ ...data, redelivery_message_id: null, event_position: null, event_type: null }),
  },
];

export const webhookEvents = [
  webhookEndpointCreated,
  webhookEndpointUpdated,
  webhookEndpointDisabled,
  webhookEndpointEnabled,
  webhookEndpointDeleted,
  webhookEndpointSecretRotated,
  webhookEndpointReplayRequested,
  webhookMessageRedeliveryRequested,
] as const;

export type WebhookEvent = EventOf<(typeof webhookEvents)[number]>;

/** Whether an endpoint subscribed to `patterns` receives an event of `type`. */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  for (const pattern of patterns) {
    if (pattern === '*' || pattern === type) return true;
    if (pattern.endsWith('.*') && type.startsWith(pattern.slice(0, -1))) return true;
  }
  return false;
}
