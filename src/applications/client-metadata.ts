import {
  type ApplicationKind,
  type ApplicationMetadata,
  CIBA_GRANT_TYPE,
  type GrantType,
  type TokenEndpointAuthMethod,
} from '../../events/application.ts';
import { type ProblemIssue, UnprocessableError } from '../errors.ts';
import { allowedOriginRefusal, logoUriRefusal, redirectUriRefusal } from './redirect-uris.ts';

/**
 * What an application of each kind is, and every default, in one place. Enforces:
 * - web and m2m are confidential: they authenticate at the token endpoint with their client secret
 *   (`client_secret_basic` or `client_secret_post`); spa and native are public (`none`) and hold
 *   no secret. `client_secret_jwt` (SigID keeps only a hash of the secret, not the secret it would
 *   need to check the MAC), `private_key_jwt` and mTLS are not served yet;
 * - web, spa and native sign users in with `authorization_code` (and may add `refresh_token`; web
 *   may add `client_credentials` too), with at least one redirect URI and `response_types: ["code"]`;
 *   m2m uses `client_credentials` only, with no redirect URI, no response type and no origin;
 * - no implicit or password grant and no response type but `code` (OAuth 2.1, RFC 9700);
 * - PKCE (S256 only) is always required of spa and native, by default of web, never asked of m2m;
 * - `application_type` is `native` for native applications and `web` for the others;
 * - token lifetimes within `tokenLifetimes`;
 * - every URI as `redirect-uris.ts` says, each listed once.
 */

/** Token lifetimes in seconds: bounds and defaults. */
export const tokenLifetimes = {
  access_token_ttl_seconds: { min: 60, max: 86_400, default: 3_600 },
  id_token_ttl_seconds: { min: 60, max: 86_400, default: 3_600 },
  refresh_token_ttl_seconds: { min: 3_600, max: 31_536_000, default: 2_592_000 },
} as const;

/** Whether applications of a kind keep a client secret. */
export const isConfidential = (kind: ApplicationKind) => kind === 'web' || kind === 'm2m';

/** The defaults of each kind, for every field a create leaves out. */
export const applicationDefaults: Record<
  ApplicationKind,
  {
    application_type: 'web' | 'native';
    grant_types: GrantType[];
    token_endpoint_auth_method: TokenEndpointAuthMethod;
    require_pkce: boolean;
  }
> = {
  web: {
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
    require_pkce: true,
  },
  spa: {
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    require_pkce: true,
  },
  native: {
    application_type: 'native',
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    require_pkce: true,
  },
  m2m: {
    application_type: 'web',
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
    require_pkce: false,
  },
};

/** A create's metadata with the kind's defaults filled in (response types follow the grant types). */
export function withDefaults(
  kind: ApplicationKind,
  given: Partial<ApplicationMetadata> & { client_name: string },
): ApplicationMetadata {
  const defaults = applicationDefaults[kind];
  const grant_types = given.grant_types ?? defaults.grant_types;
  return {
    client_name: given.client_name,
    application_type: given.application_type ?? defaults.application_type,
    redirect_uris: given.redirect_uris ?? [],
    post_logout_redirect_uris: given.post_logout_redirect_uris ?? [],
    grant_types,
    response_types: given.response_types ?? (grant_types.includes('authorization_code') ? ['code'] : []),
    token_endpoint_auth_method: given.token_endpoint_auth_method ?? defaults.token_endpoint_auth_method,
    require_pkce: given.require_pkce ?? defaults.require_pkce,
    logo_uri: given.logo_uri ?? null,
    allowed_origins: given.allowed_origins ?? [],
    access_token_ttl_seconds: given.access_token_ttl_seconds ?? tokenLifetimes.access_token_ttl_seconds.default,
    id_token_ttl_seconds: given.id_token_ttl_seconds ?? tokenLifetimes.id_token_ttl_seconds.default,
    refresh_token_ttl_seconds: given.refresh_token_ttl_seconds ?? tokenLifetimes.refresh_token_ttl_seconds.default,
    backchannel_token_delivery_mode:
      given.backchannel_token_delivery_mode ?? (grant_types.includes(CIBA_GRANT_TYPE) ? 'poll' : null),
    backchannel_client_notification_endpoint: given.backchannel_client_notification_endpoint ?? null,
  };
}

const SECRET_METHODS: readonly TokenEndpointAuthMethod[] = ['client_secret_basic', 'client_secret_post'];

