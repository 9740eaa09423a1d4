import { newId } from '../../src/ids.ts';
import type { TestSigid } from './sigid.ts';

// Every route of the HTTP API, as tables the refusal and probe suites share: a new route is one row.

/** What the write routes act on: one tenant with a spare key, a webhook endpoint and an application. */
export interface Fixture {
  tenantId: string;
  tenantKey: string;
  keyId: string;
  endpointId: string;
  applicationId: string;
  messageId: string;
  operator: string;
}

/** A write route, and a body it accepts (whose fields the bad requests corrupt one at a time). */
export interface WriteRoute {
  method: 'post' | 'patch' | 'delete';
  path: (f: Fixture) => string;
  auth: (f: Fixture) => string;
  body?: (f: Fixture, label: string) => Record<string, unknown>;
}

const operatorAuth = (f: Fixture) => f.operator;
const tenantAuth = (f: Fixture) => `Bearer ${f.tenantKey}`;
export const slugFor = (label: string) =>
  `refused-${label
    .replace(/[^a-z0-9]+/gi, '-')
    .toLowerCase()
    .slice(0, 24)}`.replace(/-+$/, '');

/** Every write route of the API. A new write route is one more row here. */
export const writeRoutes: Record<string, WriteRoute> = {
  'POST /tenants': {
    method: 'post',
    path: () => '/api/v1/tenants',
    auth: operatorAuth,
    body: (_f, label) => ({ name: 'Refused Inc', slug: slugFor(label) }),
  },
  'PATCH /tenants/{id}': {
    method: 'patch',
    path: (f) => `/api/v1/tenants/${f.tenantId}`,
    auth: operatorAuth,
    body: () => ({ name: 'Renamed', status: 'suspended', suspension_reason: 'unpaid' }),
  },
  'DELETE /tenants/{id}': { method: 'delete', path: (f) => `/api/v1/tenants/${f.tenantId}`, auth: operatorAuth },
  'POST /tenants/{id}/api-keys': {
    method: 'post',
    path: (f) => `/api/v1/tenants/${f.tenantId}/api-keys`,
    auth: operatorAuth,
    body: () => ({ name: 'break-glass' }),
  },
  'POST /api-keys': { method: 'post', path: () => '/api/v1/api-keys', auth: tenantAuth, body: () => ({ name: 'ci' }) },
  'DELETE /api-keys/{id}': { method: 'delete', path: (f) => `/api/v1/api-keys/${f.keyId}`, auth: tenantAuth },
  'POST /applications': {
    method: 'post',
    path: () => '/api/v1/applications',
    auth: tenantAuth,
    body: () => ({
      kind: 'web',
      client_name: 'Refused app',
      redirect_uris: ['https://app.example.com/callback'],
      access_token_ttl_seconds: 900,
    }),
  },
  'PATCH /applications/{id}': {
    method: 'patch',
    path: (f) => `/api/v1/applications/${f.applicationId}`,
    auth: tenantAuth,
    body: () => ({ client_name: 'Renamed app', redirect_uris: ['https://app.example.com/other'] }),
  },
  'DELETE /applications/{id}': {
    method: 'delete',
    path: (f) => `/api/v1/applications/${f.applicationId}`,
    auth: tenantAuth,
  },
  'POST /applications/{id}/secrets': {
    method: 'post',
    path: (f) => `/api/v1/applications/${f.applicationId}/secrets`,
    auth: tenantAuth,
    body: () => ({ overlap_seconds: 0 }),
  },
  'POST /signing-keys/rotate': {
    method: 'post',
    path: () => '/api/v1/signing-keys/rotate',
    auth: tenantAuth,
    body: () => ({ alg: 'ES256' }),
  },
  'PATCH /branding': {
    method: 'patch',
    path: () => '/api/v1/branding',
    auth: tenantAuth,
    body: () => ({
      display_name: 'Refused brand',
      logo_uri: 'https://cdn.example.com/logo.png',
      primary_color: '#112233',
      background_color: '#ffffff',
    }),
  },
  'PATCH /mfa-policy': {
    method: 'patch',
    path: () => '/api/v1/mfa-policy',
    auth: tenantAuth,
    body: (f) => ({ mode: 'required', required_for_applications: [f.applicationId] }),
  },
  'POST /webhooks': {
    method: 'post',
    path: () => '/api/v1/webhooks',
    auth: tenantAuth,
    body: () => ({ url: 'http://127.0.0.1:9/hooks', event_types: ['tenant.renamed'], description: 'CRM' }),
  },
  'PATCH /webhooks/{id}': {
    method: 'patch',
    path: (f) => `/api/v1/webhooks/${f.endpointId}`,
    auth: tenantAuth,
    body: () => ({ url: 'http://127.0.0.1:9/other', event_types: ['*'], description: 'changed' }),
  },
  'DELETE /webhooks/{id}': { method: 'delete', path: (f) => `/api/v1/webhooks/${f.endpointId}`, auth: tenantAuth },
  'POST /webhooks/{id}/disable': {
    method: 'post',
    path: (f) => `/api/v1/webhooks/${f.endpointId}/disable`,
    auth: tenantAuth,
  },
  'POST /webhooks/{id}/enable': {
    method: 'post',
    path: (f) => `/api/v1/webhooks/${f.endpointId}/enable`,
    auth: tenantAuth,
  },
  'POST /webhooks/{id}/rotate-secret': {
    method: 'post',
    path: (f) => `/api/v1/webhooks/${f.endpointId}/rotate-secret`,
    auth: tenantAuth,
    body: () => ({ overlap_seconds: 0 }),
  },
  'POST /webhooks/{id}/replay': {
    method: 'post',
    path: (f) => `/api/v1/webhooks/${f.endpointId}/replay`,
    auth: tenantAuth,
    body: () => ({ after_position: 0 }),
  },
  'POST /webhooks/{id}/messages/{id}/redeliver': {
    method: 'post',
    path: (f) => `/api/v1/webhooks/${f.endpointId}/messages/${f.messageId}/redeliver`,
    auth: tenantAuth,
  },
};

