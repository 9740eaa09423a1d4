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
