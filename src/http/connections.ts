import { type Response, Router } from 'express';
import { z } from 'zod';
import { type ConnectionRow, findConnection, listConnections } from '../../read-models/connections.ts';
import { findOrganization } from '../../read-models/organizations.ts';
import { createConnection, deleteConnection, updateConnection } from '../../services/connections.ts';
import { NotFoundError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema } from '../text.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { roleIdSchema } from './organizations.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

/** The most entries of a role mapping, and the most scopes asked of an IdP. */
export const MAX_ROLE_MAPPINGS = 50;
export const MAX_SCOPES = 20;

/**
 * An IdP's issuer identifier: an absolute http(s) URL without credentials, query or fragment (OIDC
 * Discovery 1.0, section 2); whether SigID may reach it (https, or http to an allowlisted host) is
 * the SSRF guard's to say when the connection is saved.
 */
const issuerSchema = lineSchema.max(2048).superRefine((value, context) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return void context.addIssue({ code: 'custom', message: 'an absolute URL' });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    context.addIssue({ code: 'custom', message: 'an https URL' });
  if (url.username || url.password) context.addIssue({ code: 'custom', message: 'no user name or password' });
  if (url.search || url.hash || value.includes('?') || value.includes('#'))
    context.addIssue({ code: 'custom', message: 'no query or fragment' });
});

/** A claim name of the IdP's (`email`, `groups`, `https://example.com/roles`). */
const claimName = lineSchema.min(1).max(255);

const claimMappingBody = z.strictObject({
  email: claimName.optional(),
  email_verified: claimName.nullable().optional(),
  name: claimName.nullable().optional(),
  given_name: claimName.nullable().optional(),
  family_name: claimName.nullable().optional(),
  roles: claimName.nullable().optional(),
});

/** An OAuth scope token (RFC 6749, 3.3). */
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, 'an OAuth scope token');

const oidcFields = {
  issuer: issuerSchema,
  client_id: lineSchema.min(1).max(255),
  client_secret: lineSchema.min(1).max(1024),
  scopes: z
    .array(scopeToken)
    .min(1)
    .max(MAX_SCOPES)
    .refine((scopes) => new Set(scopes).size === scopes.length, 'a scope is listed twice')
    .optional(),
  claim_mapping: claimMappingBody.optional(),
};

const roleMappingSchema = z
  .record(lineSchema.min(1).max(255), roleIdSchema)
  .refine((value) => Object.keys(value).length <= MAX_ROLE_MAPPINGS, `at most ${MAX_ROLE_MAPPINGS} entries`);

const nameSchema = lineSchema.trim().min(1).max(100);

/** `protocol` picks the settings object: `oidc` now; `saml` (with a `saml` object) comes later. */
export const createConnectionBody = z.discriminatedUnion('protocol', [
  z.strictObject({
    name: nameSchema,
    protocol: z.literal('oidc'),
    enabled: z.boolean().optional(),
    oidc: z.strictObject(oidcFields),
    role_mapping: roleMappingSchema.optional(),
    link_existing_accounts: z.boolean().optional(),
  }),
]);

export const updateConnectionBody = z
  .strictObject({
    name: nameSchema.optional(),
    enabled: z.boolean().optional(),
    oidc: z
      .strictObject(oidcFields)
      .partial()
      .refine((body) => Object.keys(body).length > 0, 'Send at least one field of oidc to change.')
      .optional(),
    role_mapping: roleMappingSchema.optional(),
    link_existing_accounts: z.boolean().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

/** Where the IdP sends people back: the redirect URI to register for SigID's client at the IdP. */
export const connectionCallbackUrl = (sigid: Sigid, slug: string) => `${sigid.issuers.issuerUrl(slug)}/sso/callback`;

function connectionJson(row: ConnectionRow, callbackUrl: string) {
  const oidc = row.oidc;
  return {
    id: row.connection_id,
    object: 'connection',
    organization_id: row.organization_id,
    name: row.name,
    protocol: row.protocol,
    enabled: row.enabled,
    oidc: oidc
      ? {
          issuer: oidc.issuer,
          client_id: oidc.client_id,
          // The secret itself is never answered: it is sealed, and only replaced.
          client_secret_set: true,
          scopes: oidc.scopes,
          claim_mapping: oidc.claim_mapping,
        }
      : null,
    role_mapping: row.role_mapping,
    link_existing_accounts: row.link_existing_accounts,
    callback_url: callbackUrl,
    revision: Number(row.revision),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * `/api/v1/organizations/{id}/connections`: an organization's SSO connections (WorkOS's shape: a
 * connection belongs to one organization). Every change is an event on the connection's stream, so
 * in the audit log; the client secret is write-only.
 */
export function connectionsRouter(sigid: Sigid): Router {
  const router = Router({ mergeParams: true });

  async function loadOrganization(response: Response, id: string) {
    const row = isId('org', id) ? await findOrganization(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The organization');
    return row;
  }

  async function loadConnection(response: Response, organizationId: string, id: string) {
    const organization = await loadOrganization(response, organizationId);
    const row = isId('con', id) ? await findConnection(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row || row.organization_id !== organization.organization_id) throw new NotFoundError('The connection');
    return row;
  }

  async function callbackUrl(response: Response) {
    const tenant = await sigid.readModels
      .selectFrom('tenants')
      .select('slug')
      .where('tenant_id', '=', tenantOf(response))
      .executeTakeFirstOrThrow();
    return connectionCallbackUrl(sigid, tenant.slug);
  }

  async function respond(response: Response, organizationId: string, connectionId: string, status = 200) {
    const row = await loadConnection(response, organizationId, connectionId);
    response
      .status(status)
      .set('ETag', etag(Number(row.revision)))
      .json(connectionJson(row, await callbackUrl(response)));
  }

  const params = (request: { params: unknown }) => request.params as { id: string; connectionId?: string };

  router.post('/', async (request, response) => {
    const body = parseBody(createConnectionBody, request);
    const organization = await loadOrganization(response, params(request).id);
    const { connectionId, written } = await createConnection(sigid, organization, body, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.location(`/api/v1/organizations/${organization.organization_id}/connections/${connectionId}`);
    await respond(response, organization.organization_id, connectionId, 201);
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const organization = await loadOrganization(response, params(request).id);
    const rows = await listConnections(sigid.readModels, tenantOf(response), organization.organization_id, {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    const callback = await callbackUrl(response);
    response.json(
      page(
        rows,
        query.limit,
        (row) => row.connection_id,
        (row) => connectionJson(row, callback),
      ),
    );
  });

  router.get('/:connectionId', async (request, response) => {
    parseQuery(noQuery, request);
    const { id, connectionId = '' } = params(request);
    const row = await loadConnection(response, id, connectionId);
    await respond(response, row.organization_id, row.connection_id);
  });

  router.patch('/:connectionId', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateConnectionBody, request);
    const { id, connectionId = '' } = params(request);
    const row = await loadConnection(response, id, connectionId);
    const written = await updateConnection(sigid, row, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await respond(response, row.organization_id, row.connection_id);
  });

  router.delete('/:connectionId', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const { id, connectionId = '' } = params(request);
    const row = await loadConnection(response, id, connectionId);
    const written = await deleteConnection(sigid, row, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  return router;
}