/** Every GET route, with one parameter it knows (or none). A new GET route is one more row here. */
export interface ReadRoute {
  path: (f: Fixture) => string;
  auth: (f: Fixture) => string;
  /** A query the route accepts (`limit=5`); absent for a route that takes none. */
  known?: string;
  /** The status of a good request, when not 200. */
  status?: number;
}

export const readRoutes: ReadRoute[] = [
  { path: () => '/api/v1/tenants', auth: operatorAuth, known: 'limit=5' },
  { path: (f) => `/api/v1/tenants/${f.tenantId}`, auth: operatorAuth },
  { path: () => '/api/v1/api-keys', auth: tenantAuth, known: 'limit=5' },
  { path: () => '/api/v1/applications', auth: tenantAuth, known: 'limit=5' },
  { path: (f) => `/api/v1/applications/${f.applicationId}`, auth: tenantAuth },
  { path: () => '/api/v1/audit-logs', auth: tenantAuth, known: 'actor=key_x' },
  { path: () => '/api/v1/audit-logs/export', auth: tenantAuth, known: 'actor=key_x' },
  { path: () => '/api/v1/events', auth: tenantAuth, known: 'types=tenant.renamed' },
  { path: () => '/api/v1/signing-keys', auth: tenantAuth, known: 'status=active' },
  { path: () => '/api/v1/branding', auth: tenantAuth },
  { path: () => '/api/v1/mfa-policy', auth: tenantAuth },
  { path: () => '/api/v1/webhooks', auth: tenantAuth, known: 'limit=5' },
  { path: () => '/api/v1/webhooks/event-types', auth: tenantAuth },
  { path: (f) => `/api/v1/webhooks/${f.endpointId}`, auth: tenantAuth },
  { path: (f) => `/api/v1/webhooks/${f.endpointId}/messages`, auth: tenantAuth, known: 'status=pending' },
  { path: (f) => `/api/v1/webhooks/${f.endpointId}/attempts`, auth: tenantAuth, known: 'limit=5' },
  // No such message: 404 when the query is right, 400 when it is not.
  { path: (f) => `/api/v1/webhooks/${f.endpointId}/messages/${f.messageId}`, auth: tenantAuth, status: 404 },
  { path: () => '/api/v1/openapi.json', auth: tenantAuth },
  { path: () => '/healthz', auth: tenantAuth },
  { path: () => '/readyz', auth: tenantAuth },
];

/**
 * The fixture: a tenant with a spare key, a webhook endpoint to http://127.0.0.1:9 (allowlist
 * 127.0.0.1 in the SigID under test), a web application, its signing keys, and a message id that names no message.
 * Every projection has read an event of its own once it is made (so each has its checkpoint row).
 */
export async function makeFixture(t: TestSigid, name: string): Promise<Fixture> {
  const tenant = await t.createTenant(name);
  const [keyId] = await t.issueKeys(tenant.key, 1, 'spare');
  const endpoint = await t.http
    .post('/api/v1/webhooks')
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ url: 'http://127.0.0.1:9/hooks', event_types: ['*'] })
    .expect(201);
  const application = await t.http
    .post('/api/v1/applications')
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ kind: 'web', client_name: 'Fixture app', redirect_uris: ['https://app.example.com/callback'] })
    .expect(201);
  await t.http.post('/api/v1/signing-keys/rotate').set('Authorization', `Bearer ${tenant.key}`).expect(200);
  return {
    tenantId: tenant.tenantId,
    tenantKey: tenant.key,
    keyId: keyId as string,
    endpointId: endpoint.body.id,
    applicationId: application.body.id,
    messageId: newId('msg'),
    operator: t.operator,
  };
}
