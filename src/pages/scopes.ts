/** What the consent screen says of each standard scope, in words a person understands. */
const OIDC_SCOPES: Record<string, (tenant: string) => string> = {
  openid: (tenant) => `Know who you are at ${tenant}`,
  profile: () => 'See your name and profile',
  email: () => 'See your e-mail address',
  phone: () => 'See your phone number',
  address: () => 'See your postal address',
  offline_access: () => 'Keep access when you are not using it',
};

export interface ScopeLine {
  scope: string;
  resource: string | null;
  description: string;
}

/**
 * The consent screen's lines: the OpenID scopes in words, then each API's scopes (their own
 * descriptions arrive with the tenant's APIs; until then the scope and the API are named).
 */
export function describeScopes(
  oidcScopes: readonly string[],
  resourceScopes: Readonly<Record<string, readonly string[]>>,
  tenant: string,
): ScopeLine[] {
  const lines: ScopeLine[] = oidcScopes.map((scope) => ({
    scope,
    resource: null,
    description: OIDC_SCOPES[scope]?.(tenant) ?? `Use "${scope}"`,
  }));
  for (const [resource, scopes] of Object.entries(resourceScopes)) {
    for (const scope of scopes) {
      lines.push({ scope, resource, description: `Use "${scope}" at ${new URL(resource).host || resource}` });
    }
  }
  return lines;
}
