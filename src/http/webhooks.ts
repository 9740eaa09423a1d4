import { type Response, Router } from 'express';
import { z } from 'zod';
import { eventTypePatternSchema } from '../../events/webhook.ts';
import {
  listEndpointAttempts,
  listMessageAttempts,
  type WebhookAttemptRow,
} from '../../read-models/webhook-attempts.ts';
import {
  findWebhookEndpoint,
  listWebhookEndpoints,
  type WebhookEndpointRow,
} from '../../read-models/webhook-endpoints.ts';
import { findWebhookMessage, listWebhookMessages, type WebhookMessageRow } from '../../read-models/webhook-messages.ts';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  disableWebhookEndpoint,
  enableWebhookEndpoint,
  redeliverWebhookMessage,
  replayWebhookEvents,
  rotateWebhookSecret,
  updateWebhookEndpoint,
} from '../../services/webhooks.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema, textSchema } from '../text.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

const urlField = lineSchema.trim().min(1).max(2048);
const eventTypesField = z.array(eventTypePatternSchema).min(1).max(100);
const descriptionField = textSchema.trim().max(500);

/** Exact types must be in the catalog; wildcards may name families that have no event yet (`agent.*`). */
export function bodySchemas(catalog: Sigid['log']['catalog']) {
  const eventTypes = eventTypesField.superRefine((types, context) => {
    types.forEach((type, index) => {
      if (!type.endsWith('*') && !catalog.has(type)) {
        context.addIssue({
          code: 'custom',
          path: [index],
          message: `${type} is not an event type; GET /api/v1/webhooks/event-types lists them`,
        });
      }
    });
  });
  return {
    create: z.strictObject({
      url: urlField,
      event_types: eventTypes,
      description: descriptionField.nullable().optional(),
    }),
    update: z
      .strictObject({
        url: urlField.optional(),
        event_types: eventTypes.optional(),
        description: descriptionField.nullable().optional(),
      })
      .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.'),
  };
}

export const rotateBody = z.strictObject({
  /** How long the old secret keeps signing; default SIGID_WEBHOOK_SECRET_OVERLAP. 0 retires it at once. */
  overlap_seconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .optional(),
});

export const replayBody = z
  .strictObject({
    since: z.iso.datetime({ offset: true }).optional(),
    after_position: z.number().int().min(0).optional(),
  })
  .refine(
    (body) => (body.since === undefined) !== (body.after_position === undefined),
    'Send exactly one of `since` and `after_position`.',
  );

export const messagesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(100).optional(),
  status: z.enum(['pending', 'delivered', 'failed', 'cancelled']).optional(),
});

export const attemptsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z.iso.datetime({ offset: true }).optional(),
});

