import { writeFileSync } from 'node:fs';
import { Router } from 'express';
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import { catalog } from '../../events/catalog.ts';
import { type ProblemCode, problemCodes } from '../errors.ts';
import { createApiKeyBody } from './api-keys.ts';
import { createApplicationBody, rotateClientSecretBody, updateApplicationBody } from './applications.ts';
import { exportQuery as auditLogsExportQuery, listQuery as auditLogsQuery } from './audit-logs.ts';
import { eventsQuery } from './events.ts';
import { listQuery } from './pagination.ts';
import * as responses from './responses.ts';
import { rotateSigningKeysBody, signingKeysQuery } from './signing-keys.ts';
import { updateBrandingBody, updateMfaPolicyBody } from './tenant-settings.ts';
import { createTenantBody, updateTenantBody } from './tenants.ts';
import { noQuery, parseQuery } from './validate.ts';
import { attemptsQuery, bodySchemas, messagesQuery, replayBody, rotateBody } from './webhooks.ts';

/**
 * The OpenAPI 3.1 description of the HTTP API, generated (zod-openapi) from the zod schemas the
 * routers validate with and the response schemas of `responses.ts`. `operations` is the one list of
 * documented routes: a route the app serves without an entry here, or an entry without a route,
 * fails `test/openapi.int.test.ts`. Served at `GET /api/v1/openapi.json`, written to
 * docs/openapi.json by `npm run openapi`.
 */

type Auth = 'operator' | 'tenant' | 'none';

interface Answer {
  status: 200 | 201 | 202 | 204 | 503;
  description: string;
  schema?: z.ZodType;
  /** NDJSON: `schema` is one line. */
  ndjson?: true;
  etag?: true;
  location?: true;
}

/** One documented route. Path parameters, auth, headers and problem answers follow from its fields. */
interface Operation {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** OpenAPI form: `/api/v1/tenants/{id}`. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  auth: Auth;
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The body may be left out (`rotate-secret`). */
  optionalBody?: true;
  ifMatch?: true;
  answers: Answer[];
  /** Problem codes particular to this route; those of its auth, body, query, headers and parameters are added. */
  problems?: ProblemCode[];
}

const example = (value: string) => ({ examples: [value] });
const tenantParams = z.object({
  id: z.string().meta({ description: 'The tenant id, `ten_…`.', ...example('ten_01m8ss33wneb9v44rcnyhd0h3c') }),
});
const apiKeyParams = z.object({
  id: z.string().meta({ description: 'The key id, `key_…`.', ...example('key_01m8ss33wqeezr2ckpxsdbsp05') }),
});
const applicationParams = z.object({
  id: z.string().meta({ description: 'The application id, `app_…`.', ...example('app_01m8ss33wqeezr2cmaq9j1f4yv') }),
});
const endpointId = z
  .string()
  .meta({ description: 'The webhook endpoint id, `whk_…`.', ...example('whk_01m8ss33wqeezr2ckygsw9kcq8') });
const endpointParams = z.object({ id: endpointId });
const messageParams = z.object({
  id: endpointId,
  messageId: z.string().meta({ description: 'The message id, `msg_…`.', ...example('msg_01m8ss33wqeezr2cm3nge1twg9') }),
});

/**
 * A router's own schema with a description on some fields: the same validation (refinements kept),
 * documented.
 */
function described<S extends z.ZodObject>(schema: S, descriptions: { [K in keyof S['shape']]?: string }): S {
  const shape = Object.fromEntries(
    Object.entries(schema.shape).map(([key, field]) => {
      const description = descriptions[key as keyof S['shape']];
      return [key, description ? (field as z.ZodType).meta({ description }) : field];
    }),
  );
  return schema.safeExtend(shape) as unknown as S;
}

