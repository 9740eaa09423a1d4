import { createHash } from 'node:crypto';
import { type JWK, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import Provider, { type Configuration, errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { ClientMetadataDocumentEvent } from '../../events/client-metadata-document.ts';
import type { PolicyDenial } from '../../events/policy.ts';
import type { PrincipalFacts } from '../../read-models/principals.ts';
import type { Database } from '../db/database.ts';
import { sendProblem } from '../http/problem.ts';
import type { CompiledPolicySet } from '../policies/cedar.ts';
import {
  issuerRequest,
  type OidcClients,
  rememberedGrantId,
  storageAdapter,
  takeOnce,
  tokenContext,
  tokenIssued,
} from './adapter.ts';
import type { ResourceServer } from './apis.ts';
import { type CibaSources, cibaFeature } from './ciba.ts';
import {
  clientMetadataDocumentRefusal,
  DOCUMENT_CACHE_SECONDS,
  DOCUMENT_MAX_BYTES,
  documentHash,
} from './client-metadata-documents.ts';
import { ACCOUNT_CLIENT_ID } from './clients.ts';
import { CONNECTION_PARAM, validateConnectionParam } from './connections.ts';
import {
  bindOrganization,
  boundOrganization,
  ORGANIZATION_PARAM,
  type OrganizationSource,
  organizationClaims,
  organizationPolicy,
  unbindOrganization,
  validateOrganizationParam,
} from './organizations.ts';
import { principalOf, tokenPolicyOutcome } from './policies.ts';
import { permittedScopes, roleClaims, type SubjectRoles } from './roles.ts';
import {
  actorsOf,
  type DelegationSources,
  delegatedClaims,
  exchangeDenials,
  inactiveReason,
  issuerKeySet,
  registerTokenExchange,
  TOKEN_EXCHANGE,
} from './token-exchange.ts';
import type { TokenLog } from './token-log.ts';

/** What a tenant's issuer is built from, besides its storage. */
export interface IssuerSources {
  clients: OidcClients;
  /** The tenant's API whose identifier is `resource`, with the client's grant on it; null for none. */
  resourceServer(tenantId: string, resource: string, clientId: string): Promise<ResourceServer | null>;
  /**
   * The effective roles of a tenant's `sub`, with the tenant's role claims settings: its tenant-level
   * roles, and with an organization (the one the token's grant is bound to) its roles in it too.
   */
  subjectRoles(tenantId: string, sub: string, organizationId: string | null): Promise<SubjectRoles>;
  /** The tenant's enabled policies, parsed; null when it has none (tokens are then issued as without policies). */
  policies(tenantId: string): CompiledPolicySet | null | Promise<CompiledPolicySet | null>;
  /** A principal's organizations and attributes, for policies that ask (`CompiledPolicySet.readsPrincipal`). */
  principalFacts(tenantId: string, principal: { type: string; id: string }): Promise<PrincipalFacts>;
  /** Whether `presented` is the client's secret (or its previous one, during a rotation's overlap). */
  verifyClientSecret(tenantId: string, clientId: string, presented: string): Promise<boolean>;
  /** The private signing keys, in the order oidc-provider must hold them (the signing ones first). */
  signingKeys(tenantId: string): Promise<{ keys: JWK[] }>;
  /** The claims of a tenant's `sub` that `scope` allows, or undefined when no such person is (left). */
  claims(tenantId: string, sub: string, scope: string): Promise<Record<string, unknown> | undefined>;
  /** The tenant's organizations and their members, for organization sign-in (src/oidc/organizations.ts). */
  organizations: OrganizationSource;
  /** Records sessions started and ended at the issuer (`session.started`, `session.ended`), and sign-ins it refused. */
  recordSessions(
    tenantId: string,
    events: Array<{ type: 'session.started' | 'session.ended' | 'sign_in.failed'; data: Record<string, unknown> }>,
    correlationId: string,
  ): Promise<void>;
  /** CIBA: who a login hint names, what a request records, where a ping goes (src/oidc/ciba.ts). */
  ciba: CibaSources;
  /** The issuer's own pages (sign-out, errors) in the tenant's branding. */
  page(tenantId: string, page: IssuerPage): Promise<{ html: string; headers: Record<string, string> }>;
  /** Whether the tenant takes clients it never registered: metadata documents, dynamic registration (docs/mcp.md). */
  clientRegistration(
    tenantId: string,
  ): Promise<{ client_id_metadata_documents: boolean; dynamic_registration: boolean }>;
  /** Records a metadata document accepted or refused (its client the actor). */
  recordClientMetadataDocument(
    tenantId: string,
    event: Pick<ClientMetadataDocumentEvent, 'type' | 'data'>,
    correlationId: string,
  ): Promise<void>;
  /** The issuer's outgoing requests (metadata documents, a client's jwks_uri): through the SSRF guard. */
  fetch: typeof fetch;
  /** Delegations and agents' status, for token exchange and introspection (src/oidc/token-exchange.ts). */
  delegations: DelegationSources;
}

/** oidc-provider's own pages, rendered by the hosted pages' templates. */
export type IssuerPage =
  | { kind: 'logout'; form: string }
  | { kind: 'logged_out'; clientName: string | null }
  | { kind: 'error'; error: string; description: string | null };

export interface IssuerOptions {
  db: Database;
  tokens: TokenLog;
  sources: IssuerSources;
  tenant: { id: string; slug: string };
  /** `{PUBLIC_URL}/t/{slug}`. */
  issuer: string;
  /** Keys of the issuer's signed cookies (the first signs), the same in every process. */
  cookieKeys: string[];
  /** The cookies' names (the session's names the tenant: tenants share SigID's host) and whether they are Secure. */
  cookies: { names: { session: string; interaction: string; resume: string }; secure: boolean };
  jwks: { keys: JWK[] };
  /** The DPoP nonce secret (32 bytes), the same in every process (derived from the master key). */
  dpopNonceSecret: Buffer;
}

/** Default token lifetimes (seconds), when the application sets none. */
const DEFAULT_TTL = { accessToken: 3600, idToken: 3600, refreshToken: 14 * 24 * 3600 } as const;

/** How long a grant lives (and the organization it is bound to with it). */
const GRANT_TTL_SECONDS = 14 * 24 * 3600;

/** Client metadata SigID adds to RFC 7591's, carried from the applications read model. */
const EXTRA_CLIENT_METADATA = [
  'allowed_origins',
  'require_pkce',
  'access_token_ttl',
  'id_token_ttl',
  'refresh_token_ttl',
  // CIBA ping mode: the endpoint SigID notifies (oidc-provider holds an https stand-in, src/oidc/ciba.ts).
  'ciba_notification_endpoint',
] as const;

/**
 * The scope a token for an API carries: the requested scopes that the API defines and the client
 * was granted on it (and, when given, the user's roles permit), in the order asked. Consent narrows
 * user flows further (the code's and the grant's scopes).
 */
export function grantedScope(requested: string, server: ResourceServer, permitted?: ReadonlySet<string>): string {
  const kept = new Set<string>();
  for (const value of requested.split(' ')) {
    if (value === '' || !server.scopes.has(value) || !server.granted.has(value)) continue;
    if (permitted && !permitted.has(value)) continue;
    kept.add(value);
  }
  return [...kept].join(' ');
}

function clientTtl(client: { [key: string]: unknown } | undefined, name: (typeof EXTRA_CLIENT_METADATA)[number]) {
  const value = client?.[name];
  return typeof value === 'number' && value > 0 ? value : undefined;
}

/**
 * A client's metadata in its registered (snake_case) names. oidc-provider's `client.metadata()` maps
 * every property name on each call, which cost a token request more than its secret check; a
 * client instance's metadata never changes (a changed application is a new instance), so it is
 * read once per instance.
 */
const metadataCache = new WeakMap<object, Record<string, unknown>>();
function metadataOf(client: { metadata(): Record<string, unknown> }): Record<string, unknown> {
  let metadata = metadataCache.get(client);
  if (!metadata) {
    metadata = client.metadata();
    metadataCache.set(client, metadata);
  }
  return metadata;
}

/** The scopes a tenant's policies dropped from the token of a request, for its `oauth.token.issued`. */
const policyDenials = new WeakMap<object, PolicyDenial[]>();
/** Requests whose refusal is recorded already (the issuer may ask about one resource twice). */
const refusalsRecorded = new WeakSet<object>();

/** Whether a client is one of a metadata document (oidc-provider marks its instances). */
const isDocumentClient = (client: unknown) =>
  (client as { clientIdMetadataDocument?: boolean } | undefined)?.clientIdMetadataDocument === true;

/**
 * The metadata documents recorded lately, per process: an accepted document (by content) or a
 * refusal (by reason and detail) is recorded once an hour at most, not on every request that meets it.
 */
const documentsRecorded = new LRUCache<string, true>({ max: 10_000, ttl: 3600_000 });

/**
 * One tenant's OpenID Provider: oidc-provider configured for SigID. Storage in the database (any
 * process serves any request), clients from the applications, secrets checked against their hashes,
 * per-tenant signing keys, PKCE S256 (required for public clients), refresh tokens rotated on every
 * use, resource indicators giving JWT access tokens signed ES256 with `aud` = the resource, and
 * every token's issue appended as an event before the token is returned.
 */
export function buildIssuer(options: IssuerOptions): Provider {
  const { tenant, sources, tokens } = options;

  /**
   * `issue_token` for the API and each scope (src/oidc/policies.ts): a forbid on the API refuses the
   * token (`access_denied`, recorded as `policy.token.denied`), a forbid on a scope drops it.
   */
  async function applyTokenPolicies(
    ctx: KoaContextWithOIDC,
    set: CompiledPolicySet,
    server: ResourceServer,
    scope: string,
    clientId: string,
  ): Promise<string> {
    const entities = ctx.oidc.entities as {
      AuthorizationCode?: { accountId?: string; amr?: string[]; authTime?: number };
      RefreshToken?: { accountId?: string; amr?: string[]; authTime?: number };
      BackchannelAuthenticationRequest?: { accountId?: string; amr?: string[]; authTime?: number };
    };
    const session = ctx.oidc.session as { accountId?: string; amr?: string[]; authTime?: number } | undefined;
    const basis =
      entities.AuthorizationCode ?? entities.RefreshToken ?? entities.BackchannelAuthenticationRequest ?? session;
    const sub = basis?.accountId;
    const facts = set.readsPrincipal ? await sources.principalFacts(tenant.id, principalOf(sub, clientId)) : undefined;
    const outcome = tokenPolicyOutcome(set, {
      principalFacts: facts,
      sub,
      clientId,
      audience: server.identifier,
      scopes: scope.split(' ').filter(Boolean),
      ip: ctx.ip,
      amr: basis?.amr ?? [],
      authTime: basis?.authTime,
      now: Math.floor(Date.now() / 1000),
      anchors: server.anchors,
    });
    if (outcome.refused) {
      if (!refusalsRecorded.has(ctx)) {
        refusalsRecorded.add(ctx);
        await tokens.record(
          {
            type: 'policy.token.denied',
            data: {
              client_id: clientId,
              sub: sub ?? null,
              grant_type: String(ctx.oidc.params?.grant_type ?? 'authorization_code'),
              audience: server.identifier,
              scopes: scope.split(' ').filter(Boolean),
              denials: outcome.denials,
            },
          },
          tokenContext(tenant.id, sub, clientId),
        );
      }
      throw new errors.AccessDenied('a policy of the tenant refuses this token');
    }
    if (outcome.denials.length > 0) policyDenials.set(ctx, outcome.denials);
    return outcome.scopes.join(' ');
  }

  /** The grant a token request redeems (a code's or a refresh token's), if any. */
  function grantIdOf(ctx: KoaContextWithOIDC): string | undefined {
    const entities = ctx.oidc.entities as {
      Grant?: { jti?: string };
      AuthorizationCode?: { grantId?: string };
      RefreshToken?: { grantId?: string };
    };
    return entities.Grant?.jti ?? entities.AuthorizationCode?.grantId ?? entities.RefreshToken?.grantId;
  }

  /** The id of the organization a grant is bound to (src/oidc/organizations.ts), or null. */
  async function organizationOfGrant(grantId: string | undefined): Promise<string | null> {
    return grantId ? ((await boundOrganization(options.db, tenant.id, grantId))?.id ?? null) : null;
  }

  /** Records a metadata document's acceptance or refusal, once an hour per process for the same one. */
  async function recordDocument(event: Pick<ClientMetadataDocumentEvent, 'type' | 'data'>, key: string) {
    const seen = `${tenant.id}\u0000${event.data.client_id}\u0000${key}`;
    if (documentsRecorded.has(seen)) return;
    await sources.recordClientMetadataDocument(tenant.id, event, issuerRequest.getStore()?.correlationId ?? 'issuer');
    documentsRecorded.set(seen, true);
  }

  const configuration: Configuration = {
    fetch: sources.fetch,
    fetchResponseBodyLimits: { 'client_id metadata document': DOCUMENT_MAX_BYTES },
    adapter: storageAdapter({ db: options.db, tenantId: tenant.id, clients: sources.clients, tokens }),
    jwks: options.jwks as Configuration['jwks'],
    cookies: {
      keys: options.cookieKeys,
      names: options.cookies.names,
      long: { httpOnly: true, sameSite: 'lax', path: '/' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    // `org_id` and `org_name` come only with a grant bound to an organization (src/oidc/organizations.ts).
    claims: { openid: ['sub', 'org_id', 'org_name'], email: ['email', 'email_verified'] },
    extraParams: {
      [ORGANIZATION_PARAM]: validateOrganizationParam(sources.organizations, tenant.id),
      // An SSO connection the application routes the sign-in to (src/oidc/connections.ts, docs/sso.md).
      [CONNECTION_PARAM]: validateConnectionParam,
    },
    // SigID's own account page is first-party: signing in there asks for no consent.
    async loadExistingGrant(ctx) {
      const clientId = ctx.oidc.client?.clientId;
      const grantId =
        (ctx.oidc.result as { consent?: { grantId?: string } } | undefined)?.consent?.grantId ??
        (clientId ? ctx.oidc.session?.grantIdFor(clientId) : undefined);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const sub = ctx.oidc.session?.accountId;
      const remembered = sub && clientId ? await rememberedGrantId(options.db, tenant.id, sub, clientId) : undefined;
      if (remembered) {
        const grant = await ctx.oidc.provider.Grant.find(remembered);
        if (grant) return grant;
      }
      if (clientId === ACCOUNT_CLIENT_ID && ctx.oidc.session?.accountId) {
        const grant = new ctx.oidc.provider.Grant({ clientId, accountId: ctx.oidc.session.accountId });
        grant.addOIDCScope('openid');
        await grant.save();
        return grant;
      }
      return undefined;
    },
    async renderError(ctx, out, error) {
      const page = await sources.page(tenant.id, {
        kind: 'error',
        error: String(out.error ?? 'server_error'),
        description: typeof out.error_description === 'string' ? out.error_description : null,
      });
      if ((error as { status?: number }).status === undefined) ctx.status = 500;
      ctx.set(page.headers);
      ctx.body = page.html;
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    extraClientMetadata: { properties: [...EXTRA_CLIENT_METADATA] },
    enabledJWA: {
      // Client secrets are kept only as hashes: nothing may be signed or checked with them (no HS*).
      clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519'],
      idTokenSigningAlgValues: ['ES256', 'RS256'],
      userinfoSigningAlgValues: ['ES256', 'RS256'],
      introspectionSigningAlgValues: ['ES256', 'RS256'],
      authorizationSigningAlgValues: ['ES256', 'RS256'],
      requestObjectSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    features: {
      devInteractions: { enabled: false },
      // RFC 9449: a token request with a DPoP proof gets tokens bound to its key (`cnf.jkt`). Nonces are
      // offered (DPoP-Nonce) and checked when sent; every process derives the same secret, so a nonce
      // one process gave another accepts.
      dPoP: { enabled: true, nonceSecret: options.dpopNonceSecret, allowReplay: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          const page = await sources.page(tenant.id, { kind: 'logout', form });
          ctx.set(page.headers);
          ctx.body = page.html;
        },
        async postLogoutSuccessSource(ctx) {
          const page = await sources.page(tenant.id, {
            kind: 'logged_out',
            clientName: ctx.oidc.client?.clientName ? String(ctx.oidc.client.clientName) : null,
          });
          ctx.set(page.headers);
          ctx.body = page.html;
        },
      },
      pushedAuthorizationRequests: { enabled: true },
      // A client asks a person's approval (docs/approvals.md); the person answers on the approval page.
      ciba: cibaFeature(tenant.id, sources.ciba) as NonNullable<Configuration['features']>['ciba'],
      // Clients identified by an https URL (src/oidc/client-metadata-documents.ts), when the tenant turns them on.
      clientIdMetadataDocument: {
        enabled: true,
        ack: 'draft-02',
        cacheDuration: DOCUMENT_CACHE_SECONDS,
        allowFetch: async () => (await sources.clientRegistration(tenant.id)).client_id_metadata_documents,
        async allowClient(_ctx, client) {
          // A cached document is not fetched again: the tenant's switch is checked here too.
          if (!(await sources.clientRegistration(tenant.id)).client_id_metadata_documents) return false;
          const metadata = metadataOf(client);
          const refusal = clientMetadataDocumentRefusal(metadata);
          if (refusal) {
            await recordDocument(
              {
                type: 'oauth.client_metadata_document.refused',
                data: { client_id: client.clientId, reason: 'not_allowed', detail: refusal },
              },
              `refused:${refusal}`,
            );
            return false;
          }
          const hash = documentHash(metadata);
          await recordDocument(
            {
              type: 'oauth.client_metadata_document.accepted',
              data: {
                client_id: client.clientId,
                client_name: typeof metadata.client_name === 'string' ? metadata.client_name : null,
                redirect_uris: (metadata.redirect_uris as string[] | undefined) ?? [],
                token_endpoint_auth_method: String(metadata.token_endpoint_auth_method),
                document_sha256: hash,
              },
            },
            `accepted:${hash}`,
          );
          return true;
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, resourceIndicator, client) {
          const found = await sources.resourceServer(tenant.id, resourceIndicator, client.clientId);
          if (!found) throw new errors.InvalidTarget('the resource is not an API of this tenant');
          // A metadata document's client has no application to grant scopes to: it may ask for any of
          // the API's scopes, and the person's consent (and the tenant's roles and policies) narrow them.
          const server = isDocumentClient(client) ? { ...found, granted: found.scopes } : found;
          // Redeeming a code or a refresh token asks for no scope: the code's or grant's own narrow it then.
          const asked = ctx.oidc.params?.scope;
          const requested = typeof asked === 'string' ? asked : [...server.granted].join(' ');
          // A user's token (a code or refresh token redeemed; the account is known only there, not at
          // consent): the tenant may limit it to what the user's roles grant — with the grant bound to
          // an organization, their tenant-level roles and their roles in it.
          const sub = ctx.oidc.account?.accountId;
          const held = sub
            ? await sources.subjectRoles(tenant.id, sub, await organizationOfGrant(grantIdOf(ctx)))
            : undefined;
          const permitted = held?.claims.enforce_permissions ? permittedScopes(held, server) : undefined;
          let scope = grantedScope(requested, server, permitted);
          const policies = await sources.policies(tenant.id);
          if (policies) scope = await applyTokenPolicies(ctx, policies, server, scope, client.clientId);
          return {
            scope,
            audience: server.identifier,
            accessTokenTTL: server.accessTokenTtlSeconds,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    // S256 only (oidc-provider 9 knows no other); required for public clients and where the application asks.
    pkce: {
      required: (_ctx, client) =>
        client.clientAuthMethod === 'none' || isDocumentClient(client) || metadataOf(client).require_pkce === true,
    },
    // Always a new refresh token on use; the old one is consumed, and presenting it again revokes the grant.
    rotateRefreshToken: () => true,
    clientBasedCORS(_ctx, origin, client) {
      const allowed = metadataOf(client).allowed_origins;
      return Array.isArray(allowed) && allowed.includes(origin);
    },
    ttl: {
      AccessToken: (_ctx, token, client) =>
        token.resourceServer?.accessTokenTTL ??
        clientTtl(metadataOf(client), 'access_token_ttl') ??
        DEFAULT_TTL.accessToken,
      ClientCredentials: (_ctx, token, client) =>
        token.resourceServer?.accessTokenTTL ??
        clientTtl(metadataOf(client), 'access_token_ttl') ??
        DEFAULT_TTL.accessToken,
      IdToken: (_ctx, _token, client) => clientTtl(metadataOf(client), 'id_token_ttl') ?? DEFAULT_TTL.idToken,
      RefreshToken: (_ctx, _token, client) =>
        clientTtl(metadataOf(client), 'refresh_token_ttl') ?? DEFAULT_TTL.refreshToken,
      AuthorizationCode: 60,
      // A CIBA request lives `requested_expiry` seconds, from 30 s up to 30 minutes; 10 minutes by default.
      BackchannelAuthenticationRequest: (ctx) => {
        const asked = Number(ctx?.oidc?.params?.requested_expiry);
        return Number.isSafeInteger(asked) && asked > 0 ? Math.min(Math.max(asked, 30), 1800) : 600;
      },
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: GRANT_TTL_SECONDS,
    },
    // A token of a grant bound to an organization carries `org_id` and `org_name` (src/oidc/organizations.ts).
    // A user's token for an API carries their roles and the scopes those roles grant on it (docs/roles.md);
    // a machine's (client_credentials) carries none, and no token without a resource does.
    async extraTokenClaims(_ctx, token) {
      const issued = token as unknown as {
        accountId?: string;
        clientId?: string;
        grantId?: string;
        gty?: string;
        resourceServer?: { identifier(): string };
      };
      // A delegated token (RFC 8693): the user's sub, the actor chain, the delegation; no roles of the user.
      const delegated = delegatedClaims.get(token);
      if (issued.gty === TOKEN_EXCHANGE && delegated) return { subject_type: 'user', ...delegated };
      const organization = issued.grantId ? await boundOrganization(options.db, tenant.id, issued.grantId) : null;
      const claims: Record<string, unknown> = organization ? { ...organizationClaims(organization) } : {};
      // Who `sub` is (docs/agents.md, the token contract): a person, an agent acting as itself, or an application.
      if (issued.accountId) claims.subject_type = 'user';
      else if (issued.clientId?.startsWith('agt_')) claims.subject_type = 'agent';
      else if (issued.clientId) claims.subject_type = 'application';
      if (issued.accountId && issued.resourceServer && issued.clientId) {
        const server = await sources.resourceServer(tenant.id, issued.resourceServer.identifier(), issued.clientId);
        const held = await sources.subjectRoles(tenant.id, issued.accountId, organization?.id ?? null);
        if (server) Object.assign(claims, roleClaims(held, server));
      }
      return Object.keys(claims).length > 0 ? claims : undefined;
    },
    formats: {
      customizers: {
        // A JWT access token is never stored: its event is appended here, before it is signed and returned.
        async jwt(ctx, issued, jwt) {
          const model = issued.constructor.name;
          const token = issued as unknown as { gty?: string; accountId?: string; jkt?: string; grantId?: string };
          const grantType = model === 'ClientCredentials' ? 'client_credentials' : String(token.gty ?? 'unknown');
          const payload = jwt.payload as Record<string, unknown>;
          const event = tokenIssued(
            'access_token',
            'jwt',
            {
              jti: String(payload.jti),
              clientId: String(payload.client_id),
              ...(token.accountId ? { accountId: String(token.accountId) } : {}),
              scope: typeof payload.scope === 'string' ? payload.scope : '',
              aud: payload.aud as string | string[],
              exp: Number(payload.exp),
              ...(token.jkt ? { jkt: String(token.jkt) } : {}),
              ...(token.grantId ? { grantId: String(token.grantId) } : {}),
            },
            grantType,
          );
          const denials = policyDenials.get(ctx) ?? exchangeDenials.get(ctx);
          if (denials) event.data.policy_denials = denials;
          const delegated = delegatedClaims.get(issued);
          if (delegated) {
            // The agent acts, for the user: the event's actor is the agent; the delegation and chain are named.
            event.data.delegation_id = delegated.delegation_id;
            event.data.actors = actorsOf(delegated.act) ?? [];
            await tokens.record(event, {
              ...tokenContext(tenant.id, null, event.data.client_id),
              actor: { type: 'agent', id: event.data.client_id },
            });
            return;
          }
          await tokens.record(event, tokenContext(tenant.id, event.data.sub, event.data.client_id));
        },
      },
    },
    // The issuer's accountId is the tenant's pairwise `sub` (never SigID's account id).
    async findAccount(_ctx, sub, token) {
      const known = await sources.claims(tenant.id, sub, 'openid');
      if (!known) return undefined;
      const grantId = (token as { grantId?: string } | undefined)?.grantId;
      return {
        accountId: sub,
        async claims(_use, scope) {
          const claims = ((await sources.claims(tenant.id, sub, scope)) ?? { sub }) as { sub: string };
          const organization = grantId ? await boundOrganization(options.db, tenant.id, grantId) : null;
          return organization ? { ...claims, ...organizationClaims(organization) } : claims;
        },
      };
    },
    interactions: {
      url: (_ctx, interaction) => `/t/${tenant.slug}/interaction/${interaction.uid}`,
      policy: organizationPolicy(sources.organizations, tenant.id),
    },
  };
  const provider = new Provider(options.issuer, configuration);
  const exchange = {
    tenantId: tenant.id,
    issuer: options.issuer,
    jwks: options.jwks,
    delegations: sources.delegations,
    userExists: async (sub: string) => (await sources.claims(tenant.id, sub, 'openid')) !== undefined,
    policies: () => sources.policies(tenant.id),
    principalFacts: (principal: { type: string; id: string }) => sources.principalFacts(tenant.id, principal),
    async refused(data: { agentId: string; sub: string; audience: string; scopes: string[]; denials: PolicyDenial[] }) {
      await tokens.record(
        {
          type: 'policy.token.denied',
          data: {
            client_id: data.agentId,
            sub: data.sub,
            grant_type: TOKEN_EXCHANGE,
            audience: data.audience,
            scopes: data.scopes,
            denials: data.denials,
          },
        },
        { ...tokenContext(tenant.id, null, data.agentId), actor: { type: 'agent', id: data.agentId } },
      );
    },
  };
  // RFC 8693: an agent acting for a user (src/oidc/token-exchange.ts, docs/delegation.md).
  registerTokenExchange(provider, exchange);
  // oidc-provider introspects only the tokens it stores; SigID's JWT access tokens are answered here,
  // from their signature and from what is in force now: a revoked delegation, a suspended agent or a
  // user gone makes the token inactive at once (the same check token exchange makes of a subject token).
  const ownKeys = issuerKeySet(options.jwks);
  provider.use(async (ctx, next) => {
    await next();
    const oidc = (ctx as unknown as IssuerContext).oidc;
    const body = ctx.body as { error?: string } | undefined;
    if (oidc?.route !== 'introspection' || body?.error !== 'unsupported_token_type' || !oidc.client) return;
    const presented = oidc.params?.token;
    let claims: Record<string, unknown> & { client_id?: unknown } = {};
    let active = false;
    try {
      const verified = await jwtVerify(String(presented), ownKeys, { issuer: options.issuer, typ: 'at+jwt' });
      claims = verified.payload as typeof claims;
      active = (await inactiveReason(exchange, verified.payload as typeof claims)) === null;
      // A public client learns nothing of another client's tokens (oidc-provider's own rule).
      if (oidc.client.clientAuthMethod === 'none' && claims.client_id !== oidc.client.clientId) active = false;
    } catch {
      active = false;
    }
    ctx.status = 200;
    ctx.body = active
      ? {
          ...claims,
          active: true,
          token_type: (claims.cnf as { jkt?: string } | undefined)?.jkt ? 'DPoP' : 'Bearer',
        }
      : { active: false };
  });
  if (options.cookies.secure) {
    // SigID's public URL is https (TLS ends in front of it): tell koa, so its cookies are Secure and
    provider.proxy = true;
    // Its URLs are the public ones whatever a client sends: proto and host come from PUBLIC_URL.
    const publicHost = new URL(options.issuer).host;
    provider.use(async (ctx, next) => {
      ctx.request.headers['x-forwarded-proto'] = 'https';
      ctx.request.headers['x-forwarded-host'] = publicHost;
      await next();
    });
  }
  // Sessions started (a sign-in resumed into a session) and ended (sign-out) are events.
  provider.use(async (ctx, next) => {
    // A resume that carries a login (not a consent) starts a session.
    const resuming = ctx.method === 'GET' ? /\/auth\/([A-Za-z0-9_-]+)$/.exec(ctx.path)?.[1] : undefined;
    const interaction = resuming ? await provider.Interaction.find(resuming) : undefined;
    const loggingIn = interaction?.prompt.name === 'login' && interaction.result?.login !== undefined;
    await next();
    const oidc = (ctx as unknown as IssuerContext).oidc;
    const signedIn = oidc?.session as { accountId?: string; uid?: string; amr?: string[] } | undefined;
    if (loggingIn && oidc?.route === 'resume' && signedIn?.accountId) {
      await sources.recordSessions(
        tenant.id,
        [
          {
            type: 'session.started',
            data: { session_id: String(signedIn.uid), sub: signedIn.accountId, amr: signedIn.amr ?? [] },
          },
        ],
        issuerRequest.getStore()?.correlationId ?? 'issuer',
      );
    }
    const session = oidc?.session as { destroyed?: boolean; uid?: string; accountId?: string } | undefined;
    if (oidc?.route === 'end_session_confirm' && session?.destroyed && session.accountId) {
      await sources.recordSessions(
        tenant.id,
        [
          {
            type: 'session.ended',
            data: { session_id: String(session.uid), sub: session.accountId, reason: 'signed_out' },
          },
        ],
        issuerRequest.getStore()?.correlationId ?? 'issuer',
      );
    }
  });
  // Organization sign-in: a non-member's sign-in is refused (`access_denied`), and a code's grant is
  // bound to the organization asked for (or unbound without one), so its tokens carry the claims.
  provider.use(async (ctx, next) => {
    const resuming = ctx.method === 'GET' ? /\/auth\/([A-Za-z0-9_-]+)$/.exec(ctx.path)?.[1] : undefined;
    const interaction = resuming ? await provider.Interaction.find(resuming) : undefined;
    const asked = interaction?.params[ORGANIZATION_PARAM];
    const login = interaction?.result?.login as { accountId?: string } | undefined;
    if (interaction && typeof asked === 'string' && asked !== '' && login?.accountId) {
      const organization = await sources.organizations.organization(tenant.id, asked);
      if (!organization || !(await sources.organizations.isMember(tenant.id, organization.id, login.accountId))) {
        interaction.result = {
          error: 'access_denied',
          error_description: 'the user is not a member of the organization',
        };
        await interaction.save(Math.max(1, (interaction.exp ?? 0) - Math.floor(Date.now() / 1000)));
        await sources.recordSessions(
          tenant.id,
          [
            {
              type: 'sign_in.failed',
              data: {
                sub: login.accountId,
                client_id: String(interaction.params.client_id),
                reason: 'not_organization_member',
                interaction_id: interaction.uid,
              },
            },
          ],
          issuerRequest.getStore()?.correlationId ?? 'issuer',
        );
      }
    }
    await next();
    const oidc = (ctx as unknown as IssuerContext).oidc;
    if (oidc?.route !== 'authorization' && oidc?.route !== 'resume') return;
    const code = oidc.entities?.AuthorizationCode as { grantId?: string } | undefined;
    if (!code?.grantId) return;
    const value = oidc.params?.[ORGANIZATION_PARAM];
    const organization =
      typeof value === 'string' && value !== '' ? await sources.organizations.organization(tenant.id, value) : null;
    if (organization) await bindOrganization(options.db, tenant.id, code.grantId, organization, GRANT_TTL_SECONDS);
    else await unbindOrganization(options.db, tenant.id, code.grantId);
  });
  // Discovery says what this tenant takes: metadata documents and a registration endpoint only when on.
  provider.use(async (ctx, next) => {
    await next();
    if ((ctx as unknown as IssuerContext).oidc?.route !== 'discovery' || !ctx.body || typeof ctx.body !== 'object')
      return;
    const settings = await sources.clientRegistration(tenant.id);
    const body = ctx.body as Record<string, unknown>;
    if (!settings.client_id_metadata_documents) delete body.client_id_metadata_document_supported;
    if (settings.dynamic_registration) body.registration_endpoint = `${options.issuer}/reg`;
  });
  // A path below the issuer that is none of its endpoints answers like every unknown route of SigID.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.respond = false;
      sendProblem(ctx.res, {
        code: 'route_not_found',
        detail: `There is no ${ctx.method} ${ctx.path} at this issuer.`,
        instance: (ctx.req as { originalUrl?: string }).originalUrl ?? ctx.originalUrl,
      });
    }
  });
  // oidc-provider finds a stored client's instance by hashing its whole metadata on every request;
  // the client directory hands out one metadata object while it keeps a client (CLIENT_CACHE_MS),
  // so the instance made for that object is kept with it.
  const instances = new WeakMap<object, unknown>();
  const findClient = provider.Client.find.bind(provider.Client);
  provider.Client.find = async (id: string) => {
    const metadata = typeof id === 'string' && id !== '' ? await sources.clients.find(tenant.id, id) : undefined;
    if (!metadata) return findClient(id).catch((error: unknown) => documentFailed(id, error));
    let client = instances.get(metadata) as Awaited<ReturnType<typeof findClient>>;
    if (!client) {
      client = await findClient(id);
      if (client) instances.set(metadata, client);
    }
    return client;
  };
  /** A metadata document that could not be fetched or is no valid client metadata: recorded, then refused as before. */
  async function documentFailed(id: string, error: unknown): Promise<never> {
    const { error: code, error_description: detail } = error as { error?: string; error_description?: string };
    const enabled =
      typeof id === 'string' &&
      id.startsWith('https://') &&
      (await sources.clientRegistration(tenant.id)).client_id_metadata_documents;
    if (enabled && (code === 'invalid_client' || code === 'invalid_client_metadata')) {
      const reason = code === 'invalid_client_metadata' ? 'invalid_document' : 'fetch_failed';
      const text = String(detail ?? code).slice(0, 500);
      // "fetch not allowed" is the tenant's switch (off), not the document's fault; "not allowed" is
      // allowClient's refusal, recorded there with its reason.
      if (text !== 'client_id metadata document fetch not allowed' && text !== 'client is not allowed') {
        await recordDocument(
          { type: 'oauth.client_metadata_document.refused', data: { client_id: id, reason, detail: text } },
          `refused:${reason}:${text}`,
        );
      }
    }
    throw error;
  }
  // A DPoP proof (RFC 9449) or a client assertion is used once: its jti taken in one statement, so
  // two processes given the same proof at once cannot both accept it.
  provider.ReplayDetection.unique = async (iss: string, jti: string, exp: number) =>
    takeOnce(
      options.db,
      tenant.id,
      'ReplayDetection',
      createHash('sha256').update(`${iss}${jti}`).digest('base64url'),
      { iss },
      exp - Math.floor(Date.now() / 1000),
    );
  // CIBA ping mode: SigID notifies the client itself, under the webhooks' SSRF rules (src/oidc/ciba.ts),
  // at the endpoint the application registered (oidc-provider holds an https stand-in of it).
  provider.Client.prototype.backchannelPing = async function backchannelPing(
    this: { backchannelClientNotificationEndpoint?: string; metadata(): Record<string, unknown> },
    request: { jti: string; params?: Record<string, unknown> | undefined },
  ) {
    const endpoint = metadataOf(this).ciba_notification_endpoint ?? this.backchannelClientNotificationEndpoint;
    const token = request.params?.client_notification_token;
    if (typeof endpoint !== 'string' || typeof token !== 'string') throw new TypeError('not a ping mode client');
    await sources.ciba.notify(endpoint, token, request.jti);
  };
  // Client secrets are kept only as hashes: compare the presented one against them, not a stored plaintext.
  provider.Client.prototype.compareClientSecret = async function compareClientSecret(
    this: { clientId: string },
    actual: string,
  ) {
    return sources.verifyClientSecret(tenant.id, this.clientId, actual);
  };
  return provider;
}

/** The koa context type of an issuer's requests, for hooks outside this module. */
export type IssuerContext = KoaContextWithOIDC;

/** oidc-provider's request handler, made once per provider (koa composes its middleware on each `callback()`). */
const handlers = new WeakMap<Provider, ReturnType<Provider['callback']>>();

/** Runs oidc-provider's handler for one request, with the request's id and path known to its storage. */
export function serveIssuer(
  provider: Provider,
  request: import('node:http').IncomingMessage & { url?: string },
  response: import('node:http').ServerResponse,
  correlationId: string,
): Promise<void> {
  let handler = handlers.get(provider);
  if (!handler) {
    handler = provider.callback();
    handlers.set(provider, handler);
  }
  const serve = handler;
  const path = (request.url ?? '/').split('?')[0] ?? '/';
  return issuerRequest.run({ correlationId, path }, async () => {
    await serve(request, response);
  });
}
