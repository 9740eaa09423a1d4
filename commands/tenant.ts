import { slugSchema, type TenantEvent } from '../events/tenant.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { lineSchema } from '../src/text.ts';
import type { Decider } from './decider.ts';

/** A tenant's display name: one line of text SigID accepts. */
export const tenantNameSchema = lineSchema.trim().min(1).max(200);

export type TenantCommand =
  /** Creates the tenant; its slug must already be reserved for it. */
  | { type: 'create_tenant'; tenant_id: string; slug: string; name: string }
  /** Changes the display name; the slug never changes. */
  | { type: 'rename_tenant'; name: string }
  /** Stops every API key of the tenant from working until reactivated. */
  | { type: 'suspend_tenant'; reason: string | null }
  /** Lifts a suspension. */
  | { type: 'reactivate_tenant' }
  /** Deletes the tenant for good; its slug stays reserved. */
  | { type: 'delete_tenant' };

export type TenantState =
  | { status: 'absent' }
  | { status: 'active' | 'suspended' | 'deleted'; tenant_id: string; slug: string; name: string };

export const tenantDecider: Decider<TenantCommand, TenantState, TenantEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'tenant.created':
        return { status: 'active', tenant_id: event.data.tenant_id, slug: event.data.slug, name: event.data.name };
      case 'tenant.renamed':
        return state.status === 'absent' ? state : { ...state, name: event.data.name };
      case 'tenant.suspended':
        return state.status === 'absent' ? state : { ...state, status: 'suspended' };
      case 'tenant.reactivated':
        return state.status === 'absent' ? state : { ...state, status: 'active' };
      case 'tenant.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted' };
      case 'tenant.slug.reserved':
        return state;
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_tenant') {
      if (state.status !== 'absent') throw new ConflictError('tenant_exists', 'The tenant already exists.');
      return [
        { type: 'tenant.created', data: { tenant_id: command.tenant_id, slug: command.slug, name: command.name } },
      ];
    }
    if (state.status === 'absent' || state.status === 'deleted') throw new NotFoundError('The tenant');
    switch (command.type) {
      case 'rename_tenant':
        return command.name === state.name
          ? []
          : [{ type: 'tenant.renamed', data: { name: command.name, previous_name: state.name } }];
      case 'suspend_tenant':
        return state.status === 'suspended' ? [] : [{ type: 'tenant.suspended', data: { reason: command.reason } }];
      case 'reactivate_tenant':
        return state.status === 'active' ? [] : [{ type: 'tenant.reactivated', data: {} }];
      case 'delete_tenant':
        return [{ type: 'tenant.deleted', data: {} }];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

export type TenantSlugCommand = { type: 'reserve_slug'; slug: string; tenant_id: string };
export type TenantSlugState = { reserved_for: string | null };

/**
 * One stream per slug, platform-wide: reserving it appends to a stream that must not exist yet, so two
 * tenants can never hold one slug, whatever the read models say.
 */
export const tenantSlugDecider: Decider<TenantSlugCommand, TenantSlugState, TenantEvent> = {
  initialState: () => ({ reserved_for: null }),
  evolve: (state, event) => (event.type === 'tenant.slug.reserved' ? { reserved_for: event.data.tenant_id } : state),
  decide(command, state) {
    if (state.reserved_for === command.tenant_id) return [];
    if (state.reserved_for !== null) {
      throw new ConflictError('slug_taken', `The slug "${command.slug}" is already taken.`);
    }
    slugSchema.parse(command.slug);
    return [{ type: 'tenant.slug.reserved', data: { slug: command.slug, tenant_id: command.tenant_id } }];
  },
};

/** The tenant id under which platform-wide streams (slug reservations) are kept. */
export const PLATFORM_TENANT = 'platform';
