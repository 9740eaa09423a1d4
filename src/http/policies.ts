import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { type Response, Router } from 'express';
import { z } from 'zod';
import { findPolicy, listPolicies, type PolicyRow } from '../../read-models/policies.ts';
import { principalFacts } from '../../read-models/principals.ts';
import {
  createPolicy,
  deletePolicy,
  type PolicyVersion,
  policyVersions,
  updatePolicy,
} from '../../services/policies.ts';
import { NotFoundError, ProblemError } from '../errors.ts';
import { isId } from '../ids.ts';
import { cedarIp, decide, RequestRejected } from '../policies/cedar.ts';
import { policyDirectory } from '../policies/directory.ts';
import { ACTIONS, CEDAR_NAMESPACE, CEDAR_SCHEMA, PRINCIPAL_TYPES } from '../policies/schema.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema, textSchema } from '../text.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

/** The longest Cedar text one policy holds, in characters. */
export const MAX_CEDAR_LENGTH = 20_000;

const contentFields = {
  name: lineSchema.trim().min(1).max(200),
  description: textSchema.max(2000),
  cedar: textSchema.min(1).max(MAX_CEDAR_LENGTH),
  enabled: z.boolean(),
};

export const createPolicyBody = z.strictObject({
  name: contentFields.name,
  description: contentFields.description.optional(),
  cedar: contentFields.cedar,
  enabled: contentFields.enabled.optional(),
});

