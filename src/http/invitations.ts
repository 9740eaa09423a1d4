import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { findInvitation, type InvitationRow, listInvitations } from '../../read-models/invitations.ts';
import { createInvitation, resendInvitation, revokeInvitation } from '../../services/invitations.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema } from '../text.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

/** Bounds of an invitation's lifetime, in seconds: an hour to 7 days (the longest a signed link may live). */
export const invitationTtl = { min: 3600, max: 7 * 24 * 3600 } as const;

const roleId = lineSchema.trim().min(1).max(100);
const expiresIn = z.number().int().min(invitationTtl.min).max(invitationTtl.max);

export const createInvitationBody = z.strictObject({
  email: z.email().max(320),
  roles: z.array(roleId).max(20).optional(),
  organization_id: lineSchema.trim().min(1).max(100).nullable().optional(),
  expires_in_seconds: expiresIn.optional(),
});

export const resendInvitationBody = z.strictObject({ expires_in_seconds: expiresIn.optional() });

export const invitationStatusSchema = z.enum(['pending', 'accepted', 'revoked', 'expired']);

export const listInvitationsQuery = z.strictObject({
  ...listQuery.shape,
  status: z.enum(['pending', 'accepted', 'revoked']).optional(),
});

function invitationJson(row: InvitationRow) {
  const expired = row.status === 'pending' && row.expires_at.getTime() <= Date.now();
  return {
    id: row.invitation_id,
    object: 'invitation',
    status: expired ? 'expired' : row.status,
    email: row.email,
    roles: row.roles,
    organization_id: row.organization_id,
    expires_at: row.expires_at.toISOString(),
    accepted_sub: row.accepted_sub,
    revision: Number(row.revision),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** An optional body: none, `{}`, or the schema's fields. */
function optionalBody<S extends z.ZodType>(schema: S, request: Request): z.infer<S> {
  const parsed = schema.safeParse(request.body ?? {});
  if (!parsed.success) throw new ValidationError('The request body is not valid.', parsed.error.issues);
  return parsed.data;
}

/**
 * `/api/v1/invitations`: invite a person by e-mail with roles and an organization; resend, revoke,
 * list, get. The person accepts through the link at the tenant's hosted pages (`/invitation`).
 */
export function invitationsRouter(sigid: Sigid): Router {
  const router = Router();

  async function loadInvitation(response: Response, id: string) {
    const row = isId('inv', id) ? await findInvitation(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The invitation');
    return row;
  }

  async function respondWithInvitation(response: Response, id: string, status = 200) {
    const row = await loadInvitation(response, id);
    response
      .status(status)
      .set('ETag', etag(Number(row.revision)))
      .json(invitationJson(row));
  }

  router.post('/', async (request, response) => {
    const body = parseBody(createInvitationBody, request);
    const { invitationId, written } = await createInvitation(sigid, body, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.location(`/api/v1/invitations/${invitationId}`);
    await respondWithInvitation(response, invitationId, 201);
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listInvitationsQuery, request);
    const rows = await listInvitations(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
      status: query.status,
    });
    response.json(page(rows, query.limit, (row) => row.invitation_id, invitationJson));
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    await respondWithInvitation(response, (await loadInvitation(response, request.params.id)).invitation_id);
  });

  router.post('/:id/resend', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = optionalBody(resendInvitationBody, request);
    const row = await loadInvitation(response, request.params.id);
    const written = await resendInvitation(sigid, row, body.expires_in_seconds, {
      ...useCaseOf(request, response),
      ifMatch,
    });
    await consistent(sigid, request, written);
    await respondWithInvitation(response, row.invitation_id);
  });

  router.post('/:id/revoke', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    optionalBody(z.strictObject({}), request);
    const row = await loadInvitation(response, request.params.id);
    const written = await revokeInvitation(sigid, row.invitation_id, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await respondWithInvitation(response, row.invitation_id);
  });

  return router;
}
