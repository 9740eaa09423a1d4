import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { findUser, listUsers, type UserRow } from '../../read-models/users.ts';
import type { SessionSummary } from '../../services/sign-in.ts';
import {
  blockUser,
  deleteUser,
  revokeUserSessions,
  unblockUser,
  updateUser,
  userSessions,
} from '../../services/users.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema } from '../text.ts';
import { tenantOf, useCaseOf, writeContext } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

/** An action's body: none, or `{}` (anything else is refused). */
function emptyBody(request: Request) {
  const parsed = z.strictObject({}).safeParse(request.body ?? {});
  if (!parsed.success) throw new ValidationError('This request takes no body fields.', parsed.error.issues);
}

/** The largest `metadata` object, as JSON. */
export const MAX_USER_METADATA_BYTES = 4096;

export const userStatusSchema = z.enum(['active', 'blocked', 'deleted']);

export const listUsersQuery = z.strictObject({
  ...listQuery.shape,
  email: lineSchema.trim().min(1).max(320).optional(),
  name: lineSchema.trim().min(1).max(200).optional(),
  status: userStatusSchema.optional(),
});

const nameField = lineSchema.trim().min(1).max(200).nullable();

export const updateUserBody = z
  .strictObject({
    name: nameField.optional(),
    given_name: nameField.optional(),
    family_name: nameField.optional(),
    picture: lineSchema
      .max(2000)
      .refine((value) => URL.canParse(value) && new URL(value).protocol === 'https:', 'an absolute https URL')
      .nullable()
      .optional(),
    metadata: z
      .record(z.string().max(100), z.unknown())
      .refine((value) => Object.keys(value).length <= 50, 'at most 50 keys')
      .refine(
        (value) => Buffer.byteLength(JSON.stringify(value)) <= MAX_USER_METADATA_BYTES,
        `at most ${MAX_USER_METADATA_BYTES} bytes as JSON`,
      )
      .optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

export function userJson(row: UserRow) {
  return {
    id: row.sub,
    object: 'user',
    status: row.status,
    email: row.email,
    email_verified: row.email_verified,
    name: row.name,
    given_name: row.given_name,
    family_name: row.family_name,
    picture: row.picture,
    metadata: row.metadata,
    revision: Number(row.revision),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    last_sign_in_at: row.last_sign_in_at?.toISOString() ?? null,
    deleted_at: row.deleted_at?.toISOString() ?? null,
  };
}

function sessionJson(session: SessionSummary) {
  return {
    id: session.sessionUid,
    object: 'session',
    signed_in_at: session.signedInAt?.toISOString() ?? null,
    expires_at: session.expiresAt?.toISOString() ?? null,
    clients: session.clients,
  };
}

/**
 * `/api/v1/users`: a tenant's users (people whose account is linked to it), by their pairwise sub:
 * search, profile changes, block and unblock, delete (erasure), and their sessions at the issuer.
 * A deleted user is a tombstone: 404 here, listed only with `status=deleted`.
 */
export function usersRouter(sigid: Sigid): Router {
  const router = Router();

  /** A live (not deleted) user of the caller's tenant, or 404; `tombstone` lets a deleted one through. */
  async function loadUser(response: Response, sub: string, options: { tombstone?: boolean } = {}) {
    const row = isId('sub', sub) ? await findUser(sigid.readModels, tenantOf(response), sub) : undefined;
    if (!row || (row.status === 'deleted' && !options.tombstone)) throw new NotFoundError('The user');
    return row;
  }

  async function respondWithUser(response: Response, sub: string) {
    const row = await loadUser(response, sub);
    response.set('ETag', etag(Number(row.revision))).json(userJson(row));
  }

  router.get('/', async (request, response) => {
    const query = parseQuery(listUsersQuery, request);
    const rows = await listUsers(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
      email: query.email,
      name: query.name,
      status: query.status,
    });
    response.json(page(rows, query.limit, (row) => row.sub, userJson));
  });

  router.get('/:sub', async (request, response) => {
    parseQuery(noQuery, request);
    await respondWithUser(response, (await loadUser(response, request.params.sub)).sub);
  });

  router.patch('/:sub', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateUserBody, request);
    const row = await loadUser(response, request.params.sub);
    const written = await updateUser(sigid, row.sub, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await respondWithUser(response, row.sub);
  });

  for (const [action, run] of [
    ['block', blockUser],
    ['unblock', unblockUser],
  ] as const) {
    router.post(`/:sub/${action}`, async (request, response) => {
      const ifMatch = ifMatchRevision(request);
      emptyBody(request);
      const row = await loadUser(response, request.params.sub);
      const written = await run(sigid, row.sub, { ...useCaseOf(request, response), ifMatch });
      await consistent(sigid, request, written);
      await respondWithUser(response, row.sub);
    });
  }

  // A tombstone's DELETE finishes what a delete that died left undone, and answers as the first would.
  router.delete('/:sub', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    emptyBody(request);
    const row = await loadUser(response, request.params.sub, { tombstone: true });
    const written = await deleteUser(sigid, row.sub, {
      ...writeContext(request, response),
      ifMatch: row.status === 'deleted' ? undefined : ifMatch,
    });
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  router.get('/:sub/sessions', async (request, response) => {
    parseQuery(noQuery, request);
    const row = await loadUser(response, request.params.sub);
    const sessions = await userSessions(sigid, row.tenant_id, row.sub);
    response.json(page(sessions, sessions.length, (session) => session.sessionUid, sessionJson));
  });

  router.post('/:sub/sessions/revoke', async (request, response) => {
    emptyBody(request);
    const row = await loadUser(response, request.params.sub);
    const revoked = await revokeUserSessions(sigid, row.sub, null, writeContext(request, response));
    response.json({ object: 'session_revocation', revoked });
  });

  router.delete('/:sub/sessions/:session_id', async (request, response) => {
    emptyBody(request);
    const row = await loadUser(response, request.params.sub);
    const sessionId = request.params.session_id;
    if (sessionId.length > 100) throw new NotFoundError('The session');
    await revokeUserSessions(sigid, row.sub, sessionId, writeContext(request, response));
    response.status(204).end();
  });

  return router;
}
