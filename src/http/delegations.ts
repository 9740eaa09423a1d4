import { type Response, Router } from 'express';
import { z } from 'zod';
import { type DelegationRow, findDelegation, listDelegations } from '../../read-models/delegations.ts';
import { createDelegation, revokeDelegation } from '../../services/delegations.ts';
import { NotFoundError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema } from '../text.ts';
import { MAX_AGENT_SCOPES, MAX_DELEGATION_LIFETIME_SECONDS } from './agents.ts';
import { identifierSchema, scopeValueSchema } from './apis.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

/** A delegation made by the tenant's backend after it collected the user's consent in its own UI. */
export const createDelegationBody = z.strictObject({
  agent_id: z.string().refine((value) => isId('agt', value), 'an agent id, agt_…'),
  sub: z.string().refine((value) => isId('sub', value), 'a user’s sub, sub_…'),
  audience: identifierSchema,
  scopes: z.array(scopeValueSchema).min(1).max(MAX_AGENT_SCOPES),
  expires_in: z.int().min(1).max(MAX_DELEGATION_LIFETIME_SECONDS).optional(),
  max_chain_depth: z.int().min(1).max(5).optional(),
  parent_delegation_id: z
    .string()
    .refine((value) => isId('dlg', value), 'a delegation id, dlg_…')
    .optional(),
});

export const listDelegationsQuery = listQuery.extend({
  agent_id: z
    .string()
    .refine((value) => isId('agt', value), 'an agent id, agt_…')
    .optional(),
  sub: z
    .string()
    .refine((value) => isId('sub', value), 'a user’s sub, sub_…')
    .optional(),
  status: z.enum(['active', 'revoked']).optional(),
});

export const revokeDelegationBody = z.strictObject({ reason: lineSchema.max(500).optional() });

/** A delegation as the API shows it; `status` reads `expired` once its time is past. */
export function delegationJson(row: DelegationRow, now = new Date()) {
  return {
    id: row.delegation_id,
    object: 'delegation',
    agent_id: row.agent_id,
    sub: row.sub,
    audience: row.audience,
    scopes: row.scopes,
    expires_at: row.expires_at.toISOString(),
    max_chain_depth: row.max_chain_depth,
    depth: row.depth,
    parent_delegation_id: row.parent_delegation_id,
    consent: row.consent,
    status: row.status === 'active' && row.expires_at <= now ? 'expired' : row.status,
    revoked_reason: row.revoked_reason,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    revision: Number(row.revision),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * `/api/v1/delegations`: a tenant's delegations of its users to its agents (RFC 8693 token exchange
 * at the tenant issuer, docs/delegation.md). Created by the tenant's backend once it has the user's
 * consent, only within the agent's delegation limits; revoked at once.
 */
export function delegationsRouter(sigid: Sigid): Router {
  const router = Router();

  async function load(response: Response, id: string) {
    const row = isId('dlg', id) ? await findDelegation(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The delegation');
    return row;
  }

  async function respond(response: Response, id: string, status = 200) {
    const row = await load(response, id);
    response
      .status(status)
      .set('ETag', etag(Number(row.revision)))
      .json(delegationJson(row));
  }

  router.post('/', async (request, response) => {
    const body = parseBody(createDelegationBody, request);
    const context = useCaseOf(request, response);
    const { delegationId, written } = await createDelegation(
      sigid,
      body,
      { type: 'api', actor: context.actor.id },
      context,
    );
    await consistent(sigid, request, written);
    response.location(`/api/v1/delegations/${delegationId}`);
    await respond(response, delegationId, 201);
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listDelegationsQuery, request);
    const rows = await listDelegations(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
      agentId: query.agent_id,
      sub: query.sub,
      status: query.status,
    });
    const now = new Date();
    response.json(
      page(
        rows,
        query.limit,
        (row) => row.delegation_id,
        (row) => delegationJson(row, now),
      ),
    );
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    await respond(response, (await load(response, request.params.id)).delegation_id);
  });

  router.post('/:id/revoke', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(revokeDelegationBody, request);
    const row = await load(response, request.params.id);
    const written = await revokeDelegation(sigid, row, body.reason ?? 'revoked', {
      ...useCaseOf(request, response),
      ifMatch,
    });
    await consistent(sigid, request, written);
    await respond(response, row.delegation_id);
  });

  return router;
}
