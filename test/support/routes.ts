import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../../services/accounts.ts';
import { useCase } from '../../services/context.ts';
import { newId } from '../../src/ids.ts';
import { anchorAgentWithDidKey, registerAgentKey } from './agent-credentials.ts';
import type { TestSigid } from './sigid.ts';

// Every route of the HTTP API, as tables the refusal and probe suites share: a new route is one row.

/** What the write routes act on: one tenant with a spare key, a webhook endpoint and an application. */
export interface Fixture {
  tenantId: string;
  tenantKey: string;
  keyId: string;
  policyId: string;
  endpointId: string;
  applicationId: string;
  apiId: string;
  organizationId: string;
  /** A tenant user (linked account) who is a member of the organization. */
  memberSub: string;
  roleId: string;
  /** A user of the tenant (signed up and linked), holding the fixture's role: the organization's member. */
  sub: string;
  /** A user of the tenant: an account linked to it. */
  userSub: string;
  /** A pending invitation of the tenant. */
  invitationId: string;
  /** An agent owned by `userSub`, allowed the API's scope, with one registered key (`agentKid`). */
  agentId: string;
  agentKid: string;
  /** An unverified did:key anchor of the agent. */
  agentAnchorId: string;
  /** A delegation of `userSub` to the agent (read and revoke rows). */
  delegationId: string;
  /** A connection id of the organization that names no connection (creating one needs a live IdP). */
  connectionId: string;
  messageId: string;
  operator: string;
}

