import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express } from 'express';
import { slugSchema } from '../../events/tenant.ts';
import { serveIssuer } from '../oidc/provider.ts';
import { pageAssets } from '../pages/assets.ts';
import { hostedPagesRouter } from '../pages/router.ts';
import type { Sigid } from '../sigid.ts';
import { agentDocumentsRouter, agentsRouter } from './agents.ts';
import { apiKeysRouter } from './api-keys.ts';
import { apisRouter } from './apis.ts';
import { applicationsRouter } from './applications.ts';
import { auditLogsRouter } from './audit-logs.ts';
import { requireTenantKey } from './auth.ts';
import { connectionsRouter } from './connections.ts';
import { delegationsRouter } from './delegations.ts';
import { eventsRouter } from './events.ts';
import { healthRouter } from './health.ts';
import { idempotency } from './idempotency.ts';
import { inputGuard } from './input-guard.ts';
import { invitationsRouter } from './invitations.ts';
import { openApiRouter } from './openapi.ts';
import { organizationsRouter } from './organizations.ts';
import { authorizeRouter, policiesRouter } from './policies.ts';
import { notFoundHandler, problemHandler, sendProblem } from './problem.ts';
import { challengeOnUnauthorized, protectedResourceRouter } from './protected-resource.ts';
import { registrationRouter } from './registration.ts';
import { requestLog } from './request-log.ts';
import { roleAssignmentsRouter, rolesRouter } from './roles.ts';
import { signingKeysRouter } from './signing-keys.ts';
import { tenantSettingsRouter } from './tenant-settings.ts';
import { tenantsRouter } from './tenants.ts';
import { usersRouter } from './users.ts';
import { webhooksRouter } from './webhooks.ts';

/**
 * The issuers' own endpoints (oidc-provider's routes below `/t/{slug}`), the slug captured. The
 * hosted pages (`/interaction/…`, `/account…`, …) are none of these.
 */
