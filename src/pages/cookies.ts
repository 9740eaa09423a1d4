import type { CookieOptions } from 'express';

/**
 * The names and flags of SigID's cookies. Served over https (PUBLIC_URL), each has the strictest
 * prefix its path allows: `__Host-` (Secure, Path=/, no Domain) for the ones at the root, and
 * `__Secure-` for oidc-provider's interaction cookies, which are scoped to one interaction's path.
 * Over plain http (a developer's machine) browsers refuse both prefixes, so the names go without.
 * Every cookie is HttpOnly and SameSite=Lax (the authorization response is a top-level redirect).
 */
export function cookieScheme(publicUrl: string) {
  const secure = new URL(publicUrl).protocol === 'https:';
  const host = secure ? '__Host-' : '';
  const scoped = secure ? '__Secure-' : '';
  return {
    secure,
    /** oidc-provider's cookies for one tenant's issuer (the session cookie is at Path=/, so it names the tenant). */
    issuer(slug: string) {
      return {
        session: `${host}sigid-session-${slug}`,
        interaction: `${scoped}sigid-interaction`,
        resume: `${scoped}sigid-resume`,
      };
    },
    /** The hosted pages' CSRF cookie. */
    csrf: `${host}sigid-csrf`,
    options: { httpOnly: true, sameSite: 'lax', secure, path: '/' } satisfies CookieOptions,
  };
}

export type CookieScheme = ReturnType<typeof cookieScheme>;
