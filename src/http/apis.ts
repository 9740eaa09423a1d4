import { type Response, Router } from 'express';
import { z } from 'zod';
import { type ApiGrantRow, findApiGrant, listApiGrants } from '../../read-models/api-grants.ts';
import { type ApiRow, findApi, listApis } from '../../read-models/apis.ts';
import { createApi, deleteApi, removeApiGrant, setApiGrant, updateApi } from '../../services/apis.ts';
import { NotFoundError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema } from '../text.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

/** Bounds of an API's access token lifetime, in seconds. */
export const apiTokenTtl = { min: 60, max: 86_400 } as const;

/** The most scopes one API defines. */
export const MAX_API_SCOPES = 100;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1']);

/**
 * Whether `value` may be an API's identifier (RFC 8707 §2): an absolute https URI without a fragment
 * or credentials; http only for localhost and 127.0.0.1 (a resource server in development).
 */
export function validIdentifier(value: string): boolean {
  if (value.includes('#')) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '') return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
}

export const identifierSchema = lineSchema
  .min(1)
  .max(2000)
  .refine(validIdentifier, 'an absolute https URI without a fragment (http only for localhost or 127.0.0.1)');

/** A scope's value, as it appears in `scope`: 1 to 128 letters, digits and `: . _ / -`. */
export const scopeValueSchema = z
  .string()
  .regex(/^[A-Za-z0-9:._/-]{1,128}$/, '1 to 128 letters, digits, and : . _ / -');

const scopesField = z
  .array(z.strictObject({ value: scopeValueSchema, description: lineSchema.max(500).default('') }))
  .max(MAX_API_SCOPES)
  .superRefine((scopes, context) => {
    const seen = new Set<string>();
    for (const [index, scope] of scopes.entries()) {
      if (seen.has(scope.value)) {
        context.addIssue({ code: 'custom', path: [index, 'value'], message: `"${scope.value}" is listed twice` });
      }
      seen.add(scope.value);
    }
  });

const settingsFields = {
  name: lineSchema.trim().min(1).max(200),
  scopes: scopesField,
  access_token_ttl_seconds: z.number().int().min(apiTokenTtl.min).max(apiTokenTtl.max),
};

export const createApiBody = z.strictObject({
  name: settingsFields.name,
  identifier: identifierSchema,
  scopes: settingsFields.scopes.optional(),
  access_token_ttl_seconds: settingsFields.access_token_ttl_seconds.optional(),
});

export const updateApiBody = z
  .strictObject({
    name: settingsFields.name.optional(),
    scopes: settingsFields.scopes.optional(),
    access_token_ttl_seconds: settingsFields.access_token_ttl_seconds.optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

export const setApiGrantBody = z.strictObject({ scopes: z.array(scopeValueSchema).max(MAX_API_SCOPES) });

function apiJson(row: ApiRow) {
  return {
    id: row.api_id,
    object: 'api',
    name: row.name,
    identifier: row.identifier,
    scopes: row.scopes,
    access_token_ttl_seconds: row.access_token_ttl_seconds,
    revision: Number(row.revision),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function grantJson(row: ApiGrantRow) {
  return {
    object: 'api_grant',
    api_id: row.api_id,
    application_id: row.application_id,
    scopes: row.scopes,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * `/api/v1/apis`: a tenant's APIs (resource servers), their scopes, and their grants to applications
 * (`/{id}/grants/{application_id}`). Every change is an event on the API's stream, so in the audit log.
 */
export function apisRouter(sigid: Sigid): Router {
  const router = Router();

  async function loadApi(response: Response, id: string) {
    const row = isId('api', id) ? await findApi(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The API');
    return row;
  }

  async function respondWithApi(response: Response, apiId: string, status = 200) {
    const row = await loadApi(response, apiId);
    response
      .status(status)
      .set('ETag', etag(Number(row.revision)))
      .json(apiJson(row));
  }

  /** An application id of the right shape, or 404 (whether it is the tenant's the service checks). */
  function applicationIdOf(id: string) {
    if (!isId('app', id)) throw new NotFoundError('The application');
    return id;
  }

  router.post('/', async (request, response) => {
    const body = parseBody(createApiBody, request);
    const { apiId, written } = await createApi(sigid, body, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.location(`/api/v1/apis/${apiId}`);
    await respondWithApi(response, apiId, 201);
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const rows = await listApis(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.api_id, apiJson));
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    await respondWithApi(response, (await loadApi(response, request.params.id)).api_id);
  });

  router.patch('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateApiBody, request);
    const row = await loadApi(response, request.params.id);
    const written = await updateApi(sigid, row.api_id, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await respondWithApi(response, row.api_id);
  });

  router.delete('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadApi(response, request.params.id);
    const written = await deleteApi(sigid, row, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  router.get('/:id/grants', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const api = await loadApi(response, request.params.id);
    const rows = await listApiGrants(sigid.readModels, tenantOf(response), api.api_id, {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.application_id, grantJson));
  });

  router.put('/:id/grants/:application_id', async (request, response) => {
    const body = parseBody(setApiGrantBody, request);
    const api = await loadApi(response, request.params.id);
    const applicationId = applicationIdOf(request.params.application_id);
    const written = await setApiGrant(sigid, api, applicationId, body.scopes, useCaseOf(request, response));
    await consistent(sigid, request, written);
    const grant = await findApiGrant(sigid.readModels, tenantOf(response), api.api_id, applicationId);
    // Gone already: the application or the API was deleted since.
    if (!grant) throw new NotFoundError('The grant');
    response.status(200).json(grantJson(grant));
  });

  router.delete('/:id/grants/:application_id', async (request, response) => {
    const api = await loadApi(response, request.params.id);
    const applicationId = applicationIdOf(request.params.application_id);
    const written = await removeApiGrant(sigid, api, applicationId, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  return router;
}