const notServedMethod: Partial<Record<TokenEndpointAuthMethod, string>> = {
  client_secret_jwt:
    'client_secret_jwt is not offered: SigID keeps only a hash of the secret; use client_secret_basic or client_secret_post',
  private_key_jwt: 'private_key_jwt is not offered yet; use client_secret_basic or client_secret_post',
  tls_client_auth: 'mutual TLS is not offered; use client_secret_basic or client_secret_post',
  self_signed_tls_client_auth: 'mutual TLS is not offered; use client_secret_basic or client_secret_post',
};

const notServedGrant: Partial<Record<GrantType, string>> = {
  implicit: 'the implicit grant is not offered (OAuth 2.1): use authorization_code with PKCE',
  password: 'the password grant is not offered (OAuth 2.1): use authorization_code with PKCE',
};

/** Every issue of `metadata` for an application of `kind`; empty when it is one SigID serves. */
export function applicationMetadataIssues(kind: ApplicationKind, metadata: ApplicationMetadata): ProblemIssue[] {
  const issues: ProblemIssue[] = [];
  const metadataIssue = (path: string, message: string) =>
    issues.push({ path, message, code: 'invalid_client_metadata' });
  const uriIssue = (path: string, message: string) => issues.push({ path, message, code: 'invalid_redirect_uri' });
  const confidential = isConfidential(kind);
  const m2m = kind === 'm2m';
  const grants = metadata.grant_types;

  const expectedType = kind === 'native' ? 'native' : 'web';
  if (metadata.application_type !== expectedType) {
    metadataIssue('application_type', `a ${kind} application has application_type "${expectedType}"`);
  }

  const method = metadata.token_endpoint_auth_method;
  const unserved = notServedMethod[method];
  if (unserved) metadataIssue('token_endpoint_auth_method', unserved);
  else if (confidential && !SECRET_METHODS.includes(method)) {
    metadataIssue(
      'token_endpoint_auth_method',
      `a ${kind} application is confidential: it authenticates with client_secret_basic or client_secret_post, not none`,
    );
  } else if (!confidential && method !== 'none') {
    metadataIssue(
      'token_endpoint_auth_method',
      `a ${kind} application is public: it holds no secret, so its token_endpoint_auth_method is none`,
    );
  }

  if (grants.length === 0) metadataIssue('grant_types', 'name at least one grant type');
  grants.forEach((grant, index) => {
    if (grants.indexOf(grant) !== index) metadataIssue(`grant_types.${index}`, `${grant} is listed twice`);
    const refusal = notServedGrant[grant];
    if (refusal) metadataIssue(`grant_types.${index}`, refusal);
    else if (m2m && grant !== 'client_credentials' && grant !== CIBA_GRANT_TYPE) {
      metadataIssue(
        `grant_types.${index}`,
        'a machine-to-machine application uses client_credentials (and CIBA to ask a person) only',
      );
    } else if (!confidential && grant === CIBA_GRANT_TYPE) {
      metadataIssue(
        `grant_types.${index}`,
        `a ${kind} application is public: CIBA is for clients that authenticate (web or m2m)`,
      );
    } else if (!confidential && grant === 'client_credentials') {
      metadataIssue(
        `grant_types.${index}`,
        `a ${kind} application is public (token_endpoint_auth_method none): it has no secret to use client_credentials with`,
      );
    }
  });
  const userFacing = !m2m;
  const codeFlow = grants.includes('authorization_code');
  if (userFacing && !codeFlow) {
    metadataIssue('grant_types', `a ${kind} application signs users in: its grant types include authorization_code`);
  }

  metadata.response_types.forEach((type, index) => {
    if (type !== 'code') {
      metadataIssue(`response_types.${index}`, 'only the code response type is offered (no implicit or hybrid flow)');
    } else if (!codeFlow) {
      metadataIssue(`response_types.${index}`, 'the code response type needs the authorization_code grant');
    } else if (metadata.response_types.indexOf(type) !== index) {
      metadataIssue(`response_types.${index}`, 'code is listed twice');
    }
  });
  if (codeFlow && !metadata.response_types.includes('code')) {
    metadataIssue('response_types', 'the authorization_code grant needs the response type code');
  }

  for (const field of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
    const uris = metadata[field];
    if (m2m && uris.length > 0) {
      metadataIssue(field, 'a machine-to-machine application signs no user in: it has no redirect URI');
      continue;
    }
    uris.forEach((uri, index) => {
      const refusal = redirectUriRefusal(kind, uri);
      if (refusal) uriIssue(`${field}.${index}`, `${uri.length > 200 ? 'the URI' : uri} ${refusal}`);
      else if (uris.indexOf(uri) !== index) uriIssue(`${field}.${index}`, 'is listed twice');
    });
  }
  if (codeFlow && metadata.redirect_uris.length === 0) {
    metadataIssue('redirect_uris', 'the authorization_code grant needs at least one redirect URI');
  }

  if (!m2m && !metadata.require_pkce && kind !== 'web') {
    metadataIssue('require_pkce', `a ${kind} application is public: PKCE (S256) is always required of it`);
  }
  if (m2m && metadata.require_pkce) {
    metadataIssue('require_pkce', 'a machine-to-machine application has no authorization code flow to use PKCE in');
  }

  if (m2m && metadata.allowed_origins.length > 0) {
    metadataIssue('allowed_origins', 'a machine-to-machine application keeps a secret no browser may hold: no origins');
  } else {
    metadata.allowed_origins.forEach((origin, index) => {
      const refusal = allowedOriginRefusal(origin);
      if (refusal) metadataIssue(`allowed_origins.${index}`, refusal);
      else if (metadata.allowed_origins.indexOf(origin) !== index) {
        metadataIssue(`allowed_origins.${index}`, 'is listed twice');
      }
    });
  }

  cibaIssues(metadata, metadataIssue);

  if (metadata.logo_uri !== null) {
    const refusal = logoUriRefusal(metadata.logo_uri);
    if (refusal) metadataIssue('logo_uri', refusal);
  }

  for (const [field, bounds] of Object.entries(tokenLifetimes) as [
    keyof typeof tokenLifetimes,
    { min: number; max: number },
  ][]) {
    const value = metadata[field];
    if (!Number.isInteger(value) || value < bounds.min || value > bounds.max) {
      metadataIssue(field, `must be a whole number of seconds from ${bounds.min} to ${bounds.max}`);
    }
  }
  return issues;
}

