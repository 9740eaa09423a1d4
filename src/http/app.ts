import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import { slugSchema } from '../../events/tenant.ts';
import { newId } from '../ids.ts';
import { pageAssets } from '../pages/assets.ts';
import { hostedPagesRouter } from '../pages/router.ts';
import type { Sigid } from '../sigid.ts';
import { apiKeysRouter } from './api-keys.ts';
import { applicationsRouter } from './applications.ts';
import { auditLogsRouter } from './audit-logs.ts';
import { requireTenantKey } from './auth.ts';
import { eventsRouter } from './events.ts';
import { healthRouter } from './health.ts';
import { idempotency } from './idempotency.ts';
import { inputGuard } from './input-guard.ts';
import { openApiRouter } from './openapi.ts';
import { notFoundHandler, problemHandler } from './problem.ts';
import { signingKeysRouter } from './signing-keys.ts';
import { tenantSettingsRouter } from './tenant-settings.ts';
import { tenantsRouter } from './tenants.ts';
import { webhooksRouter } from './webhooks.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Signed e-mail links carry their token as `?token=` (src/email/links.ts): it never reaches a log line. */
const TOKEN_PARAMETER = /([?&]token=)[^&#]*/gi;

function withoutTokens(request: { url?: string; query?: unknown }) {
  const query = request.query as Record<string, unknown> | undefined;
  return {
    ...request,
    url: request.url?.replace(TOKEN_PARAMETER, '$1[redacted]'),
    query: query && 'token' in query ? { ...query, token: '[redacted]' } : query,
  };
}

/** The HTTP edge: request ids and logs, JSON bodies with a size limit, the input guard, the routers, problem+json errors. */
export function createApp(sigid: Sigid): Express {
  const app = express();
  app.disable('x-powered-by');
  // The client's address (the sign-in throttle's network key) comes from the proxies SIGID_TRUST_PROXY names.
  app.set('trust proxy', sigid.config.trustProxy ?? false);
  app.set('etag', false);
  app.use(
    pinoHttp({
      logger: sigid.logger,
      quietReqLogger: true,
      customAttributeKeys: { reqId: 'request_id' },
      serializers: { req: withoutTokens },
      genReqId(request, response) {
        const given = request.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : newId('req');
        response.setHeader('X-Request-Id', id);
        return id;
      },
    }),
  );
  app.use(healthRouter(sigid));
  // The hosted pages' assets, and the pages themselves below each tenant's issuer.
  app.use('/assets', pageAssets());
  app.use('/t/:slug', hostedPagesRouter(sigid));
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
    sigid.issuers.serve(slug, request, response, String(request.id)).then((served) => {
      if (!served) next();
    }, next);
  });
  app.use(openApiRouter());
  const api = express.Router();
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
  tenantScoped.use('/audit-logs', auditLogsRouter(sigid));
  tenantScoped.use('/events', eventsRouter(sigid));
  tenantScoped.use('/signing-keys', signingKeysRouter(sigid));
  tenantScoped.use('/webhooks', webhooksRouter(sigid));
  tenantScoped.use(tenantSettingsRouter(sigid));
  api.use(tenantScoped);
  app.use('/api/v1', api);
  app.use(notFoundHandler);
  app.use(problemHandler);
  return app;
}
