import { type Response, Router } from 'express';
import { z } from 'zod';
import {
  findRoleAssignment,
  listAssignmentsOfSub,
  listRoleHolders,
  type RoleAssignmentRow,
} from '../../read-models/role-assignments.ts';
import { findRole, listRoles, type RoleRow } from '../../read-models/roles.ts';
import { assignRole, createRole, deleteRole, unassignRole, updateRole } from '../../services/roles.ts';
import { NotFoundError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema, textSchema } from '../text.ts';
import { scopeValueSchema } from './apis.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

/** The most permissions one role holds. */
export const MAX_ROLE_PERMISSIONS = 200;

/** A tenant's `sub` as SigID makes them (`sub_…`); anything else names no user. */
const subSchema = z.string().refine((value) => isId('sub', value), 'a user’s sub, sub_…');

const permissionsField = z
  .array(
    z.strictObject({
      api_id: z.string().refine((value) => isId('api', value), 'an API id, api_…'),
      scope: scopeValueSchema,
    }),
  )
  .max(MAX_ROLE_PERMISSIONS);

const settingsFields = {
  name: lineSchema.trim().min(1).max(100),
  description: textSchema.max(500),
  permissions: permissionsField,
};

export const createRoleBody = z.strictObject({
  name: settingsFields.name,
  description: settingsFields.description.optional(),
  permissions: settingsFields.permissions.optional(),
});

export const updateRoleBody = z
  .strictObject({
    name: settingsFields.name.optional(),
    description: settingsFields.description.optional(),
    permissions: settingsFields.permissions.optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

export const roleAssignmentsQuery = listQuery.extend({ sub: subSchema });

function roleJson(row: RoleRow) {
  return {
    id: row.role_id,
    object: 'role',
    name: row.name,
    description: row.description,
    permissions: row.permissions,
    revision: Number(row.revision),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function assignmentJson(row: RoleAssignmentRow) {
  return {
    object: 'role_assignment',
    role_id: row.role_id,
    sub: row.sub,
    organization_id: row.organization_id,
    created_at: row.created_at.toISOString(),
  };
}

/**
 * `/api/v1/roles`: a tenant's roles (named bundles of its APIs' scopes) and who holds them
 * (`/{id}/users/{sub}`); `/api/v1/role-assignments?sub=` lists one user's. Every change is an event
 * on the role's stream, so in the audit log.
 */
export function rolesRouter(sigid: Sigid): Router {
  const router = Router();

  async function loadRole(response: Response, id: string) {
    const row = isId('rol', id) ? await findRole(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The role');
    return row;
  }

  async function respondWithRole(response: Response, roleId: string, status = 200) {
    const row = await loadRole(response, roleId);
    response
      .status(status)
      .set('ETag', etag(Number(row.revision)))
      .json(roleJson(row));
  }

  /** A sub of the right shape, or 404 (whether it is the tenant's the service checks). */
  function subOf(value: string) {
    if (!isId('sub', value)) throw new NotFoundError('The user');
    return value;
  }

  router.post('/', async (request, response) => {
    const body = parseBody(createRoleBody, request);
    const { roleId, written } = await createRole(sigid, body, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.location(`/api/v1/roles/${roleId}`);
    await respondWithRole(response, roleId, 201);
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const rows = await listRoles(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.role_id, roleJson));
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    await respondWithRole(response, (await loadRole(response, request.params.id)).role_id);
  });

  router.patch('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateRoleBody, request);
    const row = await loadRole(response, request.params.id);
    const written = await updateRole(sigid, row, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await respondWithRole(response, row.role_id);
  });

  router.delete('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadRole(response, request.params.id);
    const written = await deleteRole(sigid, row, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  router.get('/:id/users', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const role = await loadRole(response, request.params.id);
    const rows = await listRoleHolders(sigid.readModels, tenantOf(response), role.role_id, {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.sub, assignmentJson));
  });

  router.put('/:id/users/:sub', async (request, response) => {
    const role = await loadRole(response, request.params.id);
    const sub = subOf(request.params.sub);
    const written = await assignRole(sigid, role, sub, useCaseOf(request, response));
    await consistent(sigid, request, written);
    const held = await findRoleAssignment(sigid.readModels, tenantOf(response), role.role_id, sub);
    // Gone already: the role was deleted since.
    if (!held) throw new NotFoundError('The assignment');
    response.status(200).json(assignmentJson(held));
  });

  router.delete('/:id/users/:sub', async (request, response) => {
    const role = await loadRole(response, request.params.id);
    const sub = subOf(request.params.sub);
    const written = await unassignRole(sigid, role, sub, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  return router;
}

/** `/api/v1/role-assignments?sub=`: the roles one of the tenant's users holds (a sub of no user: an empty list). */
export function roleAssignmentsRouter(sigid: Sigid): Router {
  const router = Router();
  router.get('/', async (request, response) => {
    const query = parseQuery(roleAssignmentsQuery, request);
    const rows = await listAssignmentsOfSub(sigid.readModels, tenantOf(response), query.sub, {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.role_id, assignmentJson));
  });
  return router;
}