const ISSUER_ENDPOINT =
  /^\/t\/([a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?)(\/(?:auth(?:\/[A-Za-z0-9_-]+)?|token(?:\/introspection|\/revocation)?|me|jwks|request|session\/end(?:\/confirm|\/success)?|\.well-known\/(?:openid-configuration|oauth-authorization-server))\/?)(?:\?.*)?$/;

/** The HTTP edge: request ids and logs, JSON bodies with a size limit, the input guard, the routers, problem+json errors. */
export function createApp(sigid: Sigid): Express {
  const app = express();
  app.disable('x-powered-by');
  // The client's address (the sign-in throttle's network key) comes from the proxies SIGID_TRUST_PROXY names.
  app.set('trust proxy', sigid.config.trustProxy ?? false);
  app.set('etag', false);
  const logRequest = requestLog(sigid.logger);
  app.use(logRequest);
  app.use(healthRouter(sigid));
  // The hosted pages' assets, and the pages themselves below each tenant's issuer.
  app.use('/assets', pageAssets());
  // An agent's DID document and agent card, public, below its tenant's issuer (docs/agents.md).
  app.use('/t/:slug/agents', agentDocumentsRouter(sigid));
  app.use('/t/:slug', hostedPagesRouter(sigid));
  // RFC 7591 dynamic registration (off unless the tenant turns it on): an application like any other.
  app.use('/t/:slug', registrationRouter(sigid));
  // The tenants' OIDC issuers, before any body parser (oidc-provider reads its own bodies).
  app.use('/t/:slug', (request, response, next) => {
    const { slug } = request.params as { slug: string };
    if (!slugSchema.safeParse(slug).success) return next();
    sigid.issuers.serve(slug, request, response, String(request.id)).then((served) => {
      if (!served) next();
    }, next);
  });
  // RFC 8414's path form: /.well-known/oauth-authorization-server/t/{slug} is the issuer's metadata.
  app.use('/.well-known/oauth-authorization-server/t/:slug', (request, response, next) => {
    const { slug } = request.params as { slug: string };
    if (request.method !== 'GET' || request.path !== '/' || !slugSchema.safeParse(slug).success) return next();
    request.url = '/.well-known/oauth-authorization-server';
    // oidc-provider finds its mount path from originalUrl: the issuer's own, so the endpoints are its.
    request.originalUrl = `/t/${slug}/.well-known/oauth-authorization-server`;
    sigid.issuers.serve(slug, request, response, String(request.id)).then((served) => {
      if (!served) next();
    }, next);
  });
  app.use(openApiRouter());
  app.use(protectedResourceRouter(sigid));
  const api = express.Router();
  api.use(challengeOnUnauthorized(sigid));
  api.use(
    express.json({ limit: sigid.config.bodyLimit, strict: true, type: ['application/json', 'application/*+json'] }),
  );
  // Before every router: the tenants router's own idempotency and the tenant-scoped chain both come after it.
  api.use(inputGuard());
  api.use('/tenants', tenantsRouter(sigid));
  const tenantScoped = express.Router();
  tenantScoped.use(requireTenantKey(sigid), idempotency(sigid));
  tenantScoped.use('/api-keys', apiKeysRouter(sigid));
  tenantScoped.use('/applications', applicationsRouter(sigid));
  tenantScoped.use('/apis', apisRouter(sigid));
  tenantScoped.use('/organizations/:id/connections', connectionsRouter(sigid));
  tenantScoped.use('/organizations', organizationsRouter(sigid));
  tenantScoped.use('/roles', rolesRouter(sigid));
  tenantScoped.use('/role-assignments', roleAssignmentsRouter(sigid));
  tenantScoped.use('/users', usersRouter(sigid));
  tenantScoped.use('/invitations', invitationsRouter(sigid));
  tenantScoped.use('/agents', agentsRouter(sigid));
  tenantScoped.use('/delegations', delegationsRouter(sigid));
  tenantScoped.use('/audit-logs', auditLogsRouter(sigid));
  tenantScoped.use('/policies', policiesRouter(sigid));
  tenantScoped.use('/authorize', authorizeRouter(sigid));
  tenantScoped.use('/events', eventsRouter(sigid));
  tenantScoped.use('/signing-keys', signingKeysRouter(sigid));
  tenantScoped.use('/webhooks', webhooksRouter(sigid));
  tenantScoped.use(tenantSettingsRouter(sigid));
  api.use(tenantScoped);
  app.use('/api/v1', api);
  app.use(notFoundHandler);
  app.use(problemHandler);

  // An issuer's endpoint (a token request above all) goes straight to its oidc-provider, logged and
  // given its request id like every request, without express's routing and request objects, which
  // cost a third of a token request's time; an unknown tenant's path falls through to express.
  // (`app.handle` is where express takes every request: express's own types do not list it.)
  const internals = app as unknown as {
    handle(request: IncomingMessage, response: ServerResponse, done?: unknown): void;
  };
  const viaExpress = internals.handle.bind(app);
  internals.handle = (request: IncomingMessage, response: ServerResponse, done?: (error?: unknown) => void) => {
    const endpoint = ISSUER_ENDPOINT.exec(request.url ?? '');
    if (!endpoint) return viaExpress(request, response, done);
    const slug = (endpoint as unknown as [string, string])[1];
    logRequest(request, response);
    const url = request.url as string;
    sigid.issuers.get(slug).then(
      (issuer) => {
        if (!issuer) return viaExpress(request, response, done);
        const mounted = request as IncomingMessage & { originalUrl?: string };
        mounted.originalUrl = url;
        mounted.url = url.slice(`/t/${slug}`.length);
        return serveIssuer(issuer.provider, mounted, response, request.id).catch((error: unknown) =>
          unhandled(request, response, error),
        );
      },
      (error: unknown) => unhandled(request, response, error),
    );
  };
  return app;
}

/** A failure no handler answered, on a request outside express: logged, and a 500 with no internals shown. */
function unhandled(request: IncomingMessage, response: ServerResponse, error: unknown) {
  request.log.error({ err: error }, 'unhandled error');
  if (response.headersSent) return void response.destroy();
  sendProblem(response, {
    code: 'internal_error',
    detail: 'Something went wrong on our side; the request id identifies it in our logs.',
    instance: (request as { originalUrl?: string }).originalUrl ?? request.url ?? '/',
  });
}
