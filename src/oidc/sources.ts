import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import { findTenantBySlug } from '../../read-models/tenants.ts';
import { useCase } from '../../services/context.ts';
import { recordSignIn, subjectClaims } from '../../services/sign-in.ts';
import { ensureSigningKeys, signingKeySet } from '../../services/signing-keys.ts';
import { newId } from '../ids.ts';
import { renderIssuerPage } from '../pages/issuer-pages.ts';
import type { Sigid } from '../sigid.ts';
import { ClientDirectory } from './clients.ts';
import type { IssuerTenant } from './issuers.ts';
import type { IssuerSources } from './provider.ts';

/** SigID itself, when the issuer makes a tenant's first signing keys. */
const ISSUER_ACTOR = { type: 'system', id: 'oidc-issuer' } as const;

/** What the issuers are built from: the applications, their hashed secrets, the tenants' signing keys. */
export function issuerSources(sigid: Sigid): IssuerSources {
  const clients = new ClientDirectory(sigid);
  return {
    clients,
    verifyClientSecret: (tenantId, clientId, presented) => clients.verifySecret(tenantId, clientId, presented),
    async signingKeys(tenantId) {
      const set = await signingKeySet(sigid, tenantId);
      if (set.keys.length > 0) return set;
      // A tenant's issuer serves its first request: its keys are made now (once, whichever process asks).
      await ensureSigningKeys(
        sigid,
        tenantId,
        useCase({ tenantId: PLATFORM_TENANT, actor: ISSUER_ACTOR, correlationId: newId('req') }),
      );
      return signingKeySet(sigid, tenantId);
    },
    claims: (tenantId, sub, scope) => subjectClaims(sigid, tenantId, sub, scope),
    async recordSessions(tenantId, events, correlationId) {
      const sub = String(events[0]?.data.sub ?? '');
      await recordSignIn(sigid, events as never, { tenantId, actor: { type: 'user', id: sub }, correlationId });
    },
    page: (tenantId, page) => renderIssuerPage(sigid, tenantId, page),
  };
}

/** The tenant a slug names, if it is active (a suspended or deleted tenant's issuer answers nothing). */
export async function activeTenantBySlug(sigid: Sigid, slug: string): Promise<IssuerTenant | undefined> {
  const row = await findTenantBySlug(sigid.readModels, slug);
  return row?.status === 'active' ? { id: row.tenant_id, slug: row.slug } : undefined;
}
