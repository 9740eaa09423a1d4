import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import type { ClaimMapping } from '../../events/connection.ts';
import type { ConnectionOidc } from '../../read-models/connections.ts';
import { ProblemError, ValidationError } from '../errors.ts';
import type { Sigid } from '../sigid.ts';
import { IdpUnreachable, idpFetch } from './idp-fetch.ts';

/**
 * SigID as an OpenID Connect relying party of an organization's identity provider (openid-client 6).
 * Enforces:
 * - every request to the IdP goes through the SSRF guard (`idp-fetch.ts`); plain http only to
 *   allowlisted hosts, and then openid-client's `allowInsecureRequests` for that issuer alone;
 * - a connection's issuer answers a discovery document whose `issuer` is exactly it, with an
 *   authorization endpoint, a token endpoint, a JWKS and the `code` response type (checked when the
 *   connection is saved, and by openid-client at every sign-in);
 * - the sign-in is authorization code with PKCE (S256), `state` and `nonce`, and the IdP's `iss`
 *   response parameter (RFC 9207) when it says it sends one; the ID token's signature, `iss`, `aud`,
 *   `exp` and `nonce` are openid-client's checks.
 */

/** Discovery documents and tokens from an IdP: at most this many bytes, within this deadline. */
const IDP_TIMEOUT_MS = 10_000;

function fetchFor(sigid: Sigid) {
  return idpFetch({
    allowlist: sigid.config.webhooks.allowlist,
    resolve: sigid.config.webhooks.resolve,
    timeoutMs: IDP_TIMEOUT_MS,
  });
}

/** The refusal of an issuer that could not be reached: the guard's own code, or `issuer_unreachable`. */
function unreachable(issuer: string, error: IdpUnreachable): ProblemError {
  if (error.refusal === 'invalid_url') return new ValidationError(`oidc.issuer: ${error.message}`);
  if (error.refusal) return new ProblemError(error.refusal, `oidc.issuer: ${error.message}`);
  return new ProblemError('issuer_unreachable', `The issuer ${issuer} could not be reached: ${error.message}`);
}

/** The discovery document's URL (OIDC Discovery 1.0, section 4). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

/**
 * Checks that `issuer` is an OpenID Provider SigID may talk to: its discovery document fetched
 * through the SSRF guard. 4xx problems: the guard's codes, `issuer_unreachable`, `invalid_issuer`.
 */
export async function checkIssuer(sigid: Sigid, issuer: string): Promise<void> {
  let response: Response;
  try {
    response = await fetchFor(sigid)(discoveryUrl(issuer), {
      method: 'GET',
      headers: { accept: 'application/json' },
      body: undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(IDP_TIMEOUT_MS),
    } as never);
  } catch (error) {
    if (error instanceof IdpUnreachable) throw unreachable(issuer, error);
    throw error;
  }
  if (response.status !== 200) {
    throw new ProblemError(
      'issuer_unreachable',
      `The issuer ${issuer} answered its discovery document with HTTP ${response.status}.`,
    );
  }
  let metadata: Record<string, unknown>;
  try {
    metadata = (await response.json()) as Record<string, unknown>;
  } catch {
    throw new ProblemError('invalid_issuer', `The issuer ${issuer} did not answer a JSON discovery document.`);
  }
  const problems: string[] = [];
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new ProblemError('invalid_issuer', `The issuer ${issuer} did not answer a JSON discovery document.`);
  }
  if (metadata.issuer !== issuer) problems.push('its `issuer` is not exactly the issuer given');
  for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
    if (typeof metadata[endpoint] !== 'string') problems.push(`it has no \`${endpoint}\``);
  }
  const types = metadata.response_types_supported;
  if (!Array.isArray(types) || !types.includes('code')) problems.push('it does not support the `code` response type');
  if (problems.length > 0) {
    throw new ProblemError(
      'invalid_issuer',
      `The issuer ${issuer} is not an OpenID Provider SigID can use: ${problems.join('; ')}.`,
    );
  }
}

/** An IdP's configuration for one connection's client, kept a while (discovery is one request per sign-in otherwise). */
const configurations = new Map<string, { at: number; configuration: Promise<client.Configuration> }>();
const CONFIGURATION_TTL_MS = 5 * 60_000;
const MAX_CONFIGURATIONS = 1000;

/**
 * openid-client's view of the connection's IdP, with SigID's client there. `fresh` (a sign-in's start)
 * reads the discovery document again, so an IdP that is down is found before the browser is sent
 * there and a changed IdP is seen; its callback reuses that reading. Throws IdpUnreachable or
 * openid-client's errors.
 */
export function relyingParty(
  sigid: Sigid,
  key: string,
  oidc: ConnectionOidc,
  clientSecret: string,
  fresh = false,
): Promise<client.Configuration> {
  const cacheKey = `${key}:${createHash('sha256').update(`${oidc.issuer}\u0000${oidc.client_id}\u0000${clientSecret}`).digest('base64url')}`;
  const cached = configurations.get(cacheKey);
  if (!fresh && cached && Date.now() - cached.at < CONFIGURATION_TTL_MS) return cached.configuration;
  if (configurations.size >= MAX_CONFIGURATIONS) configurations.clear();
  const insecure = new URL(oidc.issuer).protocol === 'http:';
  const configuration = client.discovery(
    new URL(oidc.issuer),
    oidc.client_id,
    undefined,
    client.ClientSecretBasic(clientSecret),
    {
      [client.customFetch]: fetchFor(sigid),
      timeout: IDP_TIMEOUT_MS / 1000,
      // Plain http reaches this far only for hosts the SSRF allowlist names (development, tests).
      execute: insecure ? [client.allowInsecureRequests] : [],
    },
  );
  configurations.set(cacheKey, { at: Date.now(), configuration });
  // A failed discovery is not kept: the next sign-in tries again.
  configuration.catch(() => configurations.delete(cacheKey));
  return configuration;
}

