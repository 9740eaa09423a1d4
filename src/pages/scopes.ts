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

/** What the consent screen shows of one of the tenant's APIs: its name and its scopes' descriptions. */
export interface ApiWords {
  name: string;
  descriptions: Readonly<Record<string, string>>;
}

/**
 * The consent screen's lines: the OpenID scopes in words, then each API's scopes in the words the
 * tenant gave them (`/api/v1/apis`), named with their API; a scope without a description is named as
 * it is, with its API.
 */
export function describeScopes(
  oidcScopes: readonly string[],
  resourceScopes: Readonly<Record<string, readonly string[]>>,
  tenant: string,
  apis: Readonly<Record<string, ApiWords | undefined>> = {},
): ScopeLine[] {
  const lines: ScopeLine[] = oidcScopes.map((scope) => ({
    scope,
    resource: null,
    description: OIDC_SCOPES[scope]?.(tenant) ?? `Use "${scope}"`,
  }));
  for (const [resource, scopes] of Object.entries(resourceScopes)) {
    const api = apis[resource];
    const where = api?.name ?? (URL.canParse(resource) ? new URL(resource).host || resource : resource);
    for (const scope of scopes) {
      const words = api?.descriptions[scope]?.trim();
      lines.push({ scope, resource, description: words ? `${words} (${where})` : `Use "${scope}" at ${where}` });
    }
  }
  return lines;
}
