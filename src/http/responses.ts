import { z } from 'zod';
import { allProblemCodes, type ProblemCode } from '../errors.ts';

/**
 * The shapes the HTTP API answers with, as zod schemas with an example each: the OpenAPI document
 * (src/http/openapi.ts) is generated from them, and `test/openapi.int.test.ts` checks live answers
 * against them, so the documented shape and the rendered one cannot drift apart.
 */

// `format: date-time` says it; the regex zod would add only bloats every schema.
const time = z.iso.datetime().meta({
  override: ({ jsonSchema }) => {
    delete jsonSchema.pattern;
  },
});
const nullableTime = time.nullable();
const at = '2026-11-23T18:14:09.769Z';
const later = '2026-11-23T18:20:00.000Z';

const ids = {
  tenant: 'ten_01m8ss33wneb9v44rcnyhd0h3c',
  key: 'key_01m8ss33wqeezr2ckpxsdbsp05',
  operator: 'op_01m8ss33wqeezr2ckr8f7terad',
  endpoint: 'whk_01m8ss33wqeezr2ckygsw9kcq8',
  message: 'msg_01m8ss33wqeezr2cm3nge1twg9',
  request: 'req_01m8ss33wqeezr2cm50dz23yjj',
  application: 'app_01m8ss33wqeezr2cmaq9j1f4yv',
  event: '01a23391-8816-7119-9a03-102ceb82365e',
  kid: 'kid_01m8ss33wqeezr2cm7k2qz3x1a',
  nextKid: 'kid_01m8ss33wqeezr2cm9dq4hy7bn',
};

const tenantExample = {
  id: ids.tenant,
  object: 'tenant' as const,
  slug: 'acme',
  name: 'Acme',
  status: 'active' as const,
  issuer: 'https://sigid.example.com/t/acme',
  created_at: at,
  updated_at: later,
};

