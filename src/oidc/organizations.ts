import { sql } from 'kysely';
import { errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { Database } from '../db/database.ts';
import { build, run } from '../db/typed-query.ts';

/**
 * Organization sign-in at a tenant's issuer (Auth0's `organization` parameter). Enforces:
 * - `organization` (an organization id `org_…` or its name) must name a live organization of the
 *   tenant, else the authorization request is refused (`invalid_request`) before any page shows;
 * - the person who signs in must be a member: a session of a non-member is asked to sign in again
 *   (the login prompt's `organization_membership` check), and a sign-in of a non-member is answered
 *   `access_denied` to the client, as Auth0 does, never a code;
 * - the organization a code was issued for rides with its grant (`OrganizationGrant` in the issuer's
 *   storage, revoked with the grant), so its id token, userinfo and access tokens, and those of its
 *   refresh tokens, carry `org_id` and `org_name`; an authorization without the parameter unbinds it.
 */

/** The authorization parameter. */
export const ORGANIZATION_PARAM = 'organization';

/** What the issuer needs of an organization. */
export interface IssuerOrganization {
  id: string;
  name: string;
}

/** How the issuer reads organizations (the read models, through src/oidc/sources.ts). */
export interface OrganizationSource {
  /** The tenant's live organization with this id or name, or null. */
  organization(tenantId: string, idOrName: string): Promise<IssuerOrganization | null>;
  /** Whether `sub` is a member of the tenant's organization. */
  isMember(tenantId: string, organizationId: string, sub: string): Promise<boolean>;
}

/** The organization claims of a token, from the organization its grant is bound to. */
export const organizationClaims = (organization: IssuerOrganization) => ({
  org_id: organization.id,
  org_name: organization.name,
});

/** `organization`'s validator: a value that names no organization of the tenant is refused. */
export function validateOrganizationParam(source: OrganizationSource, tenantId: string) {
  return async (_ctx: KoaContextWithOIDC, value: string | undefined) => {
    if (value === undefined || value === '') return;
    if (!(await source.organization(tenantId, value))) {
      throw new errors.InvalidRequest('the organization is not one of this tenant');
    }
  };
}

/** The login prompt's check: a session whose person is no member of the requested organization signs in again. */
export function membershipCheck(source: OrganizationSource, tenantId: string): interactionPolicy.Check {
  return new interactionPolicy.Check(
    'organization_membership',
    'End-User is not a member of the requested organization',
    'login_required',
    async (ctx) => {
      const value = ctx.oidc.params?.[ORGANIZATION_PARAM];
      const sub = ctx.oidc.session?.accountId;
      if (typeof value !== 'string' || value === '' || !sub) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const organization = await source.organization(tenantId, value);
      if (organization && (await source.isMember(tenantId, organization.id, sub))) {
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      }
      return interactionPolicy.Check.REQUEST_PROMPT;
    },
  );
}

/** The interaction policy: oidc-provider's own, with the membership check on its login prompt. */
export function organizationPolicy(source: OrganizationSource, tenantId: string) {
  const policy = interactionPolicy.base();
  policy.get('login')?.checks.add(membershipCheck(source, tenantId));
  return policy;
}

const MODEL = 'OrganizationGrant';

/** Binds a grant to the organization its latest authorization was for (until the grant ends). */
export async function bindOrganization(
  db: Database,
  tenantId: string,
  grantId: string,
  organization: IssuerOrganization,
  expiresInSeconds: number,
): Promise<void> {
  const payload = sql<Record<string, unknown>>`${JSON.stringify(organization)}::jsonb`;
  const expiresAt = new Date(Date.now() + Math.max(1, expiresInSeconds) * 1000);
  await run(
    db,
    build
      .insertInto('oidc_payloads')
      .values({ tenant_id: tenantId, model: MODEL, id: grantId, payload, grant_id: grantId, expires_at: expiresAt })
      .onConflict((oc) => oc.columns(['tenant_id', 'model', 'id']).doUpdateSet({ payload, expires_at: expiresAt })),
  );
}

/** Unbinds a grant: its next tokens carry no organization. */
export async function unbindOrganization(db: Database, tenantId: string, grantId: string): Promise<void> {
  await run(
    db,
    build
      .deleteFrom('oidc_payloads')
      .where('tenant_id', '=', tenantId)
      .where('model', '=', MODEL)
      .where('id', '=', grantId),
  );
}

/** The organization a grant is bound to, or null. */
export async function boundOrganization(
  db: Database,
  tenantId: string,
  grantId: string,
): Promise<IssuerOrganization | null> {
  const { rows } = await run(
    db,
    build
      .selectFrom('oidc_payloads')
      .select('payload')
      .where('tenant_id', '=', tenantId)
      .where('model', '=', MODEL)
      .where('id', '=', grantId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())])),
  );
  const payload = rows[0]?.payload as Partial<IssuerOrganization> | undefined;
  return payload?.id && payload.name ? { id: payload.id, name: payload.name } : null;
}
