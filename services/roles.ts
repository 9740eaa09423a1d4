import { reservationKinds } from '../commands/reservation.ts';
import { type RoleAssignment, roleAggregate } from '../commands/role.ts';
import type { RolePermission, RoleSettings } from '../events/role.ts';
import { findLinkBySub } from '../read-models/account-links.ts';
import { findApi } from '../read-models/apis.ts';
import type { RoleRow } from '../read-models/roles.ts';
import { handleCommand } from '../src/command-handler.ts';
import {
  ConflictError,
  NotFoundError,
  PreconditionFailedError,
  ProblemError,
  type ProblemIssue,
} from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';
import { claimReservation, releaseReservation } from './reservations.ts';

type Change = UseCase & { ifMatch?: number | undefined };

export interface NewRole {
  name: string;
  description?: string | undefined;
  permissions?: RolePermission[] | undefined;
}

async function roleState(sigid: Sigid, tenantId: string, roleId: string) {
  const history = await sigid.log.readStream(roleAggregate.stream(tenantId, roleId));
  const state = history.reduce(
    (current, event) => roleAggregate.decider.evolve(current, event as never),
    roleAggregate.decider.initialState(),
  );
  return { history, state };
}

const sameName = (a: string, b: string) =>
  reservationKinds.role_name.normalise(a) === reservationKinds.role_name.normalise(b);

/**
 * Whether a role no longer holds `name`: it was deleted, or renamed (a rename whose release of the
 * old name never landed leaves the old name free in fact, as a delete does).
 */
async function notHolding(sigid: Sigid, tenantId: string, roleId: string, name: string): Promise<boolean> {
  const { state } = await roleState(sigid, tenantId, roleId);
  if (state.status === 'absent') return false;
  return state.status === 'deleted' || !sameName(state.settings.name, name);
}

/**
 * Checks that every permission names one of the tenant's APIs and a scope that API defines: a 400
 * naming each one that does not (`permissions.<index>.api_id` or `.scope`), before anything is written.
 */
export async function checkPermissions(sigid: Sigid, tenantId: string, permissions: RolePermission[]): Promise<void> {
  const issues: ProblemIssue[] = [];
  for (const [index, permission] of permissions.entries()) {
    const api = await findApi(sigid.readModels, tenantId, permission.api_id);
    if (!api) {
      issues.push({
        path: `permissions.${index}.api_id`,
        message: `No API ${permission.api_id} in this tenant.`,
        code: 'unknown_api',
      });
    } else if (!api.scopes.some((scope) => scope.value === permission.scope)) {
      issues.push({
        path: `permissions.${index}.scope`,
        message: `"${permission.scope}" is not a scope of the API ${permission.api_id}.`,
        code: 'unknown_scope',
      });
    }
  }
  if (issues.length > 0) {
    throw new ProblemError('invalid_request', "Every permission must be a scope of one of the tenant's APIs.", issues);
  }
}

/** Claims a role name for a role within the tenant (409 `role_name_taken` when another role holds it). */
function claimName(sigid: Sigid, roleId: string, name: string, change: Change) {
  // An If-Match pins the role's stream, not the name's.
  const { ifMatch: _pinned, ...context } = change;
  return claimReservation(
    sigid,
    {
      scope: context.tenantId,
      kind: 'role_name',
      value: name,
      ownerId: roleId,
      ownerExists: async (id) => (await roleState(sigid, context.tenantId, id)).history.length > 0,
      ownerDeleted: (id) => notHolding(sigid, context.tenantId, id, name),
    },
    context,
  );
}

async function releaseName(sigid: Sigid, roleId: string, name: string, context: Change): Promise<void> {
  const { ifMatch: _pinned, random: _random, ...write } = context;
  await releaseReservation(
    sigid,
    { scope: context.tenantId, kind: 'role_name', value: name, ownerId: roleId },
    write,
  ).catch((error: unknown) => {
    // Taken over already, or released by an earlier run.
    if (!(error instanceof NotFoundError)) throw error;
  });
}

