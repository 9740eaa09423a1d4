import { brandingOf, mfaRequirement as tenantMfaRequirement } from '../../services/tenant-settings.ts';
import type { Sigid } from '../sigid.ts';
import type { PageBranding } from './render.ts';

/** The look of a tenant's hosted pages: its branding (`PATCH /api/v1/branding`), defaults filled in. */
export function pageBranding(sigid: Sigid, tenantId: string): Promise<PageBranding> {
  return brandingOf(sigid, tenantId);
}

/**
 * The tenant's MFA policy for a client (`PATCH /api/v1/mfa-policy`): `off` (no second factor
 * asked), `optional` (asked when the account has one), `required` (an account without one enrolls
 * at sign-in).
 */
export function mfaRequirement(
  sigid: Sigid,
  tenantId: string,
  clientId: string,
): Promise<'off' | 'optional' | 'required'> {
  return tenantMfaRequirement(sigid, tenantId, clientId);
}