const pageQuery = described(listQuery, {
  limit: 'Page size, 1–100 (default 20).',
  starting_after: 'The `next_cursor` of the page before.',
});
const auditFilters = {
  since: 'ISO 8601 with offset; inclusive.',
  until: 'ISO 8601 with offset; exclusive.',
  actor: "The acting principal's id (`key_…`, `op_…`, a user or agent id).",
  action: 'An event type, or several comma-separated (`tenant.renamed,api_key.revoked`).',
  target: 'The entity acted on (`ten_…`, `key_…`, `whk_…`).',
};
const auditQuery = described(auditLogsQuery, {
  ...auditFilters,
  limit: 'Page size, 1–200 (default 50).',
  order: '`desc` (newest first, the default) or `asc`.',
  starting_after: 'A `next_cursor`: the page after.',
  ending_before: 'A `previous_cursor`: the page before.',
});
const exportQuery = described(auditLogsExportQuery, auditFilters);
const eventQuery = described(eventsQuery, {
  from_position: 'Events after this global position (exclusive): resume with the last `position` received.',
  types: 'Event types, comma-separated.',
});
const messageQuery = described(messagesQuery, {
  limit: 'Page size, 1–100 (default 20).',
  starting_after: 'A message id of the page before.',
  status: 'Only messages in this state.',
});
const attemptQuery = described(attemptsQuery, {
  limit: 'Page size, 1–100 (default 20).',
  before: 'Attempts made before this time: the last `attempted_at` seen.',
});

const signingKeyQuery = described(signingKeysQuery, {
  limit: 'Page size, 1–100 (default 20).',
  starting_after: 'The `next_cursor` of the page before.',
  status: 'Only keys in this state.',
});
const signingKeyRotateBody = described(rotateSigningKeysBody, {
  alg: 'Rotate only this algorithm; every algorithm (ES256 and RS256) when left out.',
});

const webhookBodies = bodySchemas(catalog);
const webhookUrlProblems: ProblemCode[] = ['scheme_not_allowed', 'forbidden_address', 'unresolvable_host'];

