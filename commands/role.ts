import type { RoleEvent, RoleSettings } from '../events/role.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import { changedFields, type Decider } from './decider.ts';

/** One holder of a role: a tenant's `sub`, in the whole tenant (`organization_id` null) or one organization. */
export interface RoleAssignment {
  sub: string;
  organization_id: string | null;
}

export type RoleCommand =
  /** Creates a role with its whole settings; its name must already be reserved for it, its permissions checked. */
  | { type: 'create_role'; role_id: string; settings: RoleSettings }
  /** Changes name, description or permissions (fields left out stay); a new name must be reserved first. */
  | { type: 'update_role'; changes: Partial<RoleSettings> }
  /** Deletes the role: every assignment ends in the same append, then the role is gone. */
  | { type: 'delete_role' }
  /** Assigns the role to a user (whose `sub` must be checked to be the tenant's); a no-op when it holds it. */
  | { type: 'assign_role'; assignment: RoleAssignment }
  /** Takes the role from a user (404 when the user does not hold it). */
  | { type: 'unassign_role'; assignment: RoleAssignment };

export type RoleState =
  | { status: 'absent' }
  | {
      status: 'active' | 'deleted';
      role_id: string;
      settings: RoleSettings;
      assignments: readonly RoleAssignment[];
    };

const settingNames = ['name', 'description', 'permissions'] as const satisfies readonly (keyof RoleSettings)[];

const sameAssignment = (a: RoleAssignment, b: RoleAssignment) =>
  a.sub === b.sub && a.organization_id === b.organization_id;

/** The permissions with duplicates taken out, in the order given. */
export function distinctPermissions(permissions: RoleSettings['permissions']): RoleSettings['permissions'] {
  const seen = new Set<string>();
  return permissions.filter((permission) => {
    const key = `${permission.api_id}\u0000${permission.scope}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export const roleDecider: Decider<RoleCommand, RoleState, RoleEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'role.created': {
        const { role_id, ...settings } = event.data;
        return { status: 'active', role_id, settings, assignments: [] };
      }
      case 'role.updated':
        return state.status === 'absent'
          ? state
          : { ...state, settings: { ...state.settings, ...event.data.changes } as RoleSettings };
      case 'role.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted', assignments: [] };
      case 'role.assigned': {
        if (state.status === 'absent') return state;
        const { sub, organization_id } = event.data;
        return { ...state, assignments: [...state.assignments, { sub, organization_id }] };
      }
      case 'role.unassigned': {
        if (state.status === 'absent') return state;
        const gone = { sub: event.data.sub, organization_id: event.data.organization_id };
        return { ...state, assignments: state.assignments.filter((held) => !sameAssignment(held, gone)) };
      }
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_role') {
      if (state.status !== 'absent') {
        // The same create again (a retried request, with the same id): already done.
        if (state.role_id === command.role_id) return [];
        throw new ConflictError('role_exists', 'The role already exists.');
      }
      return [
        {
          type: 'role.created',
          data: {
            role_id: command.role_id,
            ...command.settings,
            permissions: distinctPermissions(command.settings.permissions),
          },
        },
      ];
    }
    if (state.status === 'absent' || state.status === 'deleted') throw new NotFoundError('The role');
    const role_id = state.role_id;
    switch (command.type) {
      case 'update_role': {
        const wanted = {
          ...command.changes,
          ...(command.changes.permissions ? { permissions: distinctPermissions(command.changes.permissions) } : {}),
        };
        const changed = changedFields(settingNames, wanted, state.settings);
        return changed ? [{ type: 'role.updated', data: { role_id, ...changed } }] : [];
      }
      case 'delete_role':
        return [
          ...state.assignments.map((held) => ({
            type: 'role.unassigned' as const,
            data: { role_id, sub: held.sub, organization_id: held.organization_id, reason: 'role_deleted' as const },
          })),
          { type: 'role.deleted', data: { role_id, name: state.settings.name } },
        ];
      case 'assign_role': {
        if (state.assignments.some((held) => sameAssignment(held, command.assignment))) return [];
        return [{ type: 'role.assigned', data: { role_id, ...command.assignment } }];
      }
      case 'unassign_role': {
        if (!state.assignments.some((held) => sameAssignment(held, command.assignment))) {
          throw new NotFoundError('The assignment');
        }
        return [{ type: 'role.unassigned', data: { role_id, ...command.assignment, reason: 'unassigned' } }];
      }
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** A role with its assignments: its stream is `{tenant_id}-{role_id}`. */
export const roleAggregate = defineAggregate('role', roleDecider);