function endpointJson(row: WebhookEndpointRow) {
  return {
    id: row.endpoint_id,
    object: 'webhook_endpoint',
    url: row.url,
    event_types: row.event_types,
    description: row.description,
    status: row.status,
    disabled_reason: row.disabled_reason,
    disabled_detail: row.disabled_detail,
    disabled_at: row.disabled_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function messageJson(row: WebhookMessageRow) {
  return {
    id: row.message_id,
    object: 'webhook_message',
    endpoint_id: row.endpoint_id,
    event_id: row.event_id,
    event_type: row.event_type,
    event_position: row.event_position,
    origin: row.origin,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.next_attempt_at?.toISOString() ?? null,
    last_attempt_at: row.last_attempt_at?.toISOString() ?? null,
    last_response_status: row.last_response_status,
    last_error: row.last_error,
    created_at: row.created_at.toISOString(),
    finished_at: row.finished_at?.toISOString() ?? null,
  };
}

function attemptJson(row: WebhookAttemptRow) {
  return {
    object: 'webhook_attempt',
    message_id: row.message_id,
    attempt: row.attempt,
    attempted_at: row.attempted_at.toISOString(),
    outcome: row.outcome,
    response_status: row.response_status,
    latency_ms: row.latency_ms,
    response_body: row.response_body,
    error: row.error,
    next_attempt_at: row.next_attempt_at?.toISOString() ?? null,
  };
}

/**
 * `/api/v1/webhooks`: a tenant's webhook endpoints (every change an event, so in the audit log),
 * their signing secrets (shown once, on create and on rotate), the delivery log, redelivery and
 * replay, and the catalog of event types an endpoint can subscribe to.
 */
export function webhooksRouter(sigid: Sigid): Router {
  const router = Router();
  const schemas = bodySchemas(sigid.log.catalog);

  async function loadEndpoint(response: Response, id: string) {
    const row = isId('whk', id) ? await findWebhookEndpoint(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The webhook endpoint');
    return row;
  }

  async function respondWithEndpoint(response: Response, endpointId: string, status = 200, extra = {}) {
    const row = await loadEndpoint(response, endpointId);
    response
      .status(status)
      .set('ETag', etag(row.revision))
      .json({ ...endpointJson(row), ...extra });
  }

  router.get('/event-types', (request, response) => {
    parseQuery(noQuery, request);
    response.json({ object: 'list', data: sigid.log.catalog.describe(), has_more: false, next_cursor: null });
  });

  router.post('/', async (request, response) => {
    const body = parseBody(schemas.create, request);
    const { endpointId, secret, written } = await createWebhookEndpoint(
      sigid,
      { url: body.url, event_types: body.event_types, description: body.description ?? null },
      useCaseOf(request, response),
    );
    await consistent(sigid, request, written);
    response.location(`/api/v1/webhooks/${endpointId}`);
    await respondWithEndpoint(response, endpointId, 201, { secret });
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const rows = await listWebhookEndpoints(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.endpoint_id, endpointJson));
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    await respondWithEndpoint(response, (await loadEndpoint(response, request.params.id)).endpoint_id);
  });

  router.patch('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(schemas.update, request);
    const row = await loadEndpoint(response, request.params.id);
    const written = await updateWebhookEndpoint(sigid, row.endpoint_id, body, {
      ...useCaseOf(request, response),
      ifMatch,
    });
    await consistent(sigid, request, written);
    await respondWithEndpoint(response, row.endpoint_id);
  });

  router.post('/:id/disable', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadEndpoint(response, request.params.id);
    const written = await disableWebhookEndpoint(sigid, row.endpoint_id, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await respondWithEndpoint(response, row.endpoint_id);
  });

  router.post('/:id/enable', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadEndpoint(response, request.params.id);
    const written = await enableWebhookEndpoint(sigid, row.endpoint_id, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await respondWithEndpoint(response, row.endpoint_id);
  });

  router.delete('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadEndpoint(response, request.params.id);
    const written = await deleteWebhookEndpoint(sigid, row.endpoint_id, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  router.post('/:id/rotate-secret', async (request, response) => {
    // The body is optional here: no body means the default overlap.
    const parsed = rotateBody.safeParse(request.body ?? {});
    if (!parsed.success) throw new ValidationError('The request body is not valid.', parsed.error.issues);
    const body = parsed.data;
    const row = await loadEndpoint(response, request.params.id);
    const { secret, previousExpiresAt, written } = await rotateWebhookSecret(
      sigid,
      row.endpoint_id,
      body.overlap_seconds !== undefined ? body.overlap_seconds * 1000 : undefined,
      useCaseOf(request, response),
    );
    await consistent(sigid, request, written);
    response.json({
      object: 'webhook_secret',
      endpoint_id: row.endpoint_id,
      secret,
      previous_secret_expires_at: previousExpiresAt.toISOString(),
    });
  });

  router.get('/:id/messages', async (request, response) => {
    const query = parseQuery(messagesQuery, request);
    const row = await loadEndpoint(response, request.params.id);
    let beforeSeq: number | undefined;
    if (query.starting_after) {
      const cursor = await findWebhookMessage(sigid.readModels, row.tenant_id, row.endpoint_id, query.starting_after);
      if (!cursor) throw new ValidationError('`starting_after` is not a message of this endpoint.');
      beforeSeq = cursor.seq;
    }
    const rows = await listWebhookMessages(sigid.readModels, row.tenant_id, row.endpoint_id, {
      limit: query.limit + 1,
      beforeSeq,
      status: query.status,
    });
    response.json(page(rows, query.limit, (message) => message.message_id, messageJson));
  });

  async function loadMessage(endpoint: WebhookEndpointRow, messageId: string) {
    const message = isId('msg', messageId)
      ? await findWebhookMessage(sigid.readModels, endpoint.tenant_id, endpoint.endpoint_id, messageId)
      : undefined;
    if (!message) throw new NotFoundError('The webhook message');
    return message;
  }

  router.get('/:id/messages/:messageId', async (request, response) => {
    parseQuery(noQuery, request);
    const endpoint = await loadEndpoint(response, request.params.id);
    const message = await loadMessage(endpoint, request.params.messageId);
    const attempts = await listMessageAttempts(sigid.readModels, endpoint.tenant_id, message.message_id);
    response.json({ ...messageJson(message), attempt_log: attempts.map(attemptJson) });
  });

  router.post('/:id/messages/:messageId/redeliver', async (request, response) => {
    const endpoint = await loadEndpoint(response, request.params.id);
    const message = await loadMessage(endpoint, request.params.messageId);
    const { messageId, queued, written } = await redeliverWebhookMessage(
      sigid,
      endpoint,
      message,
      useCaseOf(request, response),
    );
    await consistent(sigid, request, written);
    const row = queued
      ? await findWebhookMessage(sigid.readModels, endpoint.tenant_id, endpoint.endpoint_id, messageId)
      : undefined;
    // A fan-out far behind queues it later, under this id.
    response.status(202).json(
      row
        ? messageJson(row)
        : {
            id: messageId,
            object: 'webhook_message',
            endpoint_id: endpoint.endpoint_id,
            event_id: message.event_id,
            event_type: message.event_type,
            event_position: message.event_position,
            origin: 'redelivery',
            status: 'pending',
            attempts: 0,
            next_attempt_at: null,
            last_attempt_at: null,
            last_response_status: null,
            last_error: null,
            created_at: new Date().toISOString(),
            finished_at: null,
          },
    );
  });

  router.post('/:id/replay', async (request, response) => {
    const body = parseBody(replayBody, request);
    const endpoint = await loadEndpoint(response, request.params.id);
    const result = await replayWebhookEvents(
      sigid,
      endpoint,
      { since: body.since ? new Date(body.since) : undefined, afterPosition: body.after_position },
      useCaseOf(request, response),
    );
    await consistent(sigid, request, result.written);
    response.status(202).json({
      object: 'webhook_replay',
      endpoint_id: endpoint.endpoint_id,
      enqueued: result.enqueued,
      last_position: result.lastPosition,
      truncated: result.truncated,
    });
  });

  router.get('/:id/attempts', async (request, response) => {
    const query = parseQuery(attemptsQuery, request);
    const endpoint = await loadEndpoint(response, request.params.id);
    const rows = await listEndpointAttempts(sigid.readModels, endpoint.tenant_id, endpoint.endpoint_id, {
      limit: query.limit,
      before: query.before ? new Date(query.before) : undefined,
    });
    response.json({ object: 'list', data: rows.map(attemptJson), has_more: rows.length === query.limit });
  });

  return router;
}