/** Every route of the HTTP API. Adding a route to a router means adding its entry here. */
export const operations: readonly Operation[] = [
  {
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    tag: 'health',
    summary: 'Liveness: the process is up',
    auth: 'none',
    answers: [{ status: 200, description: 'Up.', schema: responses.healthResponse }],
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tag: 'health',
    summary: 'Readiness: database, event store and projection lag',
    auth: 'none',
    answers: [
      { status: 200, description: 'Ready to serve.', schema: responses.readinessResponse },
      { status: 503, description: 'Not ready; `checks` says why.', schema: responses.readinessResponse },
    ],
  },
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    operationId: 'getOpenApiDocument',
    tag: 'meta',
    summary: 'This OpenAPI 3.1 document',
    auth: 'none',
    answers: [{ status: 200, description: 'The document.', schema: z.record(z.string(), z.unknown()) }],
  },
  {
    method: 'post',
    path: '/api/v1/tenants',
    operationId: 'createTenant',
    tag: 'tenants',
    summary: 'Create a tenant and its first admin key',
    description:
      'Reserves the slug platform-wide, then creates the tenant. The admin key is shown only in this answer.',
    auth: 'operator',
    body: createTenantBody,
    answers: [
      { status: 201, description: 'Created.', schema: responses.newTenantResponse, etag: true, location: true },
    ],
    problems: ['slug_taken', 'tenant_exists', 'api_key_exists', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/tenants',
    operationId: 'listTenants',
    tag: 'tenants',
    summary: 'List tenants (deleted ones are left out)',
    auth: 'operator',
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of tenants.', schema: responses.tenantListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/tenants/{id}',
    operationId: 'getTenant',
    tag: 'tenants',
    summary: 'One tenant',
    auth: 'operator',
    params: tenantParams,
    answers: [{ status: 200, description: 'The tenant.', schema: responses.tenantResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/tenants/{id}',
    operationId: 'updateTenant',
    tag: 'tenants',
    summary: 'Rename, suspend or reactivate a tenant',
    auth: 'operator',
    params: tenantParams,
    body: updateTenantBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The tenant as changed.', schema: responses.tenantResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/tenants/{id}',
    operationId: 'deleteTenant',
    tag: 'tenants',
    summary: 'Delete a tenant: its keys stop working, its slug stays reserved',
    auth: 'operator',
    params: tenantParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/tenants/{id}/api-keys',
    operationId: 'issueTenantApiKey',
    tag: 'tenants',
    summary: 'Break-glass: issue a tenant admin key as the operator',
    auth: 'operator',
    params: tenantParams,
    body: createApiKeyBody,
    answers: [{ status: 201, description: 'Issued.', schema: responses.newApiKeyResponse, location: true }],
    problems: ['api_key_exists', 'concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/api-keys',
    operationId: 'createApiKey',
    tag: 'api-keys',
    summary: 'Issue an admin key of your tenant',
    auth: 'tenant',
    body: createApiKeyBody,
    answers: [{ status: 201, description: 'Issued.', schema: responses.newApiKeyResponse, location: true }],
    problems: ['api_key_exists', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/api-keys',
    operationId: 'listApiKeys',
    tag: 'api-keys',
    summary: 'List active admin keys (never the secrets)',
    auth: 'tenant',
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of keys.', schema: responses.apiKeyListResponse }],
  },
  {
    method: 'delete',
    path: '/api/v1/api-keys/{id}',
    operationId: 'revokeApiKey',
    tag: 'api-keys',
    summary: 'Revoke an admin key, at once on every node',
    auth: 'tenant',
    params: apiKeyParams,
    answers: [{ status: 204, description: 'Revoked.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/applications',
    operationId: 'createApplication',
    tag: 'applications',
    summary: 'Register an application (an OAuth client); a confidential one gets its client secret, shown only here',
    description:
      '`kind` picks the defaults and the rules (see docs/applications.md); RFC 7591 names for the rest. `client_id` is made up unless given (an application moved from another IdP) and is unique within the tenant.',
    auth: 'tenant',
    body: createApplicationBody,
    answers: [
      { status: 201, description: 'Created.', schema: responses.newApplicationResponse, etag: true, location: true },
    ],
    problems: [
      'client_id_taken',
      'application_exists',
      'concurrent_modification',
      'invalid_client_metadata',
      'invalid_redirect_uri',
    ],
  },
  {
    method: 'get',
    path: '/api/v1/applications',
    operationId: 'listApplications',
    tag: 'applications',
    summary: 'List applications (never a secret)',
    auth: 'tenant',
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of applications.', schema: responses.applicationListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/applications/{id}',
    operationId: 'getApplication',
    tag: 'applications',
    summary: 'One application',
    auth: 'tenant',
    params: applicationParams,
    answers: [{ status: 200, description: 'The application.', schema: responses.applicationResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/applications/{id}',
    operationId: 'updateApplication',
    tag: 'applications',
    summary: "Change an application's metadata (its kind and client_id never change)",
    auth: 'tenant',
    params: applicationParams,
    body: updateApplicationBody,
    ifMatch: true,
    answers: [
      { status: 200, description: 'The application as changed.', schema: responses.applicationResponse, etag: true },
    ],
    problems: ['concurrent_modification', 'invalid_client_metadata', 'invalid_redirect_uri'],
  },
  {
    method: 'delete',
    path: '/api/v1/applications/{id}',
    operationId: 'deleteApplication',
    tag: 'applications',
    summary: 'Delete an application: its secrets stop working, its client_id can be registered again',
    auth: 'tenant',
    params: applicationParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/applications/{id}/secrets',
    operationId: 'rotateClientSecret',
    tag: 'applications',
    summary: 'A new client secret, shown once; the previous one works until `previous_secret_expires_at`',
    auth: 'tenant',
    params: applicationParams,
    body: rotateClientSecretBody,
    optionalBody: true,
    answers: [{ status: 201, description: 'The new secret.', schema: responses.clientSecretResponse }],
    problems: ['concurrent_modification', 'public_client'],
  },
  {
    method: 'get',
    path: '/api/v1/audit-logs',
    operationId: 'listAuditLogs',
    tag: 'audit-logs',
    summary: "The tenant's audit log, read off the event stream",
    auth: 'tenant',
    query: auditQuery,
    answers: [{ status: 200, description: 'A page of entries.', schema: responses.auditLogListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/audit-logs/export',
    operationId: 'exportAuditLogs',
    tag: 'audit-logs',
    summary: 'Every matching audit-log entry as NDJSON, oldest first',
    auth: 'tenant',
    query: exportQuery,
    answers: [
      {
        status: 200,
        description: 'One AuditLogEntry per line.',
        schema: responses.auditLogEntryResponse,
        ndjson: true,
      },
    ],
  },
  {
    method: 'get',
    path: '/api/v1/events',
    operationId: 'exportEvents',
    tag: 'events',
    summary: "The tenant's raw events after a position, as NDJSON",
    auth: 'tenant',
    query: eventQuery,
    answers: [{ status: 200, description: 'One Event per line.', schema: responses.eventResponse, ndjson: true }],
  },
  {
    method: 'get',
    path: '/api/v1/signing-keys',
    operationId: 'listSigningKeys',
    tag: 'signing-keys',
    summary: "The OIDC issuer's signing keys: public JWKs, statuses and dates (never a private part)",
    auth: 'tenant',
    query: signingKeyQuery,
    answers: [{ status: 200, description: 'A page of keys, oldest first.', schema: responses.signingKeyListResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/signing-keys/rotate',
    operationId: 'rotateSigningKeys',
    tag: 'signing-keys',
    summary: 'Rotate: the next key signs, the active one is published until `retire_at`, a new next key is published',
    description:
      'One atomic change per request, for every algorithm or the one given: the `next` key (published since the last rotation) becomes `active`; the `active` one becomes `retiring` until now + `SIGID_SIGNING_KEY_RETENTION_SECONDS`, still published so the tokens it signed verify; a new `next` key is made and published; retiring keys past their `retire_at` are retired. A tenant without keys gets its first ones instead (`initialized`).',
    auth: 'tenant',
    body: signingKeyRotateBody,
    optionalBody: true,
    answers: [
      { status: 200, description: 'The keys after the rotation.', schema: responses.signingKeyRotationResponse },
    ],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/branding',
    operationId: 'getBranding',
    tag: 'settings',
    summary: "The tenant's branding, defaults filled in",
    auth: 'tenant',
    answers: [{ status: 200, description: 'The branding.', schema: responses.brandingResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/branding',
    operationId: 'updateBranding',
    tag: 'settings',
    summary: "Change the look of the tenant's hosted pages",
    description:
      "Any subset of the fields; `null` puts a field back to its default. The same values again append nothing. A change is a `tenant.branding.changed` event on the tenant stream; `ETag` is that stream's revision.",
    auth: 'tenant',
    body: updateBrandingBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The branding as changed.', schema: responses.brandingResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/mfa-policy',
    operationId: 'getMfaPolicy',
    tag: 'settings',
    summary: "The tenant's MFA policy",
    auth: 'tenant',
    answers: [{ status: 200, description: 'The policy.', schema: responses.mfaPolicyResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/mfa-policy',
    operationId: 'updateMfaPolicy',
    tag: 'settings',
    summary: 'Change when sign-ins ask for a second factor',
    description:
      "Any subset of `mode` and `required_for_applications` (which replaces the list). Every listed application must be one of the tenant's (an unknown one, or another tenant's, is 400 and nothing is written). A change is a `tenant.mfa_policy.changed` event on the tenant stream.",
    auth: 'tenant',
    body: updateMfaPolicyBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The policy as changed.', schema: responses.mfaPolicyResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/webhooks/event-types',
    operationId: 'listEventTypes',
    tag: 'webhooks',
    summary: 'The event types an endpoint can subscribe to',
    auth: 'tenant',
    answers: [{ status: 200, description: 'The whole catalog.', schema: responses.eventTypeListResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/webhooks',
    operationId: 'createWebhookEndpoint',
    tag: 'webhooks',
    summary: 'Create a webhook endpoint; its signing secret is shown only here',
    auth: 'tenant',
    body: webhookBodies.create,
    answers: [
      {
        status: 201,
        description: 'Created.',
        schema: responses.newWebhookEndpointResponse,
        etag: true,
        location: true,
      },
    ],
    problems: [...webhookUrlProblems, 'webhook_exists', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/webhooks',
    operationId: 'listWebhookEndpoints',
    tag: 'webhooks',
    summary: 'List webhook endpoints',
    auth: 'tenant',
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of endpoints.', schema: responses.webhookEndpointListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/webhooks/{id}',
    operationId: 'getWebhookEndpoint',
    tag: 'webhooks',
    summary: 'One webhook endpoint',
    auth: 'tenant',
    params: endpointParams,
    answers: [{ status: 200, description: 'The endpoint.', schema: responses.webhookEndpointResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/webhooks/{id}',
    operationId: 'updateWebhookEndpoint',
    tag: 'webhooks',
    summary: 'Change the URL, event types or description',
    auth: 'tenant',
    params: endpointParams,
    body: webhookBodies.update,
    ifMatch: true,
    answers: [
      { status: 200, description: 'The endpoint as changed.', schema: responses.webhookEndpointResponse, etag: true },
    ],
    problems: [...webhookUrlProblems, 'concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/webhooks/{id}/disable',
    operationId: 'disableWebhookEndpoint',
    tag: 'webhooks',
    summary: 'Stop deliveries (queued messages wait)',
    auth: 'tenant',
    params: endpointParams,
    ifMatch: true,
    answers: [{ status: 200, description: 'The endpoint.', schema: responses.webhookEndpointResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/webhooks/{id}/enable',
    operationId: 'enableWebhookEndpoint',
    tag: 'webhooks',
    summary: 'Resume deliveries, queued messages first, in order',
    auth: 'tenant',
    params: endpointParams,
    ifMatch: true,
    answers: [{ status: 200, description: 'The endpoint.', schema: responses.webhookEndpointResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/webhooks/{id}',
    operationId: 'deleteWebhookEndpoint',
    tag: 'webhooks',
    summary: 'Delete an endpoint: undelivered messages are cancelled, secrets destroyed',
    auth: 'tenant',
    params: endpointParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/webhooks/{id}/rotate-secret',
    operationId: 'rotateWebhookSecret',
    tag: 'webhooks',
    summary: 'A new signing secret, shown once; the old one signs until `previous_secret_expires_at`',
    auth: 'tenant',
    params: endpointParams,
    body: rotateBody,
    optionalBody: true,
    answers: [{ status: 200, description: 'The new secret.', schema: responses.webhookSecretResponse }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/webhooks/{id}/messages',
    operationId: 'listWebhookMessages',
    tag: 'webhooks',
    summary: 'The delivery log by message, newest first',
    auth: 'tenant',
    params: endpointParams,
    query: messageQuery,
    answers: [{ status: 200, description: 'A page of messages.', schema: responses.webhookMessageListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/webhooks/{id}/messages/{messageId}',
    operationId: 'getWebhookMessage',
    tag: 'webhooks',
    summary: 'One message with every attempt',
    auth: 'tenant',
    params: messageParams,
    answers: [{ status: 200, description: 'The message.', schema: responses.webhookMessageWithAttemptsResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/webhooks/{id}/messages/{messageId}/redeliver',
    operationId: 'redeliverWebhookMessage',
    tag: 'webhooks',
    summary: 'Queue that event again for this endpoint (same `webhook-id`)',
    auth: 'tenant',
    params: messageParams,
    answers: [{ status: 202, description: 'The new message, as queued.', schema: responses.webhookMessageResponse }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/webhooks/{id}/replay',
    operationId: 'replayWebhookEvents',
    tag: 'webhooks',
    summary: 'Queue every subscribed event since a time or a position, in stream order',
    auth: 'tenant',
    params: endpointParams,
    body: replayBody,
    answers: [{ status: 202, description: 'What was queued.', schema: responses.webhookReplayResponse }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/webhooks/{id}/attempts',
    operationId: 'listWebhookAttempts',
    tag: 'webhooks',
    summary: 'Every delivery attempt, newest first',
    auth: 'tenant',
    params: endpointParams,
    query: attemptQuery,
    answers: [{ status: 200, description: 'A page of attempts.', schema: responses.webhookAttemptListResponse }],
  },
];

const idempotencyKeyHeader = z
  .string()
  .min(1)
  .max(255)
  .optional()
  .meta({
    description:
      'Makes the POST safe to retry: the first successful answer is returned again (`Idempotent-Replayed: true`) for 24 hours. The same key with another body is a 422, a retry while the first runs a 409.',
    ...example('9f0c2b7e-create-acme'),
  });
const ifMatchHeader = z
  .string()
  .optional()
  .meta({
    description:
      'An `ETag` this API returned (`"3"`): the write is refused with 412 unless the resource is still at that revision.',
    ...example('"3"'),
  });
const etagHeader = z
  .string()
  .meta({ description: 'The stream revision, quoted: send it back as `If-Match`.', ...example('"0"') });
const locationHeader = z.string().meta({ description: 'The path of what was created.' });

const replayedHeader = z
  .literal('true')
  .optional()
  .meta({ description: 'This is the stored answer to an earlier request with the same `Idempotency-Key`.' });
const consistencyHeader = z.literal('pending').optional().meta({
  description:
    'The write landed, but the read models had not caught up within the wait (a rebuild): a read right after may not show it yet.',
});

const BODY_PROBLEMS: ProblemCode[] = [
  'invalid_request',
  'malformed_json',
  'request_aborted',
  'payload_too_large',
  'unsupported_encoding',
  'unsupported_charset',
];

/** Every problem code `operation` can answer with, in the order of `problemCodes`. */
export function problemsOf(operation: Operation): ProblemCode[] {
  const codes = new Set<ProblemCode>(['internal_error', ...(operation.problems ?? [])]);
  const add = (...more: ProblemCode[]) => {
    for (const code of more) codes.add(code);
  };
  if (operation.auth === 'operator') add('unauthorized');
  if (operation.auth === 'tenant') add('unauthorized', 'forbidden');
  if (operation.method === 'post' && operation.auth !== 'none') {
    add('invalid_request', 'request_in_progress', 'idempotency_key_reused');
  }
  if (operation.body) add(...BODY_PROBLEMS);
  if (operation.query) add('invalid_request');
  if (operation.ifMatch) add('invalid_request', 'precondition_failed');
  if (operation.params) add('bad_request', 'not_found');
  return (Object.keys(problemCodes) as ProblemCode[]).filter((code) => codes.has(code));
}

/** One problem+json answer per status, naming its codes; the example is the first code's. */
function problemAnswers(operation: Operation): ZodOpenApiOperationObject['responses'] {
  const byStatus = new Map<(typeof problemCodes)[ProblemCode]['status'], ProblemCode[]>();
  for (const code of problemsOf(operation)) {
    const { status } = problemCodes[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const answers: ZodOpenApiOperationObject['responses'] = {};
  for (const [status, codes] of byStatus) {
    const first = codes[0] as ProblemCode;
    answers[`${status}`] = {
      description: `${problemCodes[first].title}: ${codes.map((code) => `\`${code}\``).join(', ')}.`,
      content: {
        'application/problem+json': {
          schema: {
            allOf: [
              { $ref: '#/components/schemas/Problem' },
              { type: 'object', properties: { code: { type: 'string', enum: codes } } },
            ],
          },
          example: {
            type: `https://sigid.dev/problems/${first}`,
            title: problemCodes[first].title,
            status,
            code: first,
            detail: `${problemCodes[first].title}.`,
            instance: operation.path,
          },
        },
      },
    };
  }
  return answers;
}

function toOperation(operation: Operation): ZodOpenApiOperationObject {
  const idempotent = operation.method === 'post' && operation.auth !== 'none';
  const headers = {
    ...(idempotent ? { 'Idempotency-Key': idempotencyKeyHeader } : {}),
    ...(operation.ifMatch ? { 'If-Match': ifMatchHeader } : {}),
  };
  const responses: ZodOpenApiOperationObject['responses'] = {};
  for (const answer of operation.answers) {
    const answerHeaders = {
      ...(answer.etag ? { ETag: etagHeader } : {}),
      ...(answer.location ? { Location: locationHeader } : {}),
      ...(idempotent ? { 'Idempotent-Replayed': replayedHeader } : {}),
      ...(operation.method !== 'get' && operation.auth !== 'none' ? { 'SigID-Consistency': consistencyHeader } : {}),
    };
    responses[`${answer.status}`] = {
      description: answer.description,
      ...(Object.keys(answerHeaders).length ? { headers: z.object(answerHeaders) } : {}),
      ...(answer.schema
        ? { content: { [answer.ndjson ? 'application/x-ndjson' : 'application/json']: { schema: answer.schema } } }
        : {}),
    };
  }
  return {
    operationId: operation.operationId,
    tags: [operation.tag],
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    security: operation.auth === 'none' ? [] : [{ [`${operation.auth}Key`]: [] }],
    requestParams: {
      ...(operation.params ? { path: operation.params } : {}),
      ...(operation.query ? { query: operation.query as z.ZodObject } : {}),
      ...(Object.keys(headers).length ? { header: z.object(headers) } : {}),
    },
    ...(operation.body
      ? {
          requestBody: {
            required: !operation.optionalBody,
            content: { 'application/json': { schema: operation.body } },
          },
        }
      : {}),
    responses: { ...responses, ...problemAnswers(operation) },
  };
}

const DESCRIPTION = `SigID's HTTP API: tenants (platform operator), and per tenant its admin keys, applications
(OAuth clients), OIDC signing keys, audit log, event export and webhooks. JSON in and out, snake_case fields, ids
with a type prefix, times ISO 8601 UTC.

- **Auth**: \`Authorization: Bearer <key>\`. Operator keys manage \`/api/v1/tenants\`; a tenant admin key
  (\`sigid_sk_…\`) answers for its own tenant only, and another tenant's id is a 404.
- **Errors**: RFC 9457 problem+json with a stable \`code\` from a closed set (see the \`Problem\` schema).
  Bad input changes nothing.
- **Concurrency**: \`ETag\` is the stream revision; \`If-Match\` refuses lost updates (412).
  \`Idempotency-Key\` makes a POST safe to retry.
- **Lists**: \`?limit=&starting_after=<next_cursor>\`; a page is \`{object: "list", data, has_more, next_cursor}\`.
- **Read your writes**: a 2xx to a write means your next read sees it.
- \`X-Request-Id\` is echoed (or made) on every answer.`;

let memo: ReturnType<typeof createDocument> | undefined;

/** The OpenAPI 3.1 document, built once. */
export function openApiDocument(): ReturnType<typeof createDocument> {
  if (memo) return memo;
  const paths: ZodOpenApiPathsObject = {};
  for (const operation of operations) {
    paths[operation.path] = { ...paths[operation.path], [operation.method]: toOperation(operation) };
  }
  memo = createDocument({
    openapi: '3.1.0',
    info: { title: 'SigID', version: '1', description: DESCRIPTION },
    tags: [
      { name: 'tenants', description: 'Platform operator: tenants and break-glass keys.' },
      { name: 'api-keys', description: "A tenant's admin keys." },
      { name: 'applications', description: "A tenant's applications (OAuth clients) and their client secrets." },
      { name: 'audit-logs', description: "A tenant's audit log, read off the event stream." },
      { name: 'events', description: "A tenant's raw events, for auditors." },
      { name: 'signing-keys', description: "The signing keys of a tenant's OIDC issuer and their rotation." },
      { name: 'settings', description: "A tenant's branding and MFA policy, for its hosted pages." },
      {
        name: 'webhooks',
        description: 'Signed webhooks (Standard Webhooks), their delivery log, redelivery and replay.',
      },
      { name: 'health', description: 'Liveness and readiness.' },
      { name: 'meta', description: 'This document.' },
    ],
    paths,
    components: {
      schemas: { Problem: responses.problemResponse },
      securitySchemes: {
        operatorKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A platform operator key: `SIGID_OPERATOR_KEY`, or `sigid_op_…` from `sigid operator-key create`.',
        },
        tenantKey: {
          type: 'http',
          scheme: 'bearer',
          description: "A tenant admin key, `sigid_sk_…`: every route answers for that key's tenant only.",
        },
      },
    },
  });
  return memo;
}

/** `GET /api/v1/openapi.json`, open to anyone (it describes the API, it holds nothing of a tenant). */
export function openApiRouter(): Router {
  const router = Router();
  router.get('/api/v1/openapi.json', (request, response) => {
    parseQuery(noQuery, request);
    response.json(openApiDocument());
  });
  return router;
}

/** The document as docs/openapi.json holds it. */
export const openApiText = () => `${JSON.stringify(openApiDocument(), null, 2)}\n`;

if (import.meta.main) {
  const target = new URL('../../docs/openapi.json', import.meta.url);
  writeFileSync(target, openApiText());
  console.log(`wrote ${target.pathname}`);
}
