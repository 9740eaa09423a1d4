import { findTenant } from '../../read-models/tenants.ts';
import type { Sigid } from '../sigid.ts';
import type { PageBranding } from './render.ts';

/** The look of a tenant's hosted pages. */
export async function pageBranding(sigid: Sigid, tenantId: string): Promise<PageBranding> {
  const tenant = await findTenant(sigid.readModels, tenantId);
  return {
    display_name: tenant?.name ?? 'SigID',
    logo_uri: null,
    primary_color: '#2f5bea',
    background_color: '#f4f5f7',
  };
}

/**
 * The tenant's MFA policy for a client: `off` (no second factor asked), `optional` (asked when the
 * account has one), `required` (an account without one enrolls at sign-in).
 */
export async function mfaRequirement(
  _sigid: Sigid,
  _tenantId: string,
  _clientId: string,
): Promise<'off' | 'optional' | 'required'> {
  return 'optional';
}
