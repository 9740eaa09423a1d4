import { z } from 'zod';
import type { TenantEvent } from '../events/tenant.ts';
import { ConflictError, NotFoundError, ValidationError } from '../src/errors.ts';
import { lineSchema, textSchema } from '../src/text.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

/** A tenant's display name: one line of text SigID accepts. */
export const tenantNameSchema = lineSchema.trim().min(1).max(200);

/** Why a tenant is suspended, shown in its audit log: free text SigID accepts. */
export const suspensionReasonSchema = textSchema.max(500);

/** The name the hosted pages show: one line, 1–100 characters. */
export const displayNameSchema = lineSchema.trim().min(1).max(100);

const localHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A logo's address: an https URL, or http on this machine only (a developer's own server). */
export const logoUriSchema = lineSchema.max(2000).refine((value) => {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  if (url.username || url.password) return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && localHosts.has(url.hostname));
}, 'an https URL without credentials (http only on localhost)');

/** A colour as `#rrggbb`, kept in lower case. */
export const colorSchema = z
  .string()
  .regex(/^#[0-9a-fA-F]{6}$/, 'a colour as #rrggbb')
  .transform((value) => value.toLowerCase());

/** The branding fields a tenant sets; null is "the default". */
export interface TenantBranding {
  display_name: string | null;
  logo_uri: string | null;
  primary_color: string | null;
  background_color: string | null;
}

export const brandingFields = ['display_name', 'logo_uri', 'primary_color', 'background_color'] as const;

export type MfaMode = 'off' | 'optional' | 'required';

export interface MfaPolicy {
  mode: MfaMode;
  /** Application ids (`app_…`) whose sign-ins require a second factor whatever the mode. */
  required_for_applications: string[];
}

export const defaultMfaPolicy: MfaPolicy = { mode: 'optional', required_for_applications: [] };

/** How a tenant's access tokens carry roles (docs/roles.md): claim names, null for "not carried". */
export interface RoleClaims {
  roles_claim: string | null;
  permissions_claim: string | null;
  /** Whether a user's token for an API carries only the scopes their roles grant on it. */
  enforce_permissions: boolean;
}

export const defaultRoleClaims: RoleClaims = {
  roles_claim: 'roles',
  permissions_claim: 'permissions',
  enforce_permissions: false,
};

/**
 * Which clients the tenant never registered may use its issuer (docs/mcp.md): Client ID Metadata
 * Documents and RFC 7591 dynamic registration, both off until the tenant turns them on.
 */
export interface ClientRegistration {
  client_id_metadata_documents: boolean;
  dynamic_registration: boolean;
}

export const defaultClientRegistration: ClientRegistration = {
  client_id_metadata_documents: false,
  dynamic_registration: false,
};

const noBranding: TenantBranding = { display_name: null, logo_uri: null, primary_color: null, background_color: null };

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
  | { type: 'delete_tenant' }
  /** Sets some branding fields (null: back to the default); fields left out stay as they are. */
  | { type: 'set_branding'; branding: Partial<TenantBranding> }
  /** Changes the MFA policy (fields left out stay); its application ids must be checked to be the tenant's. */
  | { type: 'set_mfa_policy'; policy: Partial<MfaPolicy> }
  /** Changes how access tokens carry roles (fields left out stay); claim names must be checked first. */
  | { type: 'set_role_claims'; claims: Partial<RoleClaims> }
  /** Turns Client ID Metadata Documents or dynamic registration on or off (fields left out stay). */
  | { type: 'set_client_registration'; settings: Partial<ClientRegistration> };

export type TenantState =
  | { status: 'absent' }
  | {
      status: 'active' | 'suspended' | 'deleted';
      tenant_id: string;
      slug: string;
      name: string;
      branding: TenantBranding;
      mfa: MfaPolicy;
      role_claims: RoleClaims;
      client_registration: ClientRegistration;
    };

export const tenantDecider: Decider<TenantCommand, TenantState, TenantEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'tenant.created':
        return {
          status: 'active',
          tenant_id: event.data.tenant_id,
          slug: event.data.slug,
          name: event.data.name,
          branding: noBranding,
          mfa: defaultMfaPolicy,
          role_claims: defaultRoleClaims,
          client_registration: defaultClientRegistration,
        };
      case 'tenant.renamed':
        return state.status === 'absent' ? state : { ...state, name: event.data.name };
      case 'tenant.suspended':
        return state.status === 'absent' ? state : { ...state, status: 'suspended' };
      case 'tenant.reactivated':
        return state.status === 'absent' ? state : { ...state, status: 'active' };
      case 'tenant.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted' };
      case 'tenant.branding.changed':
        return state.status === 'absent' ? state : { ...state, branding: { ...state.branding, ...event.data } };
      case 'tenant.mfa_policy.changed':
        return state.status === 'absent' ? state : { ...state, mfa: event.data };
      case 'tenant.role_claims.changed':
        return state.status === 'absent' ? state : { ...state, role_claims: event.data };
      case 'tenant.client_registration.changed':
        return state.status === 'absent' ? state : { ...state, client_registration: event.data };
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
      case 'set_branding': {
        // Only the fields that change: the same values again append nothing.
        const changed: Partial<TenantBranding> = {};
        for (const field of brandingFields) {
          const value = command.branding[field];
          if (value !== undefined && value !== state.branding[field]) changed[field] = value;
        }
        return Object.keys(changed).length === 0 ? [] : [{ type: 'tenant.branding.changed', data: changed }];
      }
      case 'set_mfa_policy': {
        const mode = command.policy.mode ?? state.mfa.mode;
        const applications = [
          ...new Set(command.policy.required_for_applications ?? state.mfa.required_for_applications),
        ];
        const same =
          mode === state.mfa.mode &&
          applications.length === state.mfa.required_for_applications.length &&
          applications.every((id) => state.mfa.required_for_applications.includes(id));
        return same
          ? []
          : [
              {
                type: 'tenant.mfa_policy.changed',
                data: { mode, required_for_applications: applications },
              },
            ];
      }
      case 'set_role_claims': {
        const claims = { ...state.role_claims, ...command.claims };
        if (claims.roles_claim !== null && claims.roles_claim === claims.permissions_claim) {
          throw new ValidationError('The roles and the permissions claims must have different names.', [
            {
              code: 'custom',
              path: ['permissions_claim'],
              message: `"${claims.permissions_claim}" is the roles claim's name too.`,
              input: claims.permissions_claim,
            } as z.core.$ZodIssue,
          ]);
        }
        const same = (Object.keys(claims) as (keyof RoleClaims)[]).every(
          (field) => claims[field] === state.role_claims[field],
        );
        return same ? [] : [{ type: 'tenant.role_claims.changed', data: claims }];
      }
      case 'set_client_registration': {
        const settings = { ...state.client_registration, ...command.settings };
        const same =
          settings.client_id_metadata_documents === state.client_registration.client_id_metadata_documents &&
          settings.dynamic_registration === state.client_registration.dynamic_registration;
        return same ? [] : [{ type: 'tenant.client_registration.changed', data: settings }];
      }
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