/** A tenant as the operator sees it. */
export const tenantResponse = z
  .object({
    id: z.string().meta({ description: 'The tenant id, `ten_…`.' }),
    object: z.literal('tenant'),
    slug: z.string().meta({ description: 'Unique platform-wide and never changed: part of the issuer.' }),
    name: z.string(),
    status: z.enum(['active', 'suspended']),
    issuer: z.url().meta({ description: "The tenant's OIDC issuer, `{PUBLIC_URL}/t/{slug}`." }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Tenant', examples: [tenantExample] });

const apiKeyExample = {
  id: ids.key,
  object: 'api_key' as const,
  name: 'CI deploys',
  created_by: ids.operator,
  created_at: at,
};

/** A tenant admin key, never its secret. */
export const apiKeyResponse = z
  .object({
    id: z.string().meta({ description: 'The key id, `key_…`.' }),
    object: z.literal('api_key'),
    name: z.string(),
    created_by: z.string().meta({ description: 'Who issued it: an operator (`op_…`) or another key (`key_…`).' }),
    created_at: time,
  })
  .meta({ id: 'ApiKey', examples: [apiKeyExample] });

const keyExample = `sigid_sk_${ids.key.slice(4)}_Xq3vJm9T0bW8yLk2dA5sF7gH1jK4lZ6c`;
const keyField = z.string().meta({ description: 'The key itself, `sigid_sk_…`: shown only in this answer.' });

/** A key just issued: the only answer that carries the key itself. */
export const newApiKeyResponse = apiKeyResponse
  .extend({ key: keyField })
  .meta({ id: 'NewApiKey', examples: [{ ...apiKeyExample, key: keyExample }] });

/** `POST /tenants`: the tenant and its first admin key. */
export const newTenantResponse = z
  .object({
    tenant: tenantResponse,
    api_key: z.object({ id: z.string(), object: z.literal('api_key'), name: z.string(), key: keyField }),
  })
  .meta({
    id: 'NewTenant',
    examples: [
      {
        tenant: tenantExample,
        api_key: { id: ids.key, object: 'api_key', name: 'Initial admin key', key: keyExample },
      },
    ],
  });

const endpointExample = {
  id: ids.endpoint,
  object: 'webhook_endpoint' as const,
  url: 'https://hooks.example.com/sigid',
  event_types: ['agent.*', 'webhook.endpoint.disabled'],
  description: null,
  status: 'enabled' as const,
  disabled_reason: null,
  disabled_detail: null,
  disabled_at: null,
  created_at: at,
  updated_at: at,
};

/** A webhook endpoint; `disabled_*` say why and since when it is not delivering. */
export const webhookEndpointResponse = z
  .object({
    id: z.string().meta({ description: 'The endpoint id, `whk_…`.' }),
    object: z.literal('webhook_endpoint'),
    url: z.string(),
    event_types: z.array(z.string()),
    description: z.string().nullable(),
    status: z.enum(['enabled', 'disabled']),
    disabled_reason: z.enum(['manual', 'gone', 'failing']).nullable(),
    disabled_detail: z.string().nullable(),
    disabled_at: nullableTime,
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'WebhookEndpoint', examples: [endpointExample] });

const secretExample = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwRz7tVq4cPxg=';
const secretField = z
  .string()
  .meta({ description: 'The signing secret, `whsec_` + base64 (Standard Webhooks): shown only in this answer.' });

/** A webhook endpoint just created, with its signing secret. */
export const newWebhookEndpointResponse = webhookEndpointResponse
  .extend({ secret: secretField })
  .meta({ id: 'NewWebhookEndpoint', examples: [{ ...endpointExample, secret: secretExample }] });

/** `POST /webhooks/{id}/rotate-secret`: the new secret and when the old one stops signing. */
export const webhookSecretResponse = z
  .object({
    object: z.literal('webhook_secret'),
    endpoint_id: z.string(),
    secret: secretField,
    previous_secret_expires_at: time,
  })
  .meta({
    id: 'WebhookSecret',
    examples: [
      { object: 'webhook_secret', endpoint_id: ids.endpoint, secret: secretExample, previous_secret_expires_at: later },
    ],
  });

const applicationExample = {
  id: ids.application,
  object: 'application' as const,
  kind: 'web' as const,
  client_id: 'Jc2mQ0n6xvB1sH9aYpL3tZ7k',
  client_name: 'Acme dashboard',
  application_type: 'web' as const,
  redirect_uris: ['https://app.acme.example/callback'],
  post_logout_redirect_uris: ['https://app.acme.example/'],
  grant_types: ['authorization_code' as const, 'refresh_token' as const],
  response_types: ['code' as const],
  token_endpoint_auth_method: 'client_secret_basic' as const,
  require_pkce: true,
  logo_uri: null,
  allowed_origins: [],
  access_token_ttl_seconds: 3600,
  id_token_ttl_seconds: 3600,
  refresh_token_ttl_seconds: 2592000,
  previous_secret_expires_at: null,
  revision: 0,
  created_at: at,
  updated_at: at,
};

const uris = z.array(z.string());

/** An application (an OAuth client) with its RFC 7591 metadata; never a secret. */
export const applicationResponse = z
  .object({
    id: z.string().meta({ description: 'The application id, `app_…`.' }),
    object: z.literal('application'),
    kind: z.enum(['web', 'spa', 'native', 'm2m']).meta({
      description: 'web: confidential; spa and native: public, PKCE S256 required; m2m: client_credentials only.',
    }),
    client_id: z.string().meta({ description: 'Unique within the tenant; never changes.' }),
    client_name: z.string(),
    application_type: z.enum(['web', 'native']),
    redirect_uris: uris.meta({ description: 'Compared as exact strings (a native loopback URI on any port).' }),
    post_logout_redirect_uris: uris,
    grant_types: z.array(z.enum(['authorization_code', 'refresh_token', 'client_credentials'])),
    response_types: z.array(z.literal('code')),
    token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'none']),
    require_pkce: z.boolean().meta({ description: 'PKCE with S256 required at the authorization endpoint.' }),
    logo_uri: z.string().nullable(),
    allowed_origins: uris.meta({ description: 'Origins allowed to call the token endpoint from a browser (CORS).' }),
    access_token_ttl_seconds: z.int(),
    id_token_ttl_seconds: z.int(),
    refresh_token_ttl_seconds: z.int(),
    previous_secret_expires_at: nullableTime.meta({
      description: 'While a rotated-out client secret still works: until when. Null otherwise.',
    }),
    revision: z.int().min(0).meta({ description: 'The stream revision, as in `ETag`.' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Application', examples: [applicationExample] });

const clientSecretExample = 'sigid_cs_3q2Vq8m1Yx0L5bH7dTn9KfW2pR4sJ6gA0cE8uZ1iOyM';
const clientSecretField = z
  .string()
  .meta({ description: 'The client secret, `sigid_cs_…`: shown only in this answer, kept only as a hash.' });
const neverExpires = z
  .literal(0)
  .meta({ description: 'RFC 7591: 0, the secret does not expire (a rotation retires it).' });

/** An application just created: a confidential one with its client secret. */
export const newApplicationResponse = applicationResponse
  .extend({ client_secret: clientSecretField.optional(), client_secret_expires_at: neverExpires.optional() })
  .meta({
    id: 'NewApplication',
    examples: [{ ...applicationExample, client_secret: clientSecretExample, client_secret_expires_at: 0 }],
  });

/** `POST /applications/{id}/secrets`: the new secret, and until when the previous one works. */
export const clientSecretResponse = z
  .object({
    object: z.literal('client_secret'),
    application_id: z.string(),
    client_id: z.string(),
    client_secret: clientSecretField,
    client_secret_expires_at: neverExpires,
    previous_secret_expires_at: time,
  })
  .meta({
    id: 'ClientSecret',
    examples: [
      {
        object: 'client_secret',
        application_id: ids.application,
        client_id: applicationExample.client_id,
        client_secret: clientSecretExample,
        client_secret_expires_at: 0,
        previous_secret_expires_at: later,
      },
    ],
  });

const attemptExample = {
  object: 'webhook_attempt' as const,
  message_id: ids.message,
  attempt: 1,
  attempted_at: at,
  outcome: 'failed' as const,
  response_status: 503,
  latency_ms: 412,
  response_body: 'upstream unavailable',
  error: null,
  next_attempt_at: later,
};

/** One delivery attempt of a message. */
export const webhookAttemptResponse = z
  .object({
    object: z.literal('webhook_attempt'),
    message_id: z.string(),
    attempt: z.int().min(1),
    attempted_at: time,
    outcome: z.enum(['succeeded', 'failed']),
    response_status: z.int().nullable(),
    latency_ms: z.int().nullable(),
    response_body: z.string().nullable().meta({ description: 'The first 4 KiB of what the receiver answered.' }),
    error: z.string().nullable(),
    next_attempt_at: nullableTime,
  })
  .meta({ id: 'WebhookAttempt', examples: [attemptExample] });

const messageExample = {
  id: ids.message,
  object: 'webhook_message' as const,
  endpoint_id: ids.endpoint,
  event_id: ids.event,
  event_type: 'tenant.renamed',
  event_position: 42,
  origin: 'stream' as const,
  status: 'pending' as const,
  attempts: 1,
  next_attempt_at: later,
  last_attempt_at: at,
  last_response_status: 503,
  last_error: null,
  created_at: at,
  finished_at: null,
};

/** One event queued for one endpoint, and where its delivery stands. */
export const webhookMessageResponse = z
  .object({
    id: z.string().meta({ description: 'The message id, `msg_…`.' }),
    object: z.literal('webhook_message'),
    endpoint_id: z.string(),
    event_id: z.string().meta({ description: 'The event id: the `webhook-id` header of every attempt.' }),
    event_type: z.string(),
    event_position: z.int(),
    origin: z.enum(['stream', 'redelivery', 'replay']),
    status: z.enum(['pending', 'delivered', 'failed', 'cancelled']),
    attempts: z.int().min(0),
    next_attempt_at: nullableTime,
    last_attempt_at: nullableTime,
    last_response_status: z.int().nullable(),
    last_error: z.string().nullable(),
    created_at: time,
    finished_at: nullableTime,
  })
  .meta({ id: 'WebhookMessage', examples: [messageExample] });

/** One message with every attempt made to deliver it. */
export const webhookMessageWithAttemptsResponse = webhookMessageResponse
  .extend({ attempt_log: z.array(webhookAttemptResponse) })
  .meta({ id: 'WebhookMessageWithAttempts', examples: [{ ...messageExample, attempt_log: [attemptExample] }] });

/** `POST /webhooks/{id}/replay`: how much was queued, and where to continue when truncated. */
export const webhookReplayResponse = z
  .object({
    object: z.literal('webhook_replay'),
    endpoint_id: z.string(),
    enqueued: z.int().min(0),
    last_position: z.int().nullable(),
    truncated: z
      .boolean()
      .meta({ description: 'More events matched: replay again with `after_position: last_position`.' }),
  })
  .meta({
    id: 'WebhookReplay',
    examples: [
      { object: 'webhook_replay', endpoint_id: ids.endpoint, enqueued: 12, last_position: 42, truncated: false },
    ],
  });

/** An event type a webhook endpoint can subscribe to, from the catalog. */
export const eventTypeResponse = z
  .object({
    type: z.string(),
    version: z.int().min(1),
    description: z.string(),
    personal_fields: z.array(z.string()).meta({ description: 'Fields that read as null once the subject is erased.' }),
  })
  .meta({
    id: 'EventType',
    examples: [{ type: 'tenant.renamed', version: 1, description: 'The tenant got a new name.', personal_fields: [] }],
  });

const actor = z
  .object({ type: z.enum(['operator', 'api_key', 'user', 'agent', 'system']), id: z.string() })
  .meta({ id: 'Actor', examples: [{ type: 'operator', id: ids.operator }] });

const eventData = z
  .record(z.string(), z.unknown())
  .meta({ description: "The event's data as the catalog defines it." });

/** One audit-log entry: who did what to which target, when, under which request. */
export const auditLogEntryResponse = z
  .object({
    id: z.string().meta({ description: 'The event id.' }),
    object: z.literal('audit_log_entry'),
    position: z.int().meta({ description: 'The global position of the event.' }),
    time: time,
    action: z.string().meta({ description: 'The event type.' }),
    actor,
    target: z.object({ type: z.string(), id: z.string() }),
    tenant_id: z.string(),
    correlation_id: z.string().nullable(),
    causation_id: z.string().nullable(),
    data: eventData,
  })
  .meta({
    id: 'AuditLogEntry',
    examples: [
      {
        id: ids.event,
        object: 'audit_log_entry',
        position: 2,
        time: at,
        action: 'tenant.renamed',
        actor: { type: 'operator', id: ids.operator },
        target: { type: 'tenant', id: ids.tenant },
        tenant_id: ids.tenant,
        correlation_id: ids.request,
        causation_id: null,
        data: { name: 'Acme Inc' },
      },
    ],
  });

/** One raw event of the tenant's stream, as exported to auditors. */
export const eventResponse = z
  .object({
    id: z.string(),
    type: z.string(),
    version: z.int().min(1),
    stream: z.string(),
    revision: z.int().min(0),
    position: z.int(),
    tenant_id: z.string(),
    actor,
    correlation_id: z.string().nullable(),
    causation_id: z.string().nullable(),
    time: time,
    data: eventData,
  })
  .meta({
    id: 'Event',
    examples: [
      {
        id: ids.event,
        type: 'tenant.renamed',
        version: 1,
        stream: `${ids.tenant}-${ids.tenant}`,
        revision: 1,
        position: 2,
        tenant_id: ids.tenant,
        actor: { type: 'operator', id: ids.operator },
        correlation_id: ids.request,
        causation_id: null,
        time: at,
        data: { name: 'Acme Inc' },
      },
    ],
  });

const base64url = z.string().meta({ description: 'base64url, no padding.' });
const jwkIdentity = {
  kid: z.string().meta({ description: 'The key id, `kid_…`: the `kid` header of what it signs.' }),
  alg: z.enum(['ES256', 'RS256']),
  use: z.literal('sig'),
};

/** A public signing key as a JWK (RFC 7517): public members only, so a private one fails this schema. */
const publicJwk = z
  .union([
    z.strictObject({ kty: z.literal('EC'), crv: z.literal('P-256'), x: base64url, y: base64url, ...jwkIdentity }),
    z.strictObject({ kty: z.literal('RSA'), n: base64url, e: base64url, ...jwkIdentity }),
  ])
  .meta({
    id: 'PublicJwk',
    examples: [
      {
        kty: 'EC',
        crv: 'P-256',
        x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
        y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
        kid: ids.kid,
        alg: 'ES256',
        use: 'sig',
      },
    ],
  });

/** A tenant's branding: every field filled in, the defaults where the tenant set none. */
export const brandingResponse = z
  .object({
    object: z.literal('branding'),
    display_name: z.string().meta({ description: "The name the hosted pages show; the tenant's name by default." }),
    logo_uri: z.string().nullable().meta({ description: 'An https URL (http only on localhost); null: no logo.' }),
    primary_color: z.string().meta({ description: '`#rrggbb`; `#2f5bea` by default.' }),
    background_color: z.string().meta({ description: '`#rrggbb`; `#f4f5f7` by default.' }),
  })
  .meta({
    id: 'Branding',
    examples: [
      {
        object: 'branding' as const,
        display_name: 'Acme',
        logo_uri: 'https://cdn.acme.example/logo.svg',
        primary_color: '#2f5bea',
        background_color: '#f4f5f7',
      },
    ],
  });

/** A tenant's MFA policy. */
export const mfaPolicyResponse = z
  .object({
    object: z.literal('mfa_policy'),
    mode: z.enum(['off', 'optional', 'required']).meta({
      description:
        'off: no second factor asked; optional (the default): asked when the account has one; required: an account without one enrolls at sign-in.',
    }),
    required_for_applications: z.array(z.string()).meta({
      description: 'Application ids (`app_…`) whose sign-ins require a second factor whatever the mode.',
    }),
  })
  .meta({
    id: 'MfaPolicy',
    examples: [
      { object: 'mfa_policy' as const, mode: 'optional' as const, required_for_applications: [ids.application] },
    ],
  });

const signingKeyExample = {
  id: ids.kid,
  object: 'signing_key' as const,
  alg: 'ES256' as const,
  use: 'sig' as const,
  status: 'active' as const,
  public_jwk: {
    kty: 'EC' as const,
    crv: 'P-256' as const,
    x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
    y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    kid: ids.kid,
    alg: 'ES256' as const,
    use: 'sig' as const,
  },
  created_at: at,
  activated_at: at,
  retire_at: null,
  retired_at: null,
};

/** A signing key of the tenant's OIDC issuer: its public JWK, where it is in its life, and when. */
export const signingKeyResponse = z
  .object({
    id: z.string().meta({ description: 'The key id, `kid_…`.' }),
    object: z.literal('signing_key'),
    alg: z.enum(['ES256', 'RS256']),
    use: z.literal('sig'),
    status: z.enum(['next', 'active', 'retiring', 'retired']).meta({
      description:
        '`next`: published, signs after the next rotation; `active`: signs; `retiring`: published until `retire_at`, no longer signs; `retired`: gone from the JWKS, private part destroyed.',
    }),
    public_jwk: publicJwk,
    created_at: time,
    activated_at: nullableTime,
    retire_at: nullableTime.meta({ description: 'Until when a superseded key stays published.' }),
    retired_at: nullableTime,
  })
  .meta({ id: 'SigningKey', examples: [signingKeyExample] });

/** `POST /signing-keys/rotate`: the keys published after it. */
export const signingKeyRotationResponse = z
  .object({
    object: z.literal('signing_key_rotation'),
    initialized: z.boolean().meta({
      description: 'The tenant had no keys: this request made its first ones (an active and a next key per algorithm).',
    }),
    keys: z
      .array(signingKeyResponse)
      .meta({ description: 'Every key that is not retired: active, next and retiring ones.' }),
  })
  .meta({
    id: 'SigningKeyRotation',
    examples: [
      {
        object: 'signing_key_rotation',
        initialized: false,
        keys: [
          signingKeyExample,
          {
            ...signingKeyExample,
            id: ids.nextKid,
            status: 'next',
            public_jwk: {
              ...signingKeyExample.public_jwk,
              kid: ids.nextKid,
              x: 'MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4',
              y: '4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM',
            },
            activated_at: null,
          },
        ],
      },
    ],
  });

/** A page of a list: `next_cursor` goes into `starting_after` for the next page. */
export function listResponse<Item extends z.ZodType>(id: string, item: Item, example: unknown) {
  return z
    .object({
      object: z.literal('list'),
      data: z.array(item),
      has_more: z.boolean(),
      next_cursor: z.string().nullable(),
    })
    .meta({ id, examples: [{ object: 'list', data: [example], has_more: false, next_cursor: null }] });
}

export const tenantListResponse = listResponse('TenantList', tenantResponse, tenantExample);
export const apiKeyListResponse = listResponse('ApiKeyList', apiKeyResponse, apiKeyExample);
export const webhookEndpointListResponse = listResponse(
  'WebhookEndpointList',
  webhookEndpointResponse,
  endpointExample,
);
export const applicationListResponse = listResponse('ApplicationList', applicationResponse, applicationExample);
export const webhookMessageListResponse = listResponse('WebhookMessageList', webhookMessageResponse, messageExample);
export const signingKeyListResponse = listResponse('SigningKeyList', signingKeyResponse, signingKeyExample);
export const eventTypeListResponse = listResponse('EventTypeList', eventTypeResponse, {
  type: 'tenant.renamed',
  version: 1,
  description: 'The tenant got a new name.',
  personal_fields: [],
});

/** The attempt log: newest first, paged by `before` (the last `attempted_at` seen). */
export const webhookAttemptListResponse = z
  .object({ object: z.literal('list'), data: z.array(webhookAttemptResponse), has_more: z.boolean() })
  .meta({ id: 'WebhookAttemptList', examples: [{ object: 'list', data: [attemptExample], has_more: false }] });

/** An audit-log page, pageable both ways. */
export const auditLogListResponse = z
  .object({
    object: z.literal('list'),
    data: z.array(auditLogEntryResponse),
    has_more: z
      .boolean()
      .meta({ description: 'Whether more entries lie beyond this page in the direction it was paged.' }),
    next_cursor: z.string().nullable().meta({ description: 'Send as `starting_after` for the next page.' }),
    previous_cursor: z.string().nullable().meta({ description: 'Send as `ending_before` for the page before.' }),
  })
  .meta({
    id: 'AuditLogList',
    examples: [{ object: 'list', data: [], has_more: false, next_cursor: null, previous_cursor: null }],
  });

/** `GET /healthz`. */
export const healthResponse = z
  .object({ status: z.literal('ok') })
  .meta({ id: 'Health', examples: [{ status: 'ok' }] });

/** `GET /readyz`: each dependency's check. */
export const readinessResponse = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional(), lag: z.int().optional() })),
  })
  .meta({
    id: 'Readiness',
    examples: [
      {
        status: 'ready',
        checks: { database: { ok: true }, event_store: { ok: true }, projections: { ok: true, lag: 0 } },
      },
    ],
  });

/** RFC 9457 problem+json; `code` is one of `problemCodes` (src/errors.ts). */
export const problemResponse = z
  .object({
    type: z.url().meta({ description: '`https://sigid.dev/problems/{code}`.' }),
    title: z.string(),
    status: z.int(),
    code: z.enum(allProblemCodes as [ProblemCode, ...ProblemCode[]]),
    detail: z.string(),
    instance: z.string().optional().meta({ description: 'The path of the request.' }),
    errors: z
      .array(z.object({ path: z.string(), message: z.string(), code: z.string() }))
      .optional()
      .meta({ description: 'Each issue of an invalid request.' }),
  })
  .meta({
    id: 'Problem',
    examples: [
      {
        type: 'https://sigid.dev/problems/invalid_request',
        title: 'Invalid request',
        status: 400,
        code: 'invalid_request',
        detail: 'The request body is not valid.',
        instance: '/api/v1/tenants',
        errors: [{ path: 'slug', message: 'lowercase letters, digits and inner hyphens', code: 'invalid_format' }],
      },
    ],
  });