/** A write route, and a body it accepts (whose fields the bad requests corrupt one at a time). */
export interface WriteRoute {
  method: 'post' | 'put' | 'patch' | 'delete';
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
  'POST /apis': {
    method: 'post',
    path: () => '/api/v1/apis',
    auth: tenantAuth,
    body: (_f, label) => ({
      name: 'Refused API',
      identifier: `https://${slugFor(label)}.example.com/api`,
      scopes: [{ value: 'invoices:read', description: 'Read invoices' }],
      access_token_ttl_seconds: 600,
    }),
  },
  'PATCH /apis/{id}': {
    method: 'patch',
    path: (f) => `/api/v1/apis/${f.apiId}`,
    auth: tenantAuth,
    body: () => ({ name: 'Renamed API', scopes: [{ value: 'invoices:write', description: '' }] }),
  },
  'DELETE /apis/{id}': { method: 'delete', path: (f) => `/api/v1/apis/${f.apiId}`, auth: tenantAuth },
  'PUT /apis/{id}/grants/{id}': {
    method: 'put',
    path: (f) => `/api/v1/apis/${f.apiId}/grants/${f.applicationId}`,
    auth: tenantAuth,
    body: () => ({ scopes: ['invoices:read'] }),
  },
  'DELETE /apis/{id}/grants/{id}': {
    method: 'delete',
    path: (f) => `/api/v1/apis/${f.apiId}/grants/${f.applicationId}`,
    auth: tenantAuth,
  },
  'POST /organizations': {
    method: 'post',
    path: () => '/api/v1/organizations',
    auth: tenantAuth,
    body: (_f, label) => ({ name: slugFor(label), display_name: 'Refused Inc.', metadata: { tier: 'gold' } }),
  },
  'PATCH /organizations/{id}': {
    method: 'patch',
    path: (f) => `/api/v1/organizations/${f.organizationId}`,
    auth: tenantAuth,
    body: () => ({ display_name: 'Renamed Inc.', metadata: { tier: 'silver' } }),
  },
  'DELETE /organizations/{id}': {
    method: 'delete',
    path: (f) => `/api/v1/organizations/${f.organizationId}`,
    auth: tenantAuth,
  },
  'PUT /organizations/{id}/members/{sub}': {
    method: 'put',
    path: (f) => `/api/v1/organizations/${f.organizationId}/members/${f.memberSub}`,
    auth: tenantAuth,
    body: (f) => ({ roles: [f.roleId] }),
  },
  'DELETE /organizations/{id}/members/{sub}': {
    method: 'delete',
    path: (f) => `/api/v1/organizations/${f.organizationId}/members/${f.memberSub}`,
    auth: tenantAuth,
  },
  'POST /organizations/{id}/domains': {
    method: 'post',
    path: (f) => `/api/v1/organizations/${f.organizationId}/domains`,
    auth: tenantAuth,
    body: (_f, label) => ({ domain: `${slugFor(label)}.example.com` }),
  },
  'POST /organizations/{id}/domains/{domain}/verify': {
    method: 'post',
    path: (f) => `/api/v1/organizations/${f.organizationId}/domains/fixture.example.com/verify`,
    auth: tenantAuth,
  },
  'DELETE /organizations/{id}/domains/{domain}': {
    method: 'delete',
    path: (f) => `/api/v1/organizations/${f.organizationId}/domains/fixture.example.com`,
    auth: tenantAuth,
  },
  'POST /roles': {
    method: 'post',
    path: () => '/api/v1/roles',
    auth: tenantAuth,
    body: (f, label) => ({
      name: `Refused ${label}`.slice(0, 100),
      description: 'A role the bad requests never create',
      permissions: [{ api_id: f.apiId, scope: 'invoices:read' }],
    }),
  },
  'PATCH /roles/{id}': {
    method: 'patch',
    path: (f) => `/api/v1/roles/${f.roleId}`,
    auth: tenantAuth,
    body: (f) => ({
      name: 'Renamed role',
      description: 'Changed',
      permissions: [{ api_id: f.apiId, scope: 'invoices:read' }],
    }),
  },
  'DELETE /roles/{id}': { method: 'delete', path: (f) => `/api/v1/roles/${f.roleId}`, auth: tenantAuth },
  'PUT /roles/{id}/users/{sub}': {
    method: 'put',
    path: (f) => `/api/v1/roles/${f.roleId}/users/${f.sub}`,
    auth: tenantAuth,
  },
  'DELETE /roles/{id}/users/{sub}': {
    method: 'delete',
    path: (f) => `/api/v1/roles/${f.roleId}/users/${f.sub}`,
    auth: tenantAuth,
  },
  'PATCH /role-claims': {
    method: 'patch',
    path: () => '/api/v1/role-claims',
    auth: tenantAuth,
    body: () => ({ roles_claim: 'roles', permissions_claim: 'permissions', enforce_permissions: false }),
  },
  'PATCH /client-registration': {
    method: 'patch',
    path: () => '/api/v1/client-registration',
    auth: tenantAuth,
    body: () => ({ client_id_metadata_documents: false, dynamic_registration: false }),
  },
  'POST /policies': {
    method: 'post',
    path: () => '/api/v1/policies',
    auth: tenantAuth,
    body: () => ({
      name: 'Refused policy',
      description: 'Never stored',
      cedar: 'permit(principal, action == SigID::Action::"read", resource);',
    }),
  },
  'PATCH /policies/{id}': {
    method: 'patch',
    path: (f) => `/api/v1/policies/${f.policyId}`,
    auth: tenantAuth,
    body: () => ({ name: 'Renamed policy', cedar: 'permit(principal, action == SigID::Action::"list", resource);' }),
  },
  'DELETE /policies/{id}': { method: 'delete', path: (f) => `/api/v1/policies/${f.policyId}`, auth: tenantAuth },
  // Writes nothing even when it answers; a bad request is a 400 all the same.
  'POST /authorize': {
    method: 'post',
    path: () => '/api/v1/authorize',
    auth: tenantAuth,
    body: () => ({
      principal: { type: 'User', id: 'alice' },
      action: 'read',
      resource: { type: 'invoice', id: 'inv_1', attributes: { owner: 'alice' } },
      context: { ip: '10.0.0.1', amr: ['pwd'], mfa_age_seconds: 60 },
    }),
  },
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
  'PATCH /users/{sub}': {
    method: 'patch',
    path: (f) => `/api/v1/users/${f.userSub}`,
    auth: tenantAuth,
    body: () => ({ name: 'Fixture User', given_name: 'Fixture', picture: 'https://images.example.com/u.png' }),
  },
  'POST /users/{sub}/block': { method: 'post', path: (f) => `/api/v1/users/${f.userSub}/block`, auth: tenantAuth },
  'POST /users/{sub}/unblock': { method: 'post', path: (f) => `/api/v1/users/${f.userSub}/unblock`, auth: tenantAuth },
  'POST /users/{sub}/sessions/revoke': {
    method: 'post',
    path: (f) => `/api/v1/users/${f.userSub}/sessions/revoke`,
    auth: tenantAuth,
  },
  'DELETE /users/{sub}/sessions/{id}': {
    method: 'delete',
    path: (f) => `/api/v1/users/${f.userSub}/sessions/${newId('req')}`,
    auth: tenantAuth,
  },
  'DELETE /users/{sub}': { method: 'delete', path: (f) => `/api/v1/users/${f.userSub}`, auth: tenantAuth },
  'POST /organizations/{id}/connections': {
    method: 'post',
    path: (f) => `/api/v1/organizations/${f.organizationId}/connections`,
    auth: tenantAuth,
    body: (_f, label) => ({
      name: `Connection ${label}`,
      protocol: 'oidc',
      oidc: {
        issuer: 'https://idp.fixture.example.com',
        client_id: 'sigid',
        client_secret: 'a connection secret',
        scopes: ['openid', 'email'],
        claim_mapping: { email: 'email', name: 'name' },
      },
      link_existing_accounts: false,
    }),
  },
  'PATCH /organizations/{id}/connections/{connectionId}': {
    method: 'patch',
    path: (f) => `/api/v1/organizations/${f.organizationId}/connections/${f.connectionId}`,
    auth: tenantAuth,
    body: () => ({ name: 'Renamed connection', enabled: false }),
  },
  'DELETE /organizations/{id}/connections/{connectionId}': {
    method: 'delete',
    path: (f) => `/api/v1/organizations/${f.organizationId}/connections/${f.connectionId}`,
    auth: tenantAuth,
  },
  'POST /agents': {
    method: 'post',
    path: () => '/api/v1/agents',
    auth: tenantAuth,
    body: (f, label) => ({
      name: `Agent ${label}`,
      description: 'Files invoices',
      owner: { type: 'user', id: f.userSub },
      allowed_scopes: [{ api_id: f.apiId, scopes: ['invoices:read'] }],
      delegation: { scopes: ['invoices:read'], max_lifetime_seconds: 600 },
    }),
  },
  'PATCH /agents/{id}': {
    method: 'patch',
    path: (f) => `/api/v1/agents/${f.agentId}`,
    auth: tenantAuth,
    body: () => ({ name: 'Renamed agent', description: 'Files more invoices' }),
  },
  'POST /agents/{id}/suspend': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/suspend`,
    auth: tenantAuth,
    body: () => ({ reason: 'probe', revoke_keys: false }),
  },
  'POST /agents/{id}/reactivate': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/reactivate`,
    auth: tenantAuth,
  },
  'POST /agents/{id}/challenges': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/challenges`,
    auth: tenantAuth,
  },
  'POST /agents/{id}/keys': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/keys`,
    auth: tenantAuth,
    body: () => ({
      jwk: {
        kty: 'EC',
        crv: 'P-256',
        x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
        y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
      },
      challenge: 'chl_01m8w5a7y4ev9tmgwgbm8sfzqa',
      proof: 'eyJhbGciOiJFUzI1NiJ9.bm9uY2U.c2lnbmF0dXJl',
    }),
  },
  'POST /agents/{id}/keys/{kid}/deprecate': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/keys/${f.agentKid}/deprecate`,
    auth: tenantAuth,
  },
  'POST /agents/{id}/keys/{kid}/revoke': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/keys/${f.agentKid}/revoke`,
    auth: tenantAuth,
  },
  'POST /agents/{id}/anchors': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/anchors`,
    auth: tenantAuth,
    body: () => ({ kind: 'did_key', did: 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp' }),
  },
  'POST /agents/{id}/anchors/{anchor_id}/challenges': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/anchors/${f.agentAnchorId}/challenges`,
    auth: tenantAuth,
  },
  'POST /agents/{id}/anchors/{anchor_id}/verify': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/anchors/${f.agentAnchorId}/verify`,
    auth: tenantAuth,
    body: () => ({
      challenge: 'q5n3rVt0Q2c6yK0oXb8m1J4sWzE7uHfA9dLpGiRkT1U',
      proof: 'eyJhbGciOiJFZERTQSJ9.bm9uY2U.c2lnbmF0dXJl',
    }),
  },
  'POST /agents/{id}/anchors/{anchor_id}/revoke': {
    method: 'post',
    path: (f) => `/api/v1/agents/${f.agentId}/anchors/${f.agentAnchorId}/revoke`,
    auth: tenantAuth,
  },
  'DELETE /agents/{id}': { method: 'delete', path: (f) => `/api/v1/agents/${f.agentId}`, auth: tenantAuth },
  'POST /delegations': {
    method: 'post',
    path: () => '/api/v1/delegations',
    auth: tenantAuth,
    body: (f) => ({
      agent_id: f.agentId,
      sub: f.userSub,
      audience: 'https://fixture.example.com/api',
      scopes: ['invoices:read'],
      expires_in: 300,
    }),
  },
  'POST /delegations/{id}/revoke': {
    method: 'post',
    path: (f) => `/api/v1/delegations/${f.delegationId}/revoke`,
    auth: tenantAuth,
    body: () => ({ reason: 'probe' }),
  },
  'POST /invitations': {
    method: 'post',
    path: () => '/api/v1/invitations',
    auth: tenantAuth,
    body: () => ({ email: 'invited@example.com', roles: ['editor'], organization_id: 'org_1' }),
  },
  'POST /invitations/{id}/resend': {
    method: 'post',
    path: (f) => `/api/v1/invitations/${f.invitationId}/resend`,
    auth: tenantAuth,
    body: () => ({ expires_in_seconds: 3600 }),
  },
  'POST /invitations/{id}/revoke': {
    method: 'post',
    path: (f) => `/api/v1/invitations/${f.invitationId}/revoke`,
    auth: tenantAuth,
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
  { path: () => '/api/v1/apis', auth: tenantAuth, known: 'limit=5' },
  { path: (f) => `/api/v1/apis/${f.apiId}`, auth: tenantAuth },
  { path: (f) => `/api/v1/apis/${f.apiId}/grants`, auth: tenantAuth, known: 'limit=5' },
  { path: () => '/api/v1/policies', auth: tenantAuth, known: 'limit=5' },
  { path: () => '/api/v1/policies/schema', auth: tenantAuth },
  { path: (f) => `/api/v1/policies/${f.policyId}`, auth: tenantAuth },
  { path: (f) => `/api/v1/policies/${f.policyId}/versions`, auth: tenantAuth, known: 'limit=5' },
  { path: () => '/api/v1/organizations', auth: tenantAuth, known: 'limit=5' },
  { path: (f) => `/api/v1/organizations/${f.organizationId}`, auth: tenantAuth },
  { path: (f) => `/api/v1/organizations/${f.organizationId}/members`, auth: tenantAuth, known: 'limit=5' },
  { path: (f) => `/api/v1/organizations/${f.organizationId}/members/${f.memberSub}`, auth: tenantAuth },
  { path: (f) => `/api/v1/organizations/${f.organizationId}/domains`, auth: tenantAuth, known: 'limit=5' },
  { path: (f) => `/api/v1/organizations/${f.organizationId}/domains/fixture.example.com`, auth: tenantAuth },
  { path: (f) => `/api/v1/organizations/${f.organizationId}/connections`, auth: tenantAuth, known: 'limit=5' },
  {
    path: (f) => `/api/v1/organizations/${f.organizationId}/connections/${f.connectionId}`,
    auth: tenantAuth,
    status: 404,
  },
  { path: () => '/api/v1/roles', auth: tenantAuth, known: 'limit=5' },
  { path: (f) => `/api/v1/roles/${f.roleId}`, auth: tenantAuth },
  { path: (f) => `/api/v1/roles/${f.roleId}/users`, auth: tenantAuth, known: 'limit=5' },
  // A sub of no user: an empty list.
  { path: () => '/api/v1/role-assignments', auth: tenantAuth, known: 'sub=sub_01m8w5a7y4ev9tmgwgbm8sfzqa' },
  { path: () => '/api/v1/role-claims', auth: tenantAuth },
  { path: () => '/api/v1/client-registration', auth: tenantAuth },
  { path: () => '/api/v1/users', auth: tenantAuth, known: 'email=ada' },
  { path: (f) => `/api/v1/users/${f.userSub}`, auth: tenantAuth },
  { path: (f) => `/api/v1/users/${f.userSub}/sessions`, auth: tenantAuth },
  { path: () => '/api/v1/invitations', auth: tenantAuth, known: 'status=pending' },
  { path: (f) => `/api/v1/invitations/${f.invitationId}`, auth: tenantAuth },
  { path: () => '/api/v1/agents', auth: tenantAuth, known: 'limit=5' },
  { path: (f) => `/api/v1/agents/${f.agentId}`, auth: tenantAuth },
  { path: (f) => `/api/v1/agents/${f.agentId}/keys`, auth: tenantAuth },
  { path: (f) => `/api/v1/agents/${f.agentId}/keys/${f.agentKid}`, auth: tenantAuth },
  { path: () => '/api/v1/delegations', auth: tenantAuth, known: 'status=active' },
  { path: (f) => `/api/v1/delegations/${f.delegationId}`, auth: tenantAuth },
  { path: (f) => `/api/v1/agents/${f.agentId}/anchors`, auth: tenantAuth },
  { path: (f) => `/api/v1/agents/${f.agentId}/anchors/${f.agentAnchorId}`, auth: tenantAuth },
  { path: (f) => `/api/v1/agents/${f.agentId}/activity`, auth: tenantAuth, known: 'limit=5' },
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
  { path: () => '/.well-known/oauth-protected-resource', auth: tenantAuth },
  { path: () => '/readyz', auth: tenantAuth },
];

/**
 * The fixture: a tenant with a spare key, a webhook endpoint to http://127.0.0.1:9 (allowlist
 * 127.0.0.1 in the SigID under test), a web application, an API granting it a scope, a policy, its signing keys, an organization with a member and a pending domain,
 * a role with the API's scope held by that member, a second user, a pending invitation, and a message id that names no message.
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
  const api = await t.http
    .post('/api/v1/apis')
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ name: 'Fixture API', identifier: 'https://fixture.example.com/api', scopes: [{ value: 'invoices:read' }] })
    .expect(201);
  await t.http
    .put(`/api/v1/apis/${api.body.id}/grants/${application.body.id}`)
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ scopes: ['invoices:read'] })
    .expect(200);
  const policy = await t.http
    .post('/api/v1/policies')
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ name: 'Fixture policy', cedar: 'permit(principal, action == SigID::Action::"read", resource);' })
    .expect(201);
  await t.http.post('/api/v1/signing-keys/rotate').set('Authorization', `Bearer ${tenant.key}`).expect(200);
  const organization = await t.http
    .post('/api/v1/organizations')
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ name: 'fixture' })
    .expect(201);
  const person = { type: 'system', id: 'fixture' } as const;
  const signedUp = await signUpWithPassword(
    t.sigid,
    { email: `fixture.${newId('req')}@example.com`, password: 'correct horse battery' },
    useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: newId('req') }),
  );
  if (signedUp.status !== 'created') throw new Error('fixture sign-up');
  const linked = await linkAccount(
    t.sigid,
    signedUp.accountId,
    tenant.tenantId,
    useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: newId('req') }),
  );
  if (linked.written.position !== null) await t.sigid.projections.waitFor(linked.written.position);
  await t.http
    .put(`/api/v1/organizations/${organization.body.id}/members/${linked.sub}`)
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ roles: [] })
    .expect(200);
  await t.http
    .post(`/api/v1/organizations/${organization.body.id}/domains`)
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ domain: 'fixture.example.com' })
    .expect(201);
  const role = await t.http
    .post('/api/v1/roles')
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ name: 'Fixture role', permissions: [{ api_id: api.body.id, scope: 'invoices:read' }] })
    .expect(201);
  await t.http
    .put(`/api/v1/roles/${role.body.id}/users/${linked.sub}`)
    .set('Authorization', `Bearer ${tenant.key}`)
    .expect(200);
  const system = { actor: { type: 'system', id: 'fixture' } as const, correlationId: 'fixture' };
  const account = await signUpWithPassword(
    t.sigid,
    { email: `fixture.${newId('req')}@example.com`, password: 'a fixture password' },
    useCase({ tenantId: PLATFORM_TENANT, ...system }),
  );
  if (account.status !== 'created') throw new Error('fixture sign-up');
  await t.sigid.projections.waitFor(await t.sigid.store.headPosition());
  const user = await linkAccount(
    t.sigid,
    account.accountId,
    tenant.tenantId,
    useCase({ tenantId: tenant.tenantId, ...system }),
  );
  await t.sigid.projections.waitFor(await t.sigid.store.headPosition());
  const invitation = await t.http
    .post('/api/v1/invitations')
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({ email: 'fixture.invited@example.com' })
    .expect(201);
  // Its e-mail is sent (or set aside) before the suites count what a refused request changed.
  for (let waited = 0; waited < 10_000; waited += 25) {
    const { rows } = await t.sigid.db.query<{ count: number }>('select count(*)::int as count from email_outbox');
    if (rows[0]?.count === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const agent = await t.http
    .post('/api/v1/agents')
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({
      name: 'Fixture agent',
      owner: { type: 'user', id: user.sub },
      allowed_scopes: [{ api_id: api.body.id, scopes: ['invoices:read'] }],
      delegation: { scopes: ['invoices:read'], audiences: ['https://fixture.example.com/api'] },
    })
    .expect(201);
  const agentKey = await registerAgentKey(t.http, `Bearer ${tenant.key}`, agent.body.id);
  // Unverified: the anchor routes' rows act on it.
  const anchor = await anchorAgentWithDidKey(t.http, `Bearer ${tenant.key}`, agent.body.id, false);
  const delegation = await t.http
    .post('/api/v1/delegations')
    .set('Authorization', `Bearer ${tenant.key}`)
    .send({
      agent_id: agent.body.id,
      sub: user.sub,
      audience: 'https://fixture.example.com/api',
      scopes: ['invoices:read'],
    })
    .expect(201);
  await t.sigid.projections.waitFor(await t.sigid.store.headPosition());
  return {
    tenantId: tenant.tenantId,
    tenantKey: tenant.key,
    keyId: keyId as string,
    endpointId: endpoint.body.id,
    applicationId: application.body.id,
    apiId: api.body.id,
    policyId: policy.body.id,
    organizationId: organization.body.id,
    memberSub: linked.sub,
    roleId: role.body.id,
    sub: linked.sub,
    userSub: user.sub,
    invitationId: invitation.body.id,
    agentId: agent.body.id,
    agentKid: agentKey.kid,
    agentAnchorId: anchor.anchorId,
    delegationId: delegation.body.id,
    connectionId: newId('con'),
    messageId: newId('msg'),
    operator: t.operator,
  };
}