export const updatePolicyBody = z
  .strictObject({
    name: contentFields.name.optional(),
    description: contentFields.description.optional(),
    cedar: contentFields.cedar.optional(),
    enabled: contentFields.enabled.optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

/** `?limit=&starting_after=` for a policy's versions: the cursor is a version number. */
export const versionsQuery = z.strictObject({
  limit: listQuery.shape.limit,
  starting_after: z.coerce.number().int().min(0).optional(),
});

const entityId = lineSchema.min(1).max(256);

/** A resource type: SigID's own (`Api`, `Scope`, `User`…) or a tenant's own kind (`invoice`). */
const resourceType = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'a letter, then up to 63 letters, digits and _');

export const authorizeBody = z.strictObject({
  principal: z.strictObject({ type: z.enum(PRINCIPAL_TYPES), id: entityId }),
  action: z.enum(ACTIONS),
  resource: z.strictObject({
    type: resourceType,
    id: entityId,
    /** A tenant resource's string attributes, Cedar tags. */
    attributes: z
      .record(z.string().regex(/^[A-Za-z0-9_:.-]{1,64}$/, '1 to 64 letters, digits and _ : . -'), lineSchema.max(1000))
      .refine((attributes) => Object.keys(attributes).length <= 50, 'at most 50 attributes')
      .optional(),
    /** For a `Scope`: the identifier of its API. */
    api: lineSchema.min(1).max(2000).optional(),
  }),
  context: z
    .strictObject({
      ip: z
        .string()
        .max(64)
        .refine((value) => cedarIp(value) !== undefined, 'an IPv4 or IPv6 address')
        .optional(),
      time: z.int().min(0).optional(),
      mfa_age_seconds: z.int().min(0).optional(),
      approval_age_seconds: z.int().min(0).optional(),
      amr: z.array(lineSchema.min(1).max(64)).max(20).optional(),
      organization: lineSchema.min(1).max(256).optional(),
      delegation_depth: z.int().min(0).max(100).optional(),
      operation: lineSchema.min(1).max(128).optional(),
      anchor_kinds: z
        .array(z.enum(['did_key', 'did_web', 'erc8004', 'client_credentials']))
        .max(4)
        .optional(),
      anchor_verified_age_seconds: z.int().min(0).optional(),
    })
    .optional(),
});

function policyJson(row: PolicyRow) {
  return {
    id: row.policy_id,
    object: 'policy',
    name: row.name,
    description: row.description,
    cedar: row.cedar,
    enabled: row.enabled,
    version: row.version,
    revision: Number(row.revision),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function versionJson(policyId: string) {
  return (version: PolicyVersion) => ({
    object: 'policy_version',
    policy_id: policyId,
    version: version.version,
    name: version.name,
    description: version.description,
    cedar: version.cedar,
    created_at: version.created_at.toISOString(),
  });
}

/** The published schema, in both of Cedar's forms. */
function schemaJson() {
  const json = cedar.schemaToJson(CEDAR_SCHEMA);
  return {
    object: 'policy_schema',
    namespace: CEDAR_NAMESPACE,
    cedar: CEDAR_SCHEMA,
    json: json.type === 'success' ? json.json : null,
    actions: [...ACTIONS],
    principal_types: [...PRINCIPAL_TYPES],
  };
}

/**
 * `/api/v1/policies`: a tenant's Cedar policies (validated against `GET /api/v1/policies/schema`),
 * every version kept (`/{id}/versions`). Every change is an event on the policy's stream.
 */
export function policiesRouter(sigid: Sigid): Router {
  const router = Router();
  const directory = policyDirectory(sigid);
  const schema = schemaJson();

  async function loadPolicy(response: Response, id: string) {
    const row = isId('pol', id) ? await findPolicy(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The policy');
    return row;
  }

  async function respondWithPolicy(response: Response, policyId: string, status = 200) {
    const row = await loadPolicy(response, policyId);
    response
      .status(status)
      .set('ETag', etag(Number(row.revision)))
      .json(policyJson(row));
  }

  router.get('/schema', (request, response) => {
    parseQuery(noQuery, request);
    response.json(schema);
  });

  router.post('/', async (request, response) => {
    const body = parseBody(createPolicyBody, request);
    const { policyId, written } = await createPolicy(sigid, body, useCaseOf(request, response));
    await consistent(sigid, request, written);
    directory.forget(tenantOf(response));
    response.location(`/api/v1/policies/${policyId}`);
    await respondWithPolicy(response, policyId, 201);
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const rows = await listPolicies(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.policy_id, policyJson));
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    await respondWithPolicy(response, (await loadPolicy(response, request.params.id)).policy_id);
  });

  router.get('/:id/versions', async (request, response) => {
    const query = parseQuery(versionsQuery, request);
    const row = await loadPolicy(response, request.params.id);
    const after = query.starting_after ?? 0;
    const versions = (await policyVersions(sigid, tenantOf(response), row.policy_id)).filter(
      (version) => version.version > after,
    );
    response.json(
      page(
        versions.slice(0, query.limit + 1),
        query.limit,
        (version) => String(version.version),
        versionJson(row.policy_id),
      ),
    );
  });

  router.patch('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updatePolicyBody, request);
    const row = await loadPolicy(response, request.params.id);
    const written = await updatePolicy(sigid, row.policy_id, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    directory.forget(tenantOf(response));
    await respondWithPolicy(response, row.policy_id);
  });

  router.delete('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadPolicy(response, request.params.id);
    const written = await deletePolicy(sigid, row.policy_id, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    directory.forget(tenantOf(response));
    response.status(204).end();
  });

  return router;
}

/**
 * `POST /api/v1/authorize`: a tenant API asks whether a principal may take an action on a resource,
 * and gets Cedar's decision on the tenant's enabled policies (default deny), made in this process.
 */
export function authorizeRouter(sigid: Sigid): Router {
  const router = Router();
  const directory = policyDirectory(sigid);

  router.post('/', async (request, response) => {
    const body = parseBody(authorizeBody, request);
    const context = body.context ?? {};
    const set = await directory.policySet(tenantOf(response));
    // A user's organizations, an agent's owner and status: read only when a policy can ask.
    const facts = set?.readsPrincipal
      ? await principalFacts(sigid.readModels, tenantOf(response), body.principal)
      : undefined;
    try {
      const decision = decide(set, {
        principal: facts ? { ...body.principal, ...facts } : body.principal,
        action: body.action,
        resource: body.resource,
        scopeApi: body.resource.api,
        context: {
          ...context,
          time: context.time ?? Math.floor(Date.now() / 1000),
          amr: context.amr ?? [],
          delegation_depth: context.delegation_depth ?? 0,
        },
      });
      response.json({ object: 'authorization_decision', ...decision });
    } catch (error) {
      if (!(error instanceof RequestRejected)) throw error;
      throw new ProblemError(
        'invalid_request',
        "The request does not fit SigID's Cedar schema.",
        error.diagnostics.map((diagnostic) => ({
          path: '',
          code: 'cedar_request_error',
          message: diagnostic.message,
          ...(diagnostic.help ? { help: diagnostic.help } : {}),
        })),
      );
    }
  });

  return router;
}
