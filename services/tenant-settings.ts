import {
  type ClientRegistration,
  defaultClientRegistration,
  defaultMfaPolicy,
  defaultRoleClaims,
  type MfaMode,
  type MfaPolicy,
  type RoleClaims,
  type TenantBranding,
  tenantAggregate,
} from '../commands/tenant.ts';
import { findApplication, findApplicationByClientId } from '../read-models/applications.ts';
import { findTenant, type TenantRow } from '../read-models/tenants.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ProblemError } from '../src/errors.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';

/** The look of a tenant's hosted pages, every field filled in (the shape of `PageBranding`). */
export interface Branding {
  display_name: string;
  logo_uri: string | null;
  primary_color: string;
  background_color: string;
}

/** What a branding field is while the tenant has not set it (display_name: the tenant's name). */
export const brandingDefaults = {
  primary_color: '#2f5bea',
  background_color: '#f4f5f7',
} as const;

/** A row's branding with the defaults filled in. */
export function brandingOfRow(tenant: TenantRow | undefined): Branding {
  return {
    display_name: tenant?.display_name ?? tenant?.name ?? 'SigID',
    logo_uri: tenant?.logo_uri ?? null,
    primary_color: tenant?.primary_color ?? brandingDefaults.primary_color,
    background_color: tenant?.background_color ?? brandingDefaults.background_color,
  };
}

/** A row's MFA policy. */
export function mfaPolicyOfRow(tenant: TenantRow | undefined): MfaPolicy {
  return tenant
    ? { mode: tenant.mfa_mode, required_for_applications: tenant.mfa_required_for_applications }
    : defaultMfaPolicy;
}

/** A row's role claims settings (the defaults for an unknown tenant). */
export function roleClaimsOfRow(tenant: TenantRow | undefined): RoleClaims {
  return tenant
    ? {
        roles_claim: tenant.roles_claim,
        permissions_claim: tenant.permissions_claim,
        enforce_permissions: tenant.enforce_permissions,
      }
    : defaultRoleClaims;
}

/** A row's client registration settings (both off for an unknown tenant). */
export function clientRegistrationOfRow(tenant: TenantRow | undefined): ClientRegistration {
  return tenant
    ? {
        client_id_metadata_documents: tenant.client_id_metadata_documents,
        dynamic_registration: tenant.dynamic_registration,
      }
    : defaultClientRegistration;
}

/** The tenant's branding, from the read model, always complete (an unknown tenant gets SigID's own). */
export async function brandingOf(sigid: Sigid, tenantId: string): Promise<Branding> {
  return brandingOfRow(await findTenant(sigid.readModels, tenantId));
}

/** The tenant's MFA policy, from the read model (the default, `optional` and no application, if unset). */
export async function mfaPolicyOf(sigid: Sigid, tenantId: string): Promise<MfaPolicy> {
  return mfaPolicyOfRow(await findTenant(sigid.readModels, tenantId));
}

/**
 * Whether a sign-in through the application with OAuth `clientId` asks for a second factor: `off`
 * (never), `optional` (when the account has one), `required` (an account without one enrolls). An
 * application listed in `required_for_applications` is `required` whatever the tenant's mode.
 */
export async function mfaRequirement(sigid: Sigid, tenantId: string, clientId: string): Promise<MfaMode> {
  const policy = await mfaPolicyOf(sigid, tenantId);
  if (policy.mode === 'required' || policy.required_for_applications.length === 0) return policy.mode;
  const application = await findApplicationByClientId(sigid.readModels, tenantId, clientId);
  return application && policy.required_for_applications.includes(application.application_id)
    ? 'required'
    : policy.mode;
}

/** Sets some of the tenant's branding fields (null: back to the default); the same values append nothing. */
export async function setBranding(
  sigid: Sigid,
  branding: Partial<TenantBranding>,
  context: UseCase & { ifMatch?: number | undefined },
): Promise<Written> {
  return handleCommand(sigid.log, tenantAggregate, context.tenantId, { type: 'set_branding', branding }, context);
}

/**
 * Changes the tenant's MFA policy. Every listed application must be one of the tenant's live
 * applications: another tenant's id is refused like an unknown one (400), and nothing is written.
 */
export async function setMfaPolicy(
  sigid: Sigid,
  policy: Partial<MfaPolicy>,
  context: UseCase & { ifMatch?: number | undefined },
): Promise<Written> {
  const unknown: { path: string; message: string; code: string }[] = [];
  for (const [index, applicationId] of (policy.required_for_applications ?? []).entries()) {
    if (!(await findApplication(sigid.readModels, context.tenantId, applicationId))) {
      unknown.push({
        path: `required_for_applications.${index}`,
        message: `No application ${applicationId} in this tenant.`,
        code: 'unknown_application',
      });
    }
  }
  if (unknown.length > 0) {
    throw new ProblemError('invalid_request', 'The MFA policy names applications the tenant does not have.', unknown);
  }
  return handleCommand(sigid.log, tenantAggregate, context.tenantId, { type: 'set_mfa_policy', policy }, context);
}

/**
 * Changes how the tenant's access tokens carry roles: the claim names (null: not carried) and whether
 * a user's scope is limited to what their roles grant. Two claims of one name are refused (400, by the decider).
 */
export function setRoleClaims(
  sigid: Sigid,
  claims: Partial<RoleClaims>,
  context: UseCase & { ifMatch?: number | undefined },
): Promise<Written> {
  return handleCommand(sigid.log, tenantAggregate, context.tenantId, { type: 'set_role_claims', claims }, context);
}

/**
 * Turns on or off the clients the tenant never registered (docs/mcp.md): Client ID Metadata Documents
 * fetched by the issuer, and RFC 7591 dynamic registration. A change is `tenant.client_registration.changed`.
 */
export function setClientRegistration(
  sigid: Sigid,
  settings: Partial<ClientRegistration>,
  context: UseCase & { ifMatch?: number | undefined },
): Promise<Written> {
  return handleCommand(
    sigid.log,
    tenantAggregate,
    context.tenantId,
    { type: 'set_client_registration', settings },
    context,
  );
}
