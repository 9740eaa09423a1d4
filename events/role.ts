import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * Roles: named bundles of permissions (scopes of the tenant's APIs, each named by its API's id),
 * assigned to the tenant's users by their pairwise `sub`. An assignment names an organization or
 * none (`organization_id: null`, tenant level; the only kind for now). The rules on each field are
 * in src/http/roles.ts and docs/roles.md.
 */

export const rolePermissionSchema = z.object({ api_id: z.string(), scope: z.string() });
export type RolePermission = z.infer<typeof rolePermissionSchema>;

/** What an admin can change after creation. */
export const roleSettingsFields = {
  name: z.string(),
  description: z.string(),
  permissions: z.array(rolePermissionSchema),
};

const settingsSchema = z.object(roleSettingsFields);
/** Every changeable field of a role, all present. */
export type RoleSettings = z.infer<typeof settingsSchema>;

export const roleCreated = defineEvent({
  type: 'role.created',
  version: 1,
  description: 'A role was created with its name, its description and its permissions (scopes of APIs).',
  schema: z.object({ role_id: z.string(), ...roleSettingsFields }),
});

const partialSettings = settingsSchema.partial();

export const roleUpdated = defineEvent({
  type: 'role.updated',
  version: 1,
  description:
    "A role's name, description or permissions changed; `changes` holds the new values and `previous` the old ones. Tokens issued from then on carry the new permissions.",
  schema: z.object({ role_id: z.string(), changes: partialSettings, previous: partialSettings }),
});

export const roleDeleted = defineEvent({
  type: 'role.deleted',
  version: 1,
  description:
    'A role was deleted: every assignment of it ended in the same write (each a `role.unassigned` before this event), and its name can be used again.',
  schema: z.object({ role_id: z.string(), name: z.string() }),
});

const assignmentSchema = {
  role_id: z.string(),
  sub: z.string(),
  /** The organization the assignment holds in; null: the whole tenant. */
  organization_id: z.string().nullable(),
};

export const roleAssigned = defineEvent({
  type: 'role.assigned',
  version: 1,
  description:
    "A role was assigned to a user (by the tenant's `sub`), in the whole tenant (`organization_id` null) or in one organization.",
  schema: z.object(assignmentSchema),
});

export const roleUnassigned = defineEvent({
  type: 'role.unassigned',
  version: 1,
  description:
    'A role was taken from a user: `reason` is `unassigned` (by an admin) or `role_deleted` (the role itself was deleted).',
  schema: z.object({ ...assignmentSchema, reason: z.enum(['unassigned', 'role_deleted']) }),
});

export const roleEvents = [roleCreated, roleUpdated, roleDeleted, roleAssigned, roleUnassigned] as const;

export type RoleEvent = EventOf<(typeof roleEvents)[number]>;