/** What a sign-in through a connection keeps between the redirect and the callback. */
export interface FederationFlow {
  connection_id: string;
  /** SHA-256 of the `state` sent (the state itself is in the browser's URL only). */
  state_hash: string;
  nonce: string;
  code_verifier: string;
}

export const stateHash = (state: string) => createHash('sha256').update(state).digest('base64url');

/** The IdP's authorization URL for a sign-in, and what the callback must check it against. */
export async function authorizationRequest(
  configuration: client.Configuration,
  input: { connectionId: string; redirectUri: string; scopes: string[]; state: string; loginHint?: string | undefined },
): Promise<{ url: URL; flow: FederationFlow }> {
  const nonce = client.randomNonce();
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(configuration, {
    redirect_uri: input.redirectUri,
    response_type: 'code',
    scope: input.scopes.join(' '),
    state: input.state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...(input.loginHint ? { login_hint: input.loginHint } : {}),
  });
  return {
    url,
    flow: { connection_id: input.connectionId, state_hash: stateHash(input.state), nonce, code_verifier: verifier },
  };
}

/** The identity the IdP vouched for: its issuer, its subject, and its claims (ID token, then userinfo). */
export interface IdpIdentity {
  issuer: string;
  subject: string;
  claims: Record<string, unknown>;
}

/**
 * Redeems the callback's code (state, PKCE, nonce and `iss` checked by openid-client) and reads the
 * ID token's claims; the userinfo endpoint fills in the e-mail claim when the ID token has none.
 */
export async function redeemCallback(
  configuration: client.Configuration,
  callbackUrl: URL,
  flow: FederationFlow,
  state: string,
  emailClaim: string,
): Promise<IdpIdentity> {
  const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
    pkceCodeVerifier: flow.code_verifier,
    expectedState: state,
    expectedNonce: flow.nonce,
    idTokenExpected: true,
  });
  const idToken = tokens.claims();
  if (!idToken) throw new client.ClientError('the IdP sent no ID token');
  let claims: Record<string, unknown> = { ...idToken };
  if (claims[emailClaim] === undefined && configuration.serverMetadata().userinfo_endpoint) {
    const userinfo = await client.fetchUserInfo(configuration, tokens.access_token, idToken.sub);
    claims = { ...userinfo, ...claims };
  }
  return { issuer: configuration.serverMetadata().issuer, subject: idToken.sub, claims };
}

/** A person's profile as a connection's claim mapping reads it from the IdP's claims. */
export interface MappedProfile {
  email: string | null;
  email_verified: boolean;
  name: string | null;
  given_name: string | null;
  family_name: string | null;
  /** The IdP's role values (`claim_mapping.roles`), before the role mapping turns them into role ids. */
  idp_roles: string[];
}

const text = (value: unknown, max = 255): string | null =>
  typeof value === 'string' && value.trim() !== '' && value.length <= max && !/\p{Cc}/u.test(value)
    ? value.trim()
    : null;

/** Reads the mapped claims: strings (one line, at most 255 characters) or nothing; `email_verified` true or `"true"`. */
export function mapClaims(claims: Record<string, unknown>, mapping: ClaimMapping): MappedProfile {
  const email = text(claims[mapping.email], 320);
  const verified = mapping.email_verified === null ? undefined : claims[mapping.email_verified];
  const roles = mapping.roles === null ? undefined : claims[mapping.roles];
  return {
    email: email && /^[^@\s]+@[^@\s]+$/.test(email) ? email : null,
    email_verified: verified === true || verified === 'true',
    name: mapping.name === null ? null : text(claims[mapping.name]),
    given_name: mapping.given_name === null ? null : text(claims[mapping.given_name]),
    family_name: mapping.family_name === null ? null : text(claims[mapping.family_name]),
    idp_roles: (Array.isArray(roles) ? roles : roles === undefined ? [] : [roles])
      .map((value) => text(value))
      .filter((value): value is string => value !== null)
      .slice(0, 100),
  };
}

/** What a failed exchange with the IdP tells the person (never the IdP's own words beyond its error code). */
export function federationFailure(error: unknown): {
  reason: 'idp_error' | 'idp_unreachable' | 'idp_invalid';
  text: string;
} {
  if (error instanceof IdpUnreachable || (error instanceof Error && error.name === 'TimeoutError')) {
    return {
      reason: 'idp_unreachable',
      text: 'Your organization’s sign-in service could not be reached. Try again later.',
    };
  }
  if (error instanceof client.AuthorizationResponseError) {
    const code = /^[\w.-]{1,64}$/.test(error.error) ? error.error : 'error';
    return {
      reason: 'idp_error',
      text: `Your organization’s sign-in service did not sign you in (${code}). Try again, or ask your administrator.`,
    };
  }
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof IdpUnreachable) return federationFailure(cause);
  return {
    reason: 'idp_invalid',
    text: 'The answer of your organization’s sign-in service could not be verified. Start signing in again.',
  };
}