/** The CIBA fields: a delivery mode with the grant (and an endpoint in ping mode), neither without it. */
function cibaIssues(metadata: ApplicationMetadata, issue: (path: string, message: string) => void): void {
  const mode = metadata.backchannel_token_delivery_mode ?? null;
  const endpoint = metadata.backchannel_client_notification_endpoint ?? null;
  if (!metadata.grant_types.includes(CIBA_GRANT_TYPE)) {
    if (mode !== null)
      issue('backchannel_token_delivery_mode', `only a client with the ${CIBA_GRANT_TYPE} grant has one`);
    if (endpoint !== null) {
      issue('backchannel_client_notification_endpoint', `only a client with the ${CIBA_GRANT_TYPE} grant has one`);
    }
    return;
  }
  if (mode === null) issue('backchannel_token_delivery_mode', 'the CIBA grant needs a delivery mode: poll or ping');
  if (mode === 'ping' && endpoint === null) {
    issue('backchannel_client_notification_endpoint', 'ping mode needs the endpoint SigID notifies');
  }
  if (mode !== 'ping' && endpoint !== null) {
    issue('backchannel_client_notification_endpoint', 'only ping mode has a notification endpoint');
  }
  if (endpoint !== null) {
    const refusal = notificationEndpointRefusal(endpoint);
    if (refusal) issue('backchannel_client_notification_endpoint', refusal);
  }
}

/** Why a CIBA notification endpoint's form is refused (where it points is checked by the SSRF rules). */
export function notificationEndpointRefusal(endpoint: string): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https URL';
  if (url.username || url.password) return 'must not carry a user name or password';
  if (url.hash) return 'must not have a fragment';
  return null;
}

/**
 * Refuses metadata SigID does not serve for `kind`: 422 `invalid_client_metadata` listing every
 * issue, or `invalid_redirect_uri` when the only issues are malformed redirect URIs (RFC 7591 §3.2.2).
 */
export function checkApplicationMetadata(kind: ApplicationKind, metadata: ApplicationMetadata): void {
  const issues = applicationMetadataIssues(kind, metadata);
  if (issues.length === 0) return;
  const onlyUris = issues.every((issue) => issue.code === 'invalid_redirect_uri');
  throw new UnprocessableError(
    onlyUris ? 'invalid_redirect_uri' : 'invalid_client_metadata',
    onlyUris
      ? 'A redirect URI is not one SigID can accept.'
      : `The metadata is not one a ${kind} application can have.`,
    issues,
  );
}
