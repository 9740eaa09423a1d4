import type { TenantEvent } from '../events/tenant.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { lineSchema, textSchema } from '../src/text.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

/** A tenant's display name: one line of text SigID accepts. */
export const tenantNameSchema = lineSchema.trim().min(1).max(200);

/** Why a tenant is suspended, shown in its audit log: free text SigID accepts. */
export const suspensionReasonSchema = textSchema.max(500);

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
      case 'tenant.slug.reserved': // in slug reservation streams only (see commands/reservation.ts)
        return state;
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_tenant') {
      if (state.status !== 'absent') {
        // The same create again (a retried request, with the same ids): already done.
        if (state.tenant_id === command.tenant_id && state.slug === command.slug && state.name === command.name) {
          return [];
        }
        throw new ConflictError('tenant_exists', 'The tenant already exists.');
      }
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

/** A tenant: its stream is `{tenant_id}-{tenant_id}`. */
export const tenantAggregate = defineAggregate('tenant', tenantDecider);

/** The tenant id under which platform-wide streams (slug reservations) are kept. */
export const PLATFORM_TENANT = 'platform';
