import express, { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import type { ApplicationKind } from '../../events/application.ts';
import { findTenant } from '../../read-models/tenants.ts';
import { createApplication } from '../../services/applications.ts';
import { useCase } from '../../services/context.ts';
import { clientRegistrationOfRow } from '../../services/tenant-settings.ts';
import { ProblemError } from '../errors.ts';
import { activeTenantBySlug } from '../oidc/sources.ts';
import type { Sigid } from '../sigid.ts';
import { consistent } from './read-your-writes.ts';

/**
 * RFC 7591 dynamic client registration at `POST /t/{slug}/reg`, for OAuth clients (older MCP
 * clients) that register themselves. Enforces:
 * - off unless the tenant turned it on (`PATCH /api/v1/client-registration`): 403 `access_denied`;
 * - the registered client is an application like any other, made by the application service
 *   (services/applications.ts), so `application.created` is in the audit log (actor: system
 *   `dynamic-registration`) and it is listed in `/api/v1/applications`;
 * - `token_endpoint_auth_method` `none` makes a public client (spa, or native for
 *   `application_type: native`), a secret method a confidential one (web, or m2m when its only
 *   grant is `client_credentials`), with that kind's rules and defaults; metadata it does not allow
 *   is `invalid_client_metadata` or `invalid_redirect_uri` (400), and nothing is written;
 * - metadata SigID does not keep (`scope`, `contacts`, software statements…) is ignored, as RFC 7591 §2 allows.
 * Answers are RFC 7591's JSON (errors `{error, error_description}`), never cached.
 */

const text = z.string().min(1).max(2000);

export const registrationBody = z.looseObject({
  redirect_uris: z.array(text).max(50).optional(),
  post_logout_redirect_uris: z.array(text).max(50).optional(),
  client_name: z.string().trim().min(1).max(200).optional(),
  token_endpoint_auth_method: z.enum(['none', 'client_secret_basic', 'client_secret_post']).optional(),
  grant_types: z
    .array(z.enum(['authorization_code', 'refresh_token', 'client_credentials']))
    .max(3)
    .optional(),
  response_types: z
    .array(z.enum(['code']))
    .max(1)
    .optional(),
  application_type: z.enum(['web', 'native']).optional(),
  logo_uri: text.optional(),
});

/** Who registers a client dynamically: SigID on the client's behalf (the client is not known yet). */
const REGISTRATION_ACTOR = { type: 'system', id: 'dynamic-registration' } as const;

function kindOf(body: z.infer<typeof registrationBody>): ApplicationKind {
  const method = body.token_endpoint_auth_method ?? 'client_secret_basic';
  if (method === 'none') return body.application_type === 'native' ? 'native' : 'spa';
  const grants = body.grant_types ?? ['authorization_code'];
  return grants.length > 0 && grants.every((grant) => grant === 'client_credentials') ? 'm2m' : 'web';
}

function refuse(response: Response, status: number, error: string, description: string) {
  response.status(status).set('Cache-Control', 'no-store').json({ error, error_description: description });
}

export function registrationRouter(sigid: Sigid): Router {
  const router = Router({ mergeParams: true });
  router.post(
    '/reg',
    express.json({ limit: '16kb', type: ['application/json'] }),
    async (request: Request, response: Response, next) => {
      const { slug } = request.params as { slug: string };
      const tenant = await activeTenantBySlug(sigid, slug);
      if (!tenant) return next();
      if (!clientRegistrationOfRow(await findTenant(sigid.readModels, tenant.id)).dynamic_registration) {
        return refuse(response, 403, 'access_denied', 'Dynamic client registration is not enabled for this tenant.');
      }
      const parsed = registrationBody.safeParse(request.body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const path = issue?.path.join('.') ?? '';
        return refuse(
          response,
          400,
          path.startsWith('redirect_uris') ? 'invalid_redirect_uri' : 'invalid_client_metadata',
          `${path || 'body'}: ${issue?.message ?? 'not valid client metadata'}`,
        );
      }
      const body = parsed.data;
      const kind = kindOf(body);
      const context = useCase({ tenantId: tenant.id, actor: REGISTRATION_ACTOR, correlationId: String(request.id) });
      try {
        const created = await createApplication(
          sigid,
          {
            kind,
            client_name: body.client_name ?? 'Dynamically registered client',
            ...(body.redirect_uris ? { redirect_uris: body.redirect_uris } : {}),
            ...(body.post_logout_redirect_uris ? { post_logout_redirect_uris: body.post_logout_redirect_uris } : {}),
            ...(body.grant_types ? { grant_types: body.grant_types } : {}),
            ...(body.response_types ? { response_types: body.response_types } : {}),
            ...(body.token_endpoint_auth_method ? { token_endpoint_auth_method: body.token_endpoint_auth_method } : {}),
            ...(body.logo_uri ? { logo_uri: body.logo_uri } : {}),
          },
          context,
        );
        await consistent(sigid, request, created.written);
        const application = await sigid.readModels
          .selectFrom('applications')
          .selectAll()
          .where('tenant_id', '=', tenant.id)
          .where('application_id', '=', created.applicationId)
          .executeTakeFirstOrThrow();
        response
          .status(201)
          .set('Cache-Control', 'no-store')
          .json({
            client_id: created.clientId,
            ...(created.clientSecret ? { client_secret: created.clientSecret, client_secret_expires_at: 0 } : {}),
            client_id_issued_at: Math.floor(application.created_at.getTime() / 1000),
            client_name: application.client_name,
            application_type: application.application_type,
            redirect_uris: application.redirect_uris,
            post_logout_redirect_uris: application.post_logout_redirect_uris,
            grant_types: application.grant_types,
            response_types: application.response_types,
            token_endpoint_auth_method: application.token_endpoint_auth_method,
          });
      } catch (error) {
        if (error instanceof ProblemError && error.status === 422) {
          const first = error.errors?.[0];
          const code = first?.code === 'invalid_redirect_uri' ? 'invalid_redirect_uri' : 'invalid_client_metadata';
          return refuse(response, 400, code, first ? `${first.path}: ${first.message}` : error.message);
        }
        throw error;
      }
    },
  );
  return router;
}
