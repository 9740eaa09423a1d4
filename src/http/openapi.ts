import { writeFileSync } from 'node:fs';
import { Router } from 'express';
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import { catalog } from '../../events/catalog.ts';
import { type ProblemCode, problemCodes } from '../errors.ts';
import {
  activityQuery,
  addAgentAnchorBody,
  createAgentBody,
  registerAgentKeyBody,
  suspendAgentBody,
  updateAgentBody,
  verifyAgentAnchorBody,
} from './agents.ts';
import { createApiKeyBody } from './api-keys.ts';
import { createApiBody, setApiGrantBody, updateApiBody } from './apis.ts';
import { createApplicationBody, rotateClientSecretBody, updateApplicationBody } from './applications.ts';
import { exportQuery as auditLogsExportQuery, listQuery as auditLogsQuery } from './audit-logs.ts';
import { createConnectionBody, updateConnectionBody } from './connections.ts';
import { createDelegationBody, listDelegationsQuery, revokeDelegationBody } from './delegations.ts';
import { eventsQuery } from './events.ts';
import { createInvitationBody, listInvitationsQuery, resendInvitationBody } from './invitations.ts';
import {
  addDomainBody,
  createOrganizationBody,
  domainListQuery,
  setMemberBody,
  updateOrganizationBody,
} from './organizations.ts';
import { listQuery } from './pagination.ts';
import { authorizeBody, createPolicyBody, updatePolicyBody, versionsQuery } from './policies.ts';
import * as responses from './responses.ts';
import { createRoleBody, roleAssignmentsQuery, updateRoleBody } from './roles.ts';
import { rotateSigningKeysBody, signingKeysQuery } from './signing-keys.ts';
import {
  updateBrandingBody,
  updateClientRegistrationBody,
  updateMfaPolicyBody,
  updateRoleClaimsBody,
} from './tenant-settings.ts';
import { createTenantBody, updateTenantBody } from './tenants.ts';
import { listUsersQuery, updateUserBody } from './users.ts';
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
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
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
const applicationId = z
  .string()
  .meta({ description: 'The application id, `app_…`.', ...example('app_01m8ss33wqeezr2cmaq9j1f4yv') });
const applicationParams = z.object({ id: applicationId });
const apiId = z.string().meta({ description: 'The API id, `api_…`.', ...example('api_01m8ss33wqeezr2cmbv1xw2c6d') });
const apiParams = z.object({ id: apiId });
const apiGrantParams = z.object({ id: apiId, application_id: applicationId });
const organizationId = z
  .string()
  .meta({ description: 'The organization id, `org_…`.', ...example('org_01m8ss33wqeezr2cmd4rk8hq2e') });
const organizationParams = z.object({ id: organizationId });
const memberParams = z.object({
  id: organizationId,
  sub: z
    .string()
    .meta({ description: "The user's `sub` in the tenant.", ...example('sub_01m8ss33wqeezr2cmf0n7y5g3a') }),
});
const domainParams = z.object({
  id: organizationId,
  domain: z.string().meta({ description: 'The domain (any case; IDNA U-labels accepted).', ...example('acme.com') }),
});
const connectionParams = z.object({
  id: organizationId,
  connectionId: z
    .string()
    .meta({ description: 'The connection id, `con_…`.', ...example('con_01m8ss33wqeezr2cmg7c2v4d9f') }),
});
const roleId = z.string().meta({ description: 'The role id, `rol_…`.', ...example('rol_01m8w5a7y3exdt48qje61g3w01') });
const roleParams = z.object({ id: roleId });
const roleHolderParams = z.object({
  id: roleId,
  sub: z
    .string()
    .meta({ description: "A user's `sub` at this tenant, `sub_…`.", ...example('sub_01m8w5a7y4ev9tmgwgbm8sfzqa') }),
});
const agentId = z
  .string()
  .meta({ description: 'The agent id, `agt_…`.', ...example('agt_01m8ss33wqeezr2cmg1a7c4d5e') });
const agentParams = z.object({ id: agentId });
const delegationParams = z.object({
  id: z.string().meta({ description: 'The delegation id, `dlg_…`.', ...example('dlg_01m8ss33wqeezr2cmj3c9e6f7g') }),
});
const agentKeyParams = z.object({
  id: agentId,
  kid: z.string().meta({
    description: "The key's RFC 7638 thumbprint.",
    ...example('Xd1n0VpFzLqM3kK0a3v8b6x6p8z4bRrjq0Tq0mY7l1s'),
  }),
});
const agentAnchorParams = z.object({
  id: agentId,
  anchor_id: z.string().meta({ description: 'The anchor id, `anc_…`.', ...example('anc_01m8ss33wqeezr2cmj3c9e6f7g') }),
});
const policyParams = z.object({
  id: z.string().meta({ description: 'The policy id, `pol_…`.', ...example('pol_01m8ss33wqeezr2cmdq7t9k3xf') }),
});
const invitationParams = z.object({
  id: z.string().meta({ description: 'The invitation id, `inv_…`.', ...example('inv_01m8ss33wqeezr2cmf0w2zq1xs') }),
});
const userSub = z
  .string()
  .meta({ description: "The user's sub, `sub_…`.", ...example('sub_01m8ss33wqeezr2cmd5h0tqz0e') });
