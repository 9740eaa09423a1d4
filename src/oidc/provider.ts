import type { Response } from 'express';
import type { JWK } from 'jose';
import Provider, { type Configuration, errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Database } from '../db/database.ts';
import { sendProblem } from '../http/problem.ts';
import {
  issuerRequest,
  type OidcClients,
  rememberedGrantId,
  storageAdapter,
  tokenContext,
  tokenIssued,
} from './adapter.ts';
import { ACCOUNT_CLIENT_ID } from './clients.ts';
import type { TokenLog } from './token-log.ts';

/** What a tenant's issuer is built from, besides its storage. */
export interface IssuerSources {
  clients: OidcClients;
  /** Whether `presented` is the client's secret (or its previous one, during a rotation's overlap). */
  verifyClientSecret(tenantId: string, clientId: string, presented: string): Promise<boolean>;
  /** The private signing keys, in the order oidc-provider must hold them (the signing ones first). */
  signingKeys(tenantId: string): Promise<{ keys: JWK[] }>;
  /** The claims of a tenant's `sub` that `scope` allows, or undefined when no such person is (left). */
  claims(tenantId: string, sub: string, scope: string): Promise<Record<string, unknown> | undefined>;
  /** Records sessions started and ended at the issuer (`session.started`, `session.ended`). */
  recordSessions(
    tenantId: string,
    events: Array<{ type: 'session.started' | 'session.ended'; data: Record<string, unknown> }>,
    correlationId: string,
  ): Promise<void>;
  /** The issuer's own pages (sign-out, errors) in the tenant's branding. */
  page(tenantId: string, page: IssuerPage): Promise<{ html: string; headers: Record<string, string> }>;
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
}

/** Default token lifetimes (seconds), when the application sets none. */
const DEFAULT_TTL = { accessToken: 3600, idToken: 3600, refreshToken: 14 * 24 * 3600 } as const;

/** Client metadata SigID adds to RFC 7591's, carried from the applications read model. */
const EXTRA_CLIENT_METADATA = [
  'allowed_origins',
  'require_pkce',
  'access_token_ttl',
  'id_token_ttl',
  'refresh_token_ttl',
] as const;

/** A resource indicator the issuer accepts: an absolute URI without a fragment (RFC 8707). */
function validResource(resource: string): boolean {
  try {
    const url = new URL(resource);
    return url.hash === '' && (url.protocol === 'https:' || url.protocol === 'http:' || url.protocol === 'urn:');
  } catch {
    return false;
  }
}

function clientTtl(client: { [key: string]: unknown } | undefined, name: (typeof EXTRA_CLIENT_METADATA)[number]) {
  const value = client?.[name];
  return typeof value === 'number' && value > 0 ? value : undefined;
}

/**
 * One tenant's OpenID Provider: oidc-provider configured for SigID. Storage in the database (any
 * process serves any request), clients from the applications, secrets checked against their hashes,
 * per-tenant signing keys, PKCE S256 (required for public clients), refresh tokens rotated on every
 * use, resource indicators giving JWT access tokens signed ES256 with `aud` = the resource, and
 * every token's issue appended as an event before the token is returned.
 */
export function buildIssuer(options: IssuerOptions): Provider {
  const { tenant, sources, tokens } = options;
  const configuration: Configuration = {
    adapter: storageAdapter({ db: options.db, tenantId: tenant.id, clients: sources.clients, tokens }),
    jwks: options.jwks as Configuration['jwks'],
    cookies: {
      keys: options.cookieKeys,
      names: options.cookies.names,
      long: { httpOnly: true, sameSite: 'lax', path: '/' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
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
      clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
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
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, resourceIndicator, client) {
          if (!validResource(resourceIndicator)) throw new errors.InvalidTarget('the resource is not an absolute URI');
          const requested = String(ctx.oidc.params?.scope ?? '');
          return {
            // Scopes are not yet restricted per API (the authorization plane brings APIs and their scopes).
            scope: requested,
            audience: resourceIndicator,
            accessTokenTTL: clientTtl(client.metadata(), 'access_token_ttl') ?? DEFAULT_TTL.accessToken,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    // S256 only (oidc-provider 9 knows no other); required for public clients and where the application asks.
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' || client.metadata().require_pkce === true },
    // Always a new refresh token on use; the old one is consumed, and presenting it again revokes the grant.
    rotateRefreshToken: () => true,
    clientBasedCORS(_ctx, origin, client) {
      const allowed = client.metadata().allowed_origins;
      return Array.isArray(allowed) && allowed.includes(origin);
    },
    ttl: {
      AccessToken: (_ctx, token, client) =>
        token.resourceServer?.accessTokenTTL ??
        clientTtl(client.metadata(), 'access_token_ttl') ??
        DEFAULT_TTL.accessToken,
      ClientCredentials: (_ctx, token, client) =>
        token.resourceServer?.accessTokenTTL ??
        clientTtl(client.metadata(), 'access_token_ttl') ??
        DEFAULT_TTL.accessToken,
      IdToken: (_ctx, _token, client) => clientTtl(client.metadata(), 'id_token_ttl') ?? DEFAULT_TTL.idToken,
      RefreshToken: (_ctx, _token, client) =>
        clientTtl(client.metadata(), 'refresh_token_ttl') ?? DEFAULT_TTL.refreshToken,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    formats: {
      customizers: {
        // A JWT access token is never stored: its event is appended here, before it is signed and returned.
        async jwt(_ctx, issued, jwt) {
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
          await tokens.record(event, tokenContext(tenant.id, event.data.sub, event.data.client_id));
        },
      },
    },
    // The issuer's accountId is the tenant's pairwise `sub` (never SigID's account id).
    async findAccount(_ctx, sub) {
      const known = await sources.claims(tenant.id, sub, 'openid');
      if (!known) return undefined;
      return {
        accountId: sub,
        async claims(_use, scope) {
          return ((await sources.claims(tenant.id, sub, scope)) ?? { sub }) as { sub: string };
        },
      };
    },
    interactions: { url: (_ctx, interaction) => `/t/${tenant.slug}/interaction/${interaction.uid}` },
  };
  const provider = new Provider(options.issuer, configuration);
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
  // A path below the issuer that is none of its endpoints answers like every unknown route of SigID.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.respond = false;
      sendProblem(ctx.res as unknown as Response, {
        code: 'route_not_found',
        detail: `There is no ${ctx.method} ${ctx.path} at this issuer.`,
        instance: (ctx.req as { originalUrl?: string }).originalUrl ?? ctx.originalUrl,
      });
    }
  });
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