/**
 * Creates a role: checks its permissions, claims its name within the tenant (case-insensitive), then
 * records `role.created`. The id comes from `context.random`, so a retried request repeats each step
 * as a no-op; a name claimed for a role never created (its creator died) is adopted.
 */
export async function createRole(
  sigid: Sigid,
  input: NewRole,
  context: UseCase,
): Promise<{ roleId: string; written: Written }> {
  const settings: RoleSettings = {
    name: input.name,
    description: input.description ?? '',
    permissions: input.permissions ?? [],
  };
  await checkPermissions(sigid, context.tenantId, settings.permissions);
  const claim = await claimName(sigid, context.random.id('rol'), input.name, context);
  const roleId = claim.ownerId;
  failpoint('role.create:after-name');
  const created = await handleCommand(
    sigid.log,
    roleAggregate,
    roleId,
    { type: 'create_role', role_id: roleId, settings },
    claim.adopted ? { ...context, ifMatch: -1 } : context,
  ).catch((error: unknown) => {
    if (claim.adopted && error instanceof PreconditionFailedError)
      throw new ConflictError('role_name_taken', `The role_name "${input.name}" is already taken.`);
    throw error;
  });
  let written: Written = created;
  if (created.position === null) {
    // A retried create that had landed: its answer waits for that event like the first run's would.
    const { history } = await roleState(sigid, context.tenantId, roleId);
    const event = history.find((recorded) => recorded.type === 'role.created');
    if (event) written = { position: event.position, types: [event.type] };
  }
  return { roleId, written };
}

/**
 * Changes a role's name, description or permissions. A new name is claimed first and the old one
 * released after the change; a change refused (412, 404) gives the new name back.
 */
export async function updateRole(
  sigid: Sigid,
  role: RoleRow,
  changes: Partial<RoleSettings>,
  context: Change,
): Promise<Written> {
  const defined = Object.fromEntries(
    Object.entries(changes).filter(([, value]) => value !== undefined),
  ) as Partial<RoleSettings>;
  if (defined.permissions) await checkPermissions(sigid, context.tenantId, defined.permissions);
  const renamed = defined.name !== undefined && !sameName(defined.name, role.name) ? defined.name : undefined;
  if (renamed !== undefined) await claimName(sigid, role.role_id, renamed, context);
  failpoint('role.update:after-name');
  let written: Written;
  try {
    written = await handleCommand(
      sigid.log,
      roleAggregate,
      role.role_id,
      { type: 'update_role', changes: defined },
      context,
    );
  } catch (error) {
    if (renamed !== undefined) await releaseName(sigid, role.role_id, renamed, context);
    throw error;
  }
  if (renamed !== undefined) await releaseName(sigid, role.role_id, role.name, context);
  return written;
}

/**
 * Deletes a role: one append takes the role from every holder (`role.unassigned`) and deletes it
 * (`role.deleted`), so no token carries it from then on; then its name is released. If the process
 * dies between the two, the name is free in fact: the next claimant takes over a deleted owner's claim.
 */
export async function deleteRole(sigid: Sigid, role: RoleRow, context: Change): Promise<Written> {
  const written = await handleCommand(sigid.log, roleAggregate, role.role_id, { type: 'delete_role' }, context);
  failpoint('role.delete:after-delete');
  await releaseName(sigid, role.role_id, role.name, context);
  return written;
}

/** Assigns a role to one of the tenant's users at tenant level (404 for a sub not linked to the tenant). */
export async function assignRole(sigid: Sigid, role: RoleRow, sub: string, context: Change): Promise<Written> {
  if (!(await findLinkBySub(sigid.readModels, context.tenantId, sub))) throw new NotFoundError('The user');
  const assignment: RoleAssignment = { sub, organization_id: null };
  return handleCommand(sigid.log, roleAggregate, role.role_id, { type: 'assign_role', assignment }, context);
}

/** Takes a role from a user (404 when the user does not hold it at tenant level). */
export function unassignRole(sigid: Sigid, role: RoleRow, sub: string, context: Change): Promise<Written> {
  const assignment: RoleAssignment = { sub, organization_id: null };
  return handleCommand(sigid.log, roleAggregate, role.role_id, { type: 'unassign_role', assignment }, context);
}
