import {
  type OrganizationEvent,
  type OrganizationSettings,
  organizationSettingsFields,
} from '../events/organization.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import { changedFields, type Decider, sameJson } from './decider.ts';

export type OrganizationCommand =
  /** Creates the organization; its name must already be reserved for it. */
  | { type: 'create_organization'; organization_id: string; name: string; settings: OrganizationSettings }
  /** Changes display name or metadata; fields left out stay. */
  | { type: 'update_organization'; changes: Partial<OrganizationSettings> }
  /** Deletes it for good: every member and domain is removed in the same write, then the organization. */
  | { type: 'delete_organization' }
  /** Makes `sub` a member with exactly these roles (added, or its roles replaced; a no-op when unchanged). */
  | { type: 'set_member'; sub: string; roles: string[] }
  /** Makes `sub` a member holding at least these roles (added with them, or they are added to its own; a no-op when held). */
  | { type: 'grant_member_roles'; sub: string; roles: string[] }
  /** Removes a member (404 when `sub` is none). */
  | { type: 'remove_member'; sub: string }
  /** Adds a pending domain with the TXT record that proves it; a no-op when the domain is there already. */
  | { type: 'add_domain'; domain: string; record_name: string; token: string }
  /** Marks a pending domain verified (its proof was found, its reservation claimed); a no-op when verified. */
  | { type: 'verify_domain'; domain: string }
  /** Removes a domain, pending or verified (404 when it is none of the organization's). */
  | { type: 'remove_domain'; domain: string };

export interface OrganizationDomain {
  record_name: string;
  token: string;
  verified: boolean;
}

export type OrganizationState =
  | { status: 'absent' }
  | {
      status: 'active' | 'deleted';
      organization_id: string;
      name: string;
      settings: OrganizationSettings;
      /** Each member's organization roles, by `sub`. */
      members: Readonly<Record<string, readonly string[]>>;
      /** Each domain, by its normalised name. */
      domains: Readonly<Record<string, OrganizationDomain>>;
    };

const settingNames = Object.keys(organizationSettingsFields) as (keyof OrganizationSettings)[];

export const organizationDecider: Decider<OrganizationCommand, OrganizationState, OrganizationEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'organization.created': {
        const { organization_id, name, ...settings } = event.data;
        return { status: 'active', organization_id, name, settings, members: {}, domains: {} };
      }
      case 'organization.updated':
        return state.status === 'absent'
          ? state
          : { ...state, settings: { ...state.settings, ...event.data.changes } as OrganizationSettings };
      case 'organization.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted', members: {}, domains: {} };
      case 'organization.member.added':
      case 'organization.member.updated':
        return state.status === 'absent'
          ? state
          : { ...state, members: { ...state.members, [event.data.sub]: event.data.roles } };
      case 'organization.member.removed': {
        if (state.status === 'absent') return state;
        const { [event.data.sub]: _removed, ...members } = state.members;
        return { ...state, members };
      }
      case 'organization.domain.added': {
        if (state.status === 'absent') return state;
        const { domain, record_name, token } = event.data;
        return { ...state, domains: { ...state.domains, [domain]: { record_name, token, verified: false } } };
      }
      case 'organization.domain.verified': {
        if (state.status === 'absent') return state;
        const known = state.domains[event.data.domain];
        if (!known) return state;
        return { ...state, domains: { ...state.domains, [event.data.domain]: { ...known, verified: true } } };
      }
      case 'organization.domain.removed': {
        if (state.status === 'absent') return state;
        const { [event.data.domain]: _removed, ...domains } = state.domains;
        return { ...state, domains };
      }
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_organization') {
      if (state.status !== 'absent') {
        // The same create again (a retried request, with the same ids): already done.
        if (state.organization_id === command.organization_id && state.name === command.name) return [];
        throw new ConflictError('organization_exists', 'The organization already exists.');
      }
      return [
        {
          type: 'organization.created',
          data: { organization_id: command.organization_id, name: command.name, ...command.settings },
        },
      ];
    }
    if (state.status === 'absent' || state.status === 'deleted') throw new NotFoundError('The organization');
    const organization_id = state.organization_id;
    switch (command.type) {
      case 'update_organization': {
        const changed = changedFields(settingNames, command.changes, state.settings);
        return changed ? [{ type: 'organization.updated', data: { organization_id, ...changed } }] : [];
      }
      case 'delete_organization':
        return [
          ...Object.entries(state.members).map(([sub, roles]) => ({
            type: 'organization.member.removed' as const,
            data: { organization_id, sub, roles: [...roles] },
          })),
          ...Object.entries(state.domains).map(([domain, known]) => ({
            type: 'organization.domain.removed' as const,
            data: { organization_id, domain, verified: known.verified },
          })),
          { type: 'organization.deleted', data: { organization_id, name: state.name } },
        ];
      case 'set_member': {
        const roles = [...new Set(command.roles)];
        const previous = state.members[command.sub];
        if (!previous) {
          return [{ type: 'organization.member.added', data: { organization_id, sub: command.sub, roles } }];
        }
        if (sameJson(previous, roles)) return [];
        return [
          {
            type: 'organization.member.updated',
            data: { organization_id, sub: command.sub, roles, previous_roles: [...previous] },
          },
        ];
      }
      case 'grant_member_roles': {
        const previous = state.members[command.sub];
        if (!previous) {
          const roles = [...new Set(command.roles)];
          return [{ type: 'organization.member.added', data: { organization_id, sub: command.sub, roles } }];
        }
        const roles = [...new Set([...previous, ...command.roles])];
        if (roles.length === previous.length) return [];
        return [
          {
            type: 'organization.member.updated',
            data: { organization_id, sub: command.sub, roles, previous_roles: [...previous] },
          },
        ];
      }
      case 'remove_member': {
        const previous = state.members[command.sub];
        if (!previous) throw new NotFoundError('The member');
        return [
          { type: 'organization.member.removed', data: { organization_id, sub: command.sub, roles: [...previous] } },
        ];
      }
      case 'add_domain': {
        if (state.domains[command.domain]) return [];
        return [
          {
            type: 'organization.domain.added',
            data: { organization_id, domain: command.domain, record_name: command.record_name, token: command.token },
          },
        ];
      }
      case 'verify_domain': {
        const known = state.domains[command.domain];
        if (!known) throw new NotFoundError('The domain');
        if (known.verified) return [];
        return [{ type: 'organization.domain.verified', data: { organization_id, domain: command.domain } }];
      }
      case 'remove_domain': {
        const known = state.domains[command.domain];
        if (!known) throw new NotFoundError('The domain');
        return [
          {
            type: 'organization.domain.removed',
            data: { organization_id, domain: command.domain, verified: known.verified },
          },
        ];
      }
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** An organization with its members and domains: its stream is `{tenant_id}-{organization_id}`. */
export const organizationAggregate = defineAggregate('organization', organizationDecider);