const userParams = z.object({ sub: userSub });
const userSessionParams = z.object({
  sub: userSub,
  session_id: z.string().meta({ description: "The session's id as the sessions list shows it." }),
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
    path: '/.well-known/oauth-protected-resource',
    operationId: 'getProtectedResourceMetadata',
    tag: 'meta',
    summary: "RFC 9728 metadata of SigID's API",
    description:
      'Names the API (`resource`) and how it takes credentials. Every 401 of `/api/v1/*` points here in `WWW-Authenticate: Bearer resource_metadata="…"`. A tenant\'s own APIs and MCP servers serve their own (docs/mcp.md).',
    auth: 'none',
    answers: [{ status: 200, description: 'The metadata.', schema: responses.protectedResourceResponse }],
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
    method: 'post',
    path: '/api/v1/apis',
    operationId: 'createApi',
    tag: 'apis',
    summary: 'Register an API (a resource server) with its scopes',
    description:
      "`identifier` is the RFC 8707 `resource` clients ask tokens for and the tokens' `aud`: an absolute https URI without a fragment (http only for localhost or 127.0.0.1), unique within the tenant, never changed. See docs/apis.md.",
    auth: 'tenant',
    body: createApiBody,
    answers: [{ status: 201, description: 'Created.', schema: responses.apiResponse, etag: true, location: true }],
    problems: ['identifier_taken', 'api_exists', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/apis',
    operationId: 'listApis',
    tag: 'apis',
    summary: 'List APIs',
    auth: 'tenant',
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of APIs.', schema: responses.apiListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/apis/{id}',
    operationId: 'getApi',
    tag: 'apis',
    summary: 'One API',
    auth: 'tenant',
    params: apiParams,
    answers: [{ status: 200, description: 'The API.', schema: responses.apiResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/apis/{id}',
    operationId: 'updateApi',
    tag: 'apis',
    summary: "Change an API's name, scopes or token lifetime (its identifier never changes)",
    description: 'A scope removed is removed from every grant; tokens stop carrying it within a second.',
    auth: 'tenant',
    params: apiParams,
    body: updateApiBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The API as changed.', schema: responses.apiResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/apis/{id}',
    operationId: 'deleteApi',
    tag: 'apis',
    summary: 'Delete an API: its grants end, its identifier can be registered again',
    auth: 'tenant',
    params: apiParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/invitations',
    operationId: 'createInvitation',
    tag: 'invitations',
    summary: 'Invite a person by e-mail, with roles and optionally an organization',
    description:
      "Sends an e-mail with a signed, single-use link to the hosted `/invitation` page, valid `expires_in_seconds` (an hour to 7 days; default 7 days). Each role must be one of the tenant's roles and the organization one of its organizations (400 `unknown_role` / `unknown_organization` naming the field). Accepting grants the roles at tenant level, or, with an organization, its membership with those roles. See docs/users.md.",
    auth: 'tenant',
    body: createInvitationBody,
    answers: [
      { status: 201, description: 'Created.', schema: responses.invitationResponse, etag: true, location: true },
    ],
  },
  {
    method: 'get',
    path: '/api/v1/invitations',
    operationId: 'listInvitations',
    tag: 'invitations',
    summary: 'List invitations',
    auth: 'tenant',
    query: described(listInvitationsQuery, {
      limit: 'Page size, 1–100 (default 20).',
      starting_after: 'The `next_cursor` of the page before.',
      status: '`pending` (expired ones included), `accepted` or `revoked`.',
    }),
    answers: [{ status: 200, description: 'A page of invitations.', schema: responses.invitationListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/invitations/{id}',
    operationId: 'getInvitation',
    tag: 'invitations',
    summary: 'One invitation',
    auth: 'tenant',
    params: invitationParams,
    answers: [{ status: 200, description: 'The invitation.', schema: responses.invitationResponse, etag: true }],
  },
  {
    method: 'post',
    path: '/api/v1/invitations/{id}/resend',
    operationId: 'resendInvitation',
    tag: 'invitations',
    summary: 'Send a pending invitation again, with a new link and expiry (the old link stops working)',
    auth: 'tenant',
    params: invitationParams,
    body: resendInvitationBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The invitation.', schema: responses.invitationResponse, etag: true }],
    problems: ['invitation_not_pending', 'concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/invitations/{id}/revoke',
    operationId: 'revokeInvitation',
    tag: 'invitations',
    summary: 'Revoke a pending invitation: its link stops working',
    auth: 'tenant',
    params: invitationParams,
    ifMatch: true,
    answers: [{ status: 200, description: 'The invitation.', schema: responses.invitationResponse, etag: true }],
    problems: ['invitation_not_pending', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/users',
    operationId: 'listUsers',
    tag: 'users',
    summary: "List the tenant's users, oldest first, searched by e-mail, name or status",
    description:
      '`email` matches the address or its beginning, `name` any part of the name, both in any case. Deleted users (tombstones) are listed only with `status=deleted`.',
    auth: 'tenant',
    query: described(listUsersQuery, {
      limit: 'Page size, 1–100 (default 20).',
      starting_after: 'The `next_cursor` of the page before.',
      email: 'The e-mail address or its beginning, any case.',
      name: 'A part of the name, any case.',
      status: '`active`, `blocked` or `deleted`; without it, every user but the deleted ones.',
    }),
    answers: [{ status: 200, description: 'A page of users.', schema: responses.userListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/users/{sub}',
    operationId: 'getUser',
    tag: 'users',
    summary: 'One user (a deleted one is 404)',
    auth: 'tenant',
    params: userParams,
    answers: [{ status: 200, description: 'The user.', schema: responses.userResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/users/{sub}',
    operationId: 'updateUser',
    tag: 'users',
    summary: 'Change the profile fields the tenant owns (name, given_name, family_name, picture, metadata)',
    description:
      "`null` clears a field; `metadata` is replaced whole. The e-mail address is the account's, not the tenant's.",
    auth: 'tenant',
    params: userParams,
    body: updateUserBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The user as changed.', schema: responses.userResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/users/{sub}/block',
    operationId: 'blockUser',
    tag: 'users',
    summary: 'Block a user: they cannot sign in here; their sessions, grants and tokens end',
    auth: 'tenant',
    params: userParams,
    ifMatch: true,
    answers: [{ status: 200, description: 'The user, blocked.', schema: responses.userResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/users/{sub}/unblock',
    operationId: 'unblockUser',
    tag: 'users',
    summary: 'Unblock a user: they can sign in again',
    auth: 'tenant',
    params: userParams,
    ifMatch: true,
    answers: [{ status: 200, description: 'The user, active.', schema: responses.userResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/users/{sub}',
    operationId: 'deleteUser',
    tag: 'users',
    summary: 'Delete a user: sessions and tokens end, the account is unlinked, what the tenant held is erased',
    description:
      'The sub stays as a tombstone (404 on reads, listed with `status=deleted`); the audit log keeps it, with the personal fields of its events null. Deleting a tombstone again finishes a delete that was cut short. See docs/users.md.',
    auth: 'tenant',
    params: userParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/users/{sub}/sessions',
    operationId: 'listUserSessions',
    tag: 'users',
    summary: "The user's live sessions at the tenant's issuer",
    auth: 'tenant',
    params: userParams,
    answers: [{ status: 200, description: 'Every live session.', schema: responses.userSessionListResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/users/{sub}/sessions/revoke',
    operationId: 'revokeUserSessions',
    tag: 'users',
    summary: 'End every session of the user (each a `session.ended` event)',
    auth: 'tenant',
    params: userParams,
    answers: [{ status: 200, description: 'How many ended.', schema: responses.sessionRevocationResponse }],
  },
  {
    method: 'delete',
    path: '/api/v1/users/{sub}/sessions/{session_id}',
    operationId: 'revokeUserSession',
    tag: 'users',
    summary: 'End one session of the user',
    auth: 'tenant',
    params: userSessionParams,
    answers: [{ status: 204, description: 'Ended.' }],
  },
  {
    method: 'post',
    path: '/api/v1/agents',
    operationId: 'createAgent',
    tag: 'agents',
    summary: 'Create an agent: a software principal with an owner, allowed scopes per API and delegation limits',
    description:
      "The owner must be one of the tenant's users (`sub_…`) or organizations (`org_…`); each allowed scope one the API defines; delegation scopes and audiences within the allowed ones. Any other is 400 naming the field, and nothing is written. See docs/agents.md.",
    auth: 'tenant',
    body: createAgentBody,
    answers: [{ status: 201, description: 'Created.', schema: responses.agentResponse, etag: true, location: true }],
    problems: ['agent_exists', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/agents',
    operationId: 'listAgents',
    tag: 'agents',
    summary: 'List agents',
    auth: 'tenant',
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of agents.', schema: responses.agentListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/agents/{id}',
    operationId: 'getAgent',
    tag: 'agents',
    summary: 'One agent',
    auth: 'tenant',
    params: agentParams,
    answers: [{ status: 200, description: 'The agent.', schema: responses.agentResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/agents/{id}',
    operationId: 'updateAgent',
    tag: 'agents',
    summary: "Change an agent's name, description, owner, allowed scopes, delegation limits or agent card",
    auth: 'tenant',
    params: agentParams,
    body: updateAgentBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The agent as changed.', schema: responses.agentResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/agents/{id}',
    operationId: 'deleteAgent',
    tag: 'agents',
    summary: 'Delete an agent for good: its keys and anchors are revoked in the same write, its id is never used again',
    auth: 'tenant',
    params: agentParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/suspend',
    operationId: 'suspendAgent',
    tag: 'agents',
    summary:
      'Suspend an agent (it gets no token); with `revoke_keys` and `revoke_anchors`, revoke every key and anchor in the same write',
    auth: 'tenant',
    params: agentParams,
    body: suspendAgentBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The agent, suspended.', schema: responses.agentResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/reactivate',
    operationId: 'reactivateAgent',
    tag: 'agents',
    summary: 'Reactivate a suspended agent',
    auth: 'tenant',
    params: agentParams,
    ifMatch: true,
    answers: [{ status: 200, description: 'The agent, active.', schema: responses.agentResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/challenges',
    operationId: 'createAgentChallenge',
    tag: 'agents',
    summary: 'A single-use challenge (five minutes) to sign with a key being registered',
    auth: 'tenant',
    params: agentParams,
    answers: [{ status: 201, description: 'The challenge.', schema: responses.agentChallengeResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/agents/{id}/anchors',
    operationId: 'listAgentAnchors',
    tag: 'agents',
    summary: "The agent's identity anchors (revoked ones too)",
    auth: 'tenant',
    params: agentParams,
    answers: [{ status: 200, description: 'The anchors.', schema: responses.agentAnchorListResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/anchors',
    operationId: 'addAgentAnchor',
    tag: 'agents',
    summary:
      'Add an identity anchor (did:key, did:web, ERC-8004, client_credentials), unverified until challenge-response',
    description:
      'An unverified anchor grants nothing. An identity anchored to another agent of the tenant is refused (`anchor_taken`). See docs/anchors.md.',
    auth: 'tenant',
    params: agentParams,
    body: addAgentAnchorBody,
    ifMatch: true,
    answers: [{ status: 201, description: 'Added.', schema: responses.agentAnchorResponse, location: true }],
    problems: [
      'malformed_did',
      'malformed_anchor',
      'unsupported_key_type',
      'anchor_taken',
      'agent_anchor_exists',
      'agent_anchor_limit',
      'concurrent_modification',
    ],
  },
  {
    method: 'get',
    path: '/api/v1/agents/{id}/anchors/{anchor_id}',
    operationId: 'getAgentAnchor',
    tag: 'agents',
    summary: 'One anchor of an agent',
    auth: 'tenant',
    params: agentAnchorParams,
    answers: [{ status: 200, description: 'The anchor.', schema: responses.agentAnchorResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/anchors/{anchor_id}/challenges',
    operationId: 'createAgentAnchorChallenge',
    tag: 'agents',
    summary: 'A single-use challenge (five minutes) bound to the agent and this anchor',
    auth: 'tenant',
    params: agentAnchorParams,
    answers: [{ status: 201, description: 'The challenge.', schema: responses.agentAnchorChallengeResponse }],
    problems: ['agent_anchor_revoked'],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/anchors/{anchor_id}/verify',
    operationId: 'verifyAgentAnchor',
    tag: 'agents',
    summary: 'Verify an anchor with the proof over its challenge; the verification is recorded',
    description:
      '`proof` is a compact JWS over the nonce (did:key, did:web with `kid` naming a verification method, client_credentials with the key), or `{scheme: "eip191" | "eip712", signature}` by the ERC-8004 owner or agent wallet. A refusal writes nothing and leaves the challenge usable.',
    auth: 'tenant',
    params: agentAnchorParams,
    body: verifyAgentAnchorBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The anchor, verified.', schema: responses.agentAnchorResponse }],
    problems: [
      'challenge_unknown',
      'challenge_expired',
      'challenge_used',
      'challenge_mismatch',
      'agent_anchor_revoked',
      'agent_key_revoked',
      'malformed_proof',
      'unsupported_key_type',
      'unsupported_algorithm',
      'bad_signature',
      'https_required',
      'forbidden_address',
      'did_document_unreachable',
      'did_document_invalid',
      'verification_method_not_found',
      'registry_unreachable',
      'not_a_registry',
      'registry_agent_not_found',
      'registration_file_unreachable',
      'registration_file_invalid',
      'registration_mismatch',
      'not_the_owner',
      'concurrent_modification',
    ],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/anchors/{anchor_id}/revoke',
    operationId: 'revokeAgentAnchor',
    tag: 'agents',
    summary: 'Revoke an anchor for good: it grants nothing from the answer on (the agent’s keys stay)',
    auth: 'tenant',
    params: agentAnchorParams,
    answers: [{ status: 200, description: 'The anchor, revoked.', schema: responses.agentAnchorResponse }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/agents/{id}/activity',
    operationId: 'getAgentActivity',
    tag: 'agents',
    summary: "The agent's audit log: every event it is the target or the actor of (its tokens), in order",
    auth: 'tenant',
    params: agentParams,
    query: activityQuery,
    answers: [{ status: 200, description: 'A page of entries.', schema: responses.agentActivityResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/agents/{id}/keys',
    operationId: 'listAgentKeys',
    tag: 'agents',
    summary: "The agent's keys that are not revoked",
    auth: 'tenant',
    params: agentParams,
    answers: [{ status: 200, description: 'The keys.', schema: responses.agentKeyListResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/keys',
    operationId: 'registerAgentKey',
    tag: 'agents',
    summary: 'Register a public key (Ed25519 or P-256 JWK) with a proof of possession over a challenge',
    description:
      "`proof` is a compact JWS whose payload is exactly the challenge's `nonce`, signed with the key. A private JWK is refused outright (`private_key_refused`); `kid` is the RFC 7638 thumbprint.",
    auth: 'tenant',
    params: agentParams,
    body: registerAgentKeyBody,
    ifMatch: true,
    answers: [{ status: 201, description: 'Registered.', schema: responses.agentKeyResponse, location: true }],
    problems: [
      'agent_key_revoked',
      'agent_key_limit',
      'concurrent_modification',
      'private_key_refused',
      'challenge_unknown',
      'challenge_expired',
      'challenge_used',
      'challenge_mismatch',
      'proof_invalid',
    ],
  },
  {
    method: 'get',
    path: '/api/v1/agents/{id}/keys/{kid}',
    operationId: 'getAgentKey',
    tag: 'agents',
    summary: 'One key of an agent',
    auth: 'tenant',
    params: agentKeyParams,
    answers: [{ status: 200, description: 'The key.', schema: responses.agentKeyResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/keys/{kid}/deprecate',
    operationId: 'deprecateAgentKey',
    tag: 'agents',
    summary: 'Deprecate a key: it signs no new client assertion, it stays a verification method in the DID document',
    auth: 'tenant',
    params: agentKeyParams,
    answers: [{ status: 200, description: 'The key, deprecated.', schema: responses.agentKeyResponse }],
    problems: ['agent_key_revoked', 'concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/agents/{id}/keys/{kid}/revoke',
    operationId: 'revokeAgentKey',
    tag: 'agents',
    summary: 'Revoke a key for good: it leaves the DID document and signs nothing from the answer on',
    auth: 'tenant',
    params: agentKeyParams,
    answers: [{ status: 204, description: 'Revoked.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/delegations',
    operationId: 'createDelegation',
    tag: 'delegations',
    summary: "Record a user's delegation to an agent, after the tenant collected the user's consent",
    description:
      "Within the agent's delegation limits (scopes, audiences, `max_lifetime_seconds`, `max_chain_depth`) and, with `parent_delegation_id`, never wider than the parent: any other is 400 naming the field, and nothing is written. The agent then exchanges the user's access token for a delegated one (RFC 8693) at the tenant issuer. See docs/delegation.md.",
    auth: 'tenant',
    body: createDelegationBody,
    answers: [
      { status: 201, description: 'Created.', schema: responses.delegationResponse, etag: true, location: true },
    ],
    problems: ['delegation_exists', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/delegations',
    operationId: 'listDelegations',
    tag: 'delegations',
    summary: 'List delegations, by agent, user or status',
    auth: 'tenant',
    query: described(listDelegationsQuery, {
      limit: 'Page size, 1–100 (default 20).',
      starting_after: 'The `next_cursor` of the page before.',
      agent_id: 'Only delegations to this agent.',
      sub: 'Only delegations of this user.',
      status: '`active` or `revoked`.',
    }),
    answers: [{ status: 200, description: 'A page of delegations.', schema: responses.delegationListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/delegations/{id}',
    operationId: 'getDelegation',
    tag: 'delegations',
    summary: 'One delegation',
    auth: 'tenant',
    params: delegationParams,
    answers: [{ status: 200, description: 'The delegation.', schema: responses.delegationResponse, etag: true }],
  },
  {
    method: 'post',
    path: '/api/v1/delegations/{id}/revoke',
    operationId: 'revokeDelegation',
    tag: 'delegations',
    summary: 'Revoke a delegation: its tokens (and those derived from it) fail introspection from the answer on',
    auth: 'tenant',
    params: delegationParams,
    body: revokeDelegationBody,
    ifMatch: true,
    answers: [
      { status: 200, description: 'The delegation, revoked.', schema: responses.delegationResponse, etag: true },
    ],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/policies/schema',
    operationId: 'getPolicySchema',
    tag: 'policies',
    summary:
      "SigID's Cedar schema: principals, actions, resources and the request context policies are validated against",
    auth: 'tenant',
    answers: [{ status: 200, description: 'The schema.', schema: responses.policySchemaResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/policies',
    operationId: 'createPolicy',
    tag: 'policies',
    summary: 'Create a Cedar policy (version 1)',
    description:
      "The Cedar text must parse and validate (strict mode) against `GET /api/v1/policies/schema`; otherwise 400 with Cedar's diagnostics in `errors` (`path` `cedar` or `cedar.<statement>`, `help`, `locations`) and nothing is stored. See docs/policies.md.",
    auth: 'tenant',
    body: createPolicyBody,
    answers: [{ status: 201, description: 'Created.', schema: responses.policyResponse, etag: true, location: true }],
    problems: ['policy_exists', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/policies',
    operationId: 'listPolicies',
    tag: 'policies',
    summary: 'List policies',
    auth: 'tenant',
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of policies.', schema: responses.policyListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/policies/{id}',
    operationId: 'getPolicy',
    tag: 'policies',
    summary: 'One policy, at its latest version',
    auth: 'tenant',
    params: policyParams,
    answers: [{ status: 200, description: 'The policy.', schema: responses.policyResponse, etag: true }],
  },
  {
    method: 'get',
    path: '/api/v1/policies/{id}/versions',
    operationId: 'listPolicyVersions',
    tag: 'policies',
    summary: 'Every version of a policy, oldest first',
    description: '`starting_after` is a version number.',
    auth: 'tenant',
    params: policyParams,
    query: versionsQuery,
    answers: [{ status: 200, description: 'A page of versions.', schema: responses.policyVersionListResponse }],
  },
  {
    method: 'patch',
    path: '/api/v1/policies/{id}',
    operationId: 'updatePolicy',
    tag: 'policies',
    summary: 'Change a policy (a new version) or enable or disable it',
    description: 'A new text is checked as on create. Takes effect in this process at once, in others within a second.',
    auth: 'tenant',
    params: policyParams,
    body: updatePolicyBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The policy as changed.', schema: responses.policyResponse, etag: true }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/policies/{id}',
    operationId: 'deletePolicy',
    tag: 'policies',
    summary: 'Delete a policy (its versions stay in the event stream)',
    auth: 'tenant',
    params: policyParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/authorize',
    operationId: 'authorize',
    tag: 'policies',
    summary: "Decide a request against the tenant's policies: allow or deny, with the deciding policy ids",
    description:
      "Cedar semantics: a forbid overrides every permit, and nothing permitted is denied. `resource.type` is one of SigID's types or a tenant's own kind (`invoice`), then a `SigID::Resource` with `kind` and its `attributes` as tags. Decided in process; writes nothing. See docs/policies.md.",
    auth: 'tenant',
    body: authorizeBody,
    answers: [{ status: 200, description: 'The decision.', schema: responses.authorizationDecisionResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/apis/{id}/grants',
    operationId: 'listApiGrants',
    tag: 'apis',
    summary: "The API's grants: which of its scopes each application may get",
    auth: 'tenant',
    params: apiParams,
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of grants.', schema: responses.apiGrantListResponse }],
  },
  {
    method: 'put',
    path: '/api/v1/apis/{id}/grants/{application_id}',
    operationId: 'setApiGrant',
    tag: 'apis',
    summary: 'Set the scopes of the API an application may get (replacing its grant)',
    description:
      "Each scope must be one of the API's (400 naming it, nothing written); another tenant's application is 404.",
    auth: 'tenant',
    params: apiGrantParams,
    body: setApiGrantBody,
    answers: [{ status: 200, description: 'The grant.', schema: responses.apiGrantResponse }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/apis/{id}/grants/{application_id}',
    operationId: 'removeApiGrant',
    tag: 'apis',
    summary: "Remove an application's grant on the API",
    auth: 'tenant',
    params: apiGrantParams,
    answers: [{ status: 204, description: 'Removed.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/organizations',
    operationId: 'createOrganization',
    tag: 'organizations',
    summary: 'Create an organization',
    description:
      "`name` (lowercase letters, digits, `-` and `_`) is unique within the tenant, never changes, and is the tokens' `org_name`. See docs/organizations.md.",
    auth: 'tenant',
    body: createOrganizationBody,
    answers: [
      { status: 201, description: 'Created.', schema: responses.organizationResponse, etag: true, location: true },
    ],
    problems: ['organization_name_taken', 'organization_exists', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/organizations',
    operationId: 'listOrganizations',
    tag: 'organizations',
    summary: 'List organizations',
    auth: 'tenant',
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of organizations.', schema: responses.organizationListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/organizations/{id}',
    operationId: 'getOrganization',
    tag: 'organizations',
    summary: 'One organization',
    auth: 'tenant',
    params: organizationParams,
    answers: [{ status: 200, description: 'The organization.', schema: responses.organizationResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/organizations/{id}',
    operationId: 'updateOrganization',
    tag: 'organizations',
    summary: "Change an organization's display name or metadata (its name never changes)",
    auth: 'tenant',
    params: organizationParams,
    body: updateOrganizationBody,
    ifMatch: true,
    answers: [
      { status: 200, description: 'The organization as changed.', schema: responses.organizationResponse, etag: true },
    ],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/organizations/{id}',
    operationId: 'deleteOrganization',
    tag: 'organizations',
    summary: 'Delete an organization with its members and domains; its name and verified domains are free again',
    auth: 'tenant',
    params: organizationParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/organizations/{id}/members',
    operationId: 'listOrganizationMembers',
    tag: 'organizations',
    summary: "The organization's members and their roles",
    auth: 'tenant',
    params: organizationParams,
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of members.', schema: responses.organizationMemberListResponse }],
  },
  {
    method: 'put',
    path: '/api/v1/organizations/{id}/members/{sub}',
    operationId: 'setOrganizationMember',
    tag: 'organizations',
    summary: 'Make a tenant user a member with exactly these organization roles',
    description:
      "A `sub` that is not one of the tenant's users is 404. Each role must be one of the tenant's roles (`/api/v1/roles`); another is 400 naming `roles.<index>`.",
    auth: 'tenant',
    params: memberParams,
    body: setMemberBody,
    answers: [{ status: 200, description: 'The member.', schema: responses.organizationMemberResponse }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/organizations/{id}/members/{sub}',
    operationId: 'getOrganizationMember',
    tag: 'organizations',
    summary: 'One member',
    auth: 'tenant',
    params: memberParams,
    answers: [{ status: 200, description: 'The member.', schema: responses.organizationMemberResponse }],
  },
  {
    method: 'delete',
    path: '/api/v1/organizations/{id}/members/{sub}',
    operationId: 'removeOrganizationMember',
    tag: 'organizations',
    summary: 'Remove a member',
    auth: 'tenant',
    params: memberParams,
    answers: [{ status: 204, description: 'Removed.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/organizations/{id}/domains',
    operationId: 'addOrganizationDomain',
    tag: 'organizations',
    summary: 'Add a pending domain, with the DNS TXT record that proves it',
    description:
      'The domain is normalised (lowercase, IDNA A-labels, no trailing dot); IP addresses, bare top-level domains and public suffixes are refused. Adding it again answers 200 with the same record.',
    auth: 'tenant',
    params: organizationParams,
    body: addDomainBody,
    answers: [
      { status: 201, description: 'Added, pending.', schema: responses.organizationDomainResponse, location: true },
      { status: 200, description: 'It was there already.', schema: responses.organizationDomainResponse },
    ],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/organizations/{id}/domains',
    operationId: 'listOrganizationDomains',
    tag: 'organizations',
    summary: "The organization's domains, pending or verified",
    auth: 'tenant',
    params: organizationParams,
    query: described(domainListQuery, {
      limit: 'Page size, 1–100 (default 20).',
      starting_after: 'The `next_cursor` of the page before.',
    }),
    answers: [{ status: 200, description: 'A page of domains.', schema: responses.organizationDomainListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/organizations/{id}/domains/{domain}',
    operationId: 'getOrganizationDomain',
    tag: 'organizations',
    summary: 'One domain',
    auth: 'tenant',
    params: domainParams,
    answers: [{ status: 200, description: 'The domain.', schema: responses.organizationDomainResponse }],
  },
  {
    method: 'post',
    path: '/api/v1/organizations/{id}/domains/{domain}/verify',
    operationId: 'verifyOrganizationDomain',
    tag: 'organizations',
    summary: 'Verify a domain by looking its TXT record up',
    description:
      'Verified when a TXT record at `verification.name` holds `verification.value`; otherwise 422 `domain_not_verified` and the domain stays pending. A domain another organization of the tenant verified is 409 `domain_taken`.',
    auth: 'tenant',
    params: domainParams,
    answers: [{ status: 200, description: 'The domain, verified.', schema: responses.organizationDomainResponse }],
    problems: ['domain_not_verified', 'domain_taken', 'concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/organizations/{id}/connections',
    operationId: 'createConnection',
    tag: 'connections',
    summary: "Create an SSO connection: OIDC federation to the organization's identity provider",
    description:
      "`oidc.issuer`'s discovery document is fetched (through the SSRF guard) before anything is written: unreachable is 422 `issuer_unreachable`, not an OpenID Provider 422 `invalid_issuer`. `oidc.client_secret` is sealed and never answered. Each `role_mapping` value must be one of the tenant's roles. Register `callback_url` as the redirect URI at the IdP. See docs/sso.md.",
    auth: 'tenant',
    params: organizationParams,
    body: createConnectionBody,
    answers: [
      { status: 201, description: 'Created.', schema: responses.connectionResponse, etag: true, location: true },
    ],
    problems: [
      'issuer_unreachable',
      'invalid_issuer',
      'scheme_not_allowed',
      'forbidden_address',
      'unresolvable_host',
      'connection_exists',
      'concurrent_modification',
    ],
  },
  {
    method: 'get',
    path: '/api/v1/organizations/{id}/connections',
    operationId: 'listConnections',
    tag: 'connections',
    summary: "The organization's SSO connections",
    auth: 'tenant',
    params: organizationParams,
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of connections.', schema: responses.connectionListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/organizations/{id}/connections/{connectionId}',
    operationId: 'getConnection',
    tag: 'connections',
    summary: 'One SSO connection',
    auth: 'tenant',
    params: connectionParams,
    answers: [{ status: 200, description: 'The connection.', schema: responses.connectionResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/organizations/{id}/connections/{connectionId}',
    operationId: 'updateConnection',
    tag: 'connections',
    summary: 'Change, enable or disable an SSO connection',
    description:
      '`oidc` is merged field by field; a changed `issuer` is checked again; a new `client_secret` replaces the old one. `enabled: false` stops routing sign-ins to it.',
    auth: 'tenant',
    params: connectionParams,
    body: updateConnectionBody,
    ifMatch: true,
    answers: [
      { status: 200, description: 'The connection as changed.', schema: responses.connectionResponse, etag: true },
    ],
    problems: [
      'issuer_unreachable',
      'invalid_issuer',
      'scheme_not_allowed',
      'forbidden_address',
      'unresolvable_host',
      'concurrent_modification',
    ],
  },
  {
    method: 'delete',
    path: '/api/v1/organizations/{id}/connections/{connectionId}',
    operationId: 'deleteConnection',
    tag: 'connections',
    summary: 'Delete an SSO connection; its client secret is destroyed, the members it made stay',
    auth: 'tenant',
    params: connectionParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/organizations/{id}/domains/{domain}',
    operationId: 'removeOrganizationDomain',
    tag: 'organizations',
    summary: 'Remove a domain; a verified one is free again',
    auth: 'tenant',
    params: domainParams,
    answers: [{ status: 204, description: 'Removed.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'post',
    path: '/api/v1/roles',
    operationId: 'createRole',
    tag: 'roles',
    summary: 'Create a role: a named bundle of scopes of the tenant’s APIs',
    description:
      "`name` is unique within the tenant, compared case-insensitively. Each permission names one of the tenant's APIs by id and one of its scopes; any other is 400 naming it (`permissions.<index>.api_id` or `.scope`), and nothing is written. See docs/roles.md.",
    auth: 'tenant',
    body: createRoleBody,
    answers: [{ status: 201, description: 'Created.', schema: responses.roleResponse, etag: true, location: true }],
    problems: ['role_name_taken', 'role_exists', 'concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/roles',
    operationId: 'listRoles',
    tag: 'roles',
    summary: 'List roles',
    auth: 'tenant',
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of roles.', schema: responses.roleListResponse }],
  },
  {
    method: 'get',
    path: '/api/v1/roles/{id}',
    operationId: 'getRole',
    tag: 'roles',
    summary: 'One role',
    auth: 'tenant',
    params: roleParams,
    answers: [{ status: 200, description: 'The role.', schema: responses.roleResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/roles/{id}',
    operationId: 'updateRole',
    tag: 'roles',
    summary: "Change a role's name, description or permissions",
    description: 'Tokens issued from then on carry the new permissions (within a second).',
    auth: 'tenant',
    params: roleParams,
    body: updateRoleBody,
    ifMatch: true,
    answers: [{ status: 200, description: 'The role as changed.', schema: responses.roleResponse, etag: true }],
    problems: ['role_name_taken', 'concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/roles/{id}',
    operationId: 'deleteRole',
    tag: 'roles',
    summary: 'Delete a role: every assignment of it ends in the same write, its name can be used again',
    auth: 'tenant',
    params: roleParams,
    ifMatch: true,
    answers: [{ status: 204, description: 'Deleted.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/roles/{id}/users',
    operationId: 'listRoleHolders',
    tag: 'roles',
    summary: "The role's holders, by `sub`",
    auth: 'tenant',
    params: roleParams,
    query: pageQuery,
    answers: [{ status: 200, description: 'A page of assignments.', schema: responses.roleAssignmentListResponse }],
  },
  {
    method: 'put',
    path: '/api/v1/roles/{id}/users/{sub}',
    operationId: 'assignRole',
    tag: 'roles',
    summary: 'Assign the role to one of the tenant’s users (at tenant level)',
    description: 'A `sub` that is no user of this tenant is 404. Assigning a held role again changes nothing.',
    auth: 'tenant',
    params: roleHolderParams,
    answers: [{ status: 200, description: 'The assignment.', schema: responses.roleAssignmentResponse }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'delete',
    path: '/api/v1/roles/{id}/users/{sub}',
    operationId: 'unassignRole',
    tag: 'roles',
    summary: 'Take the role from a user',
    auth: 'tenant',
    params: roleHolderParams,
    answers: [{ status: 204, description: 'Taken.' }],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/role-assignments',
    operationId: 'listRoleAssignments',
    tag: 'roles',
    summary: 'The roles one user holds',
    auth: 'tenant',
    query: described(roleAssignmentsQuery, {
      sub: "The user's `sub` at this tenant (required).",
      limit: 'Page size, 1–100 (default 20).',
      starting_after: 'The `next_cursor` of the page before.',
    }),
    answers: [{ status: 200, description: 'A page of assignments.', schema: responses.roleAssignmentListResponse }],
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
    path: '/api/v1/role-claims',
    operationId: 'getRoleClaims',
    tag: 'settings',
    summary: "How the tenant's access tokens carry roles",
    auth: 'tenant',
    answers: [{ status: 200, description: 'The role claims.', schema: responses.roleClaimsResponse, etag: true }],
  },
  {
    method: 'patch',
    path: '/api/v1/role-claims',
    operationId: 'updateRoleClaims',
    tag: 'settings',
    summary: 'Change the role claims’ names, or whether roles limit a token’s scope',
    description:
      'Any subset. A claim name is 1–200 of `A–Z a–z 0–9 _ : . / -` and not one JWT or OpenID Connect gives a meaning to (`sub`, `scope`, `aud`…); `null` stops carrying that claim; the two may not share a name. A change is a `tenant.role_claims.changed` event on the tenant stream.',
    auth: 'tenant',
    body: updateRoleClaimsBody,
    ifMatch: true,
    answers: [
      { status: 200, description: 'The role claims as changed.', schema: responses.roleClaimsResponse, etag: true },
    ],
    problems: ['concurrent_modification'],
  },
  {
    method: 'get',
    path: '/api/v1/client-registration',
    operationId: 'getClientRegistration',
    tag: 'settings',
    summary: 'Whether the issuer takes clients the tenant never registered',
    auth: 'tenant',
    answers: [
      {
        status: 200,
        description: 'The client registration settings.',
        schema: responses.clientRegistrationResponse,
        etag: true,
      },
    ],
  },
  {
    method: 'patch',
    path: '/api/v1/client-registration',
    operationId: 'updateClientRegistration',
    tag: 'settings',
    summary: 'Turn Client ID Metadata Documents or dynamic client registration on or off',
    description:
      'Any subset. `client_id_metadata_documents`: an authorization request whose client_id is an https URL has its metadata document fetched (through the SSRF guard) and, if it is a public client with PKCE or a `private_key_jwt` one, served; `dynamic_registration`: `POST /t/{slug}/reg` (RFC 7591) creates an application. A change is a `tenant.client_registration.changed` event on the tenant stream (docs/mcp.md).',
    auth: 'tenant',
    body: updateClientRegistrationBody,
    ifMatch: true,
    answers: [
      {
        status: 200,
        description: 'The settings as changed.',
        schema: responses.clientRegistrationResponse,
        etag: true,
      },
    ],
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
(OAuth clients), APIs and their scopes, roles, organizations, Cedar policies and authorization decisions, OIDC signing keys, audit log, event export and webhooks. JSON in and out, snake_case fields, ids
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
      {
        name: 'apis',
        description: "A tenant's APIs (resource servers), their scopes and their grants to applications.",
      },
      {
        name: 'organizations',
        description: "A tenant's organizations, their members and their DNS-verified domains.",
      },
      {
        name: 'connections',
        description: "An organization's SSO connections: federation to its own identity provider (OIDC).",
      },
      { name: 'roles', description: "A tenant's roles (bundles of its APIs' scopes) and the users holding them." },
      { name: 'policies', description: "A tenant's Cedar policies, SigID's Cedar schema, and decisions on them." },
      { name: 'agents', description: "A tenant's agents (software principals) and their public keys." },
      { name: 'delegations', description: "Users' delegations to agents, for RFC 8693 token exchange." },
      { name: 'users', description: "A tenant's users: search, profile, block, delete (erasure), sessions." },
      { name: 'invitations', description: 'Invitations to join a tenant, accepted at its hosted pages.' },
      { name: 'audit-logs', description: "A tenant's audit log, read off the event stream." },
      {
        name: 'settings',
        description: "A tenant's branding and MFA policy, for its hosted pages, and how its tokens carry roles.",
      },
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
