import { type Response, Router } from 'express';
import { z } from 'zod';
import {
  applicationKindSchema,
  applicationTypeSchema,
  backchannelDeliveryModeSchema,
  grantTypeSchema,
  responseTypeSchema,
  tokenEndpointAuthMethodSchema,
} from '../../events/application.ts';
import { type ApplicationRow, findApplication, listApplications } from '../../read-models/applications.ts';
import {
  createApplication,
  deleteApplication,
  rotateClientSecret,
  updateApplication,
} from '../../services/applications.ts';
import { tokenLifetimes } from '../applications/client-metadata.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema } from '../text.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

// Shapes only: what each kind allows, and the URI rules, are checked by src/applications/ (422).
const uriField = lineSchema.min(1).max(2000);
const urisField = z.array(uriField).max(50);
const lifetime = (bounds: { min: number; max: number }) => z.number().int().min(bounds.min).max(bounds.max);

/** A client_id given on create (an application moved from another IdP): RFC 3986 unreserved characters. */
export const clientIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._~-]{3,128}$/, '3 to 128 letters, digits, and . _ ~ -')
  .refine((id) => !id.toLowerCase().startsWith('sigid-'), 'client_ids starting with "sigid-" are SigID\'s own');

const metadataFields = {
  client_name: lineSchema.trim().min(1).max(200),
  application_type: applicationTypeSchema,
  redirect_uris: urisField,
  post_logout_redirect_uris: urisField,
  grant_types: z.array(grantTypeSchema).max(10),
  response_types: z.array(responseTypeSchema).max(10),
  token_endpoint_auth_method: tokenEndpointAuthMethodSchema,
  require_pkce: z.boolean(),
  logo_uri: uriField.nullable(),
  allowed_origins: z.array(lineSchema.min(1).max(300)).max(50),
  access_token_ttl_seconds: lifetime(tokenLifetimes.access_token_ttl_seconds),
  id_token_ttl_seconds: lifetime(tokenLifetimes.id_token_ttl_seconds),
  refresh_token_ttl_seconds: lifetime(tokenLifetimes.refresh_token_ttl_seconds),
  backchannel_token_delivery_mode: backchannelDeliveryModeSchema.nullable(),
  backchannel_client_notification_endpoint: uriField.nullable(),
};

const optional = <T extends Record<string, z.ZodType>>(fields: T) =>
  Object.fromEntries(Object.entries(fields).map(([key, field]) => [key, field.optional()])) as {
    [K in keyof T]: z.ZodOptional<T[K]>;
  };

export const createApplicationBody = z.strictObject({
  kind: applicationKindSchema,
  client_id: clientIdSchema.optional(),
  ...optional(metadataFields),
  client_name: metadataFields.client_name,
});

export const updateApplicationBody = z
  .strictObject(optional(metadataFields))
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

export const rotateClientSecretBody = z.strictObject({
  /** How long the previous secret keeps working: default 24 hours, 0 retires it at once, at most 30 days. */
  overlap_seconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 3600)
    .optional(),
});

function applicationJson(row: ApplicationRow, now = new Date()) {
  const overlapEnds = row.previous_secret_expires_at;
  return {
    id: row.application_id,
    object: 'application',
    kind: row.kind,
    client_id: row.client_id,
    client_name: row.client_name,
    application_type: row.application_type,
    redirect_uris: row.redirect_uris,
    post_logout_redirect_uris: row.post_logout_redirect_uris,
    grant_types: row.grant_types,
    response_types: row.response_types,
    token_endpoint_auth_method: row.token_endpoint_auth_method,
    require_pkce: row.require_pkce,
    logo_uri: row.logo_uri,
    allowed_origins: row.allowed_origins,
    access_token_ttl_seconds: row.access_token_ttl_seconds,
    id_token_ttl_seconds: row.id_token_ttl_seconds,
    refresh_token_ttl_seconds: row.refresh_token_ttl_seconds,
    backchannel_token_delivery_mode: row.backchannel_token_delivery_mode,
    backchannel_client_notification_endpoint: row.backchannel_client_notification_endpoint,
    previous_secret_expires_at: overlapEnds && overlapEnds > now ? overlapEnds.toISOString() : null,
    revision: row.revision,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * `/api/v1/applications`: a tenant's applications (OAuth clients). Every change is an event, so in
 * the audit log; a confidential application's client secret is shown once, on create and on
 * rotation (`POST /{id}/secrets`), and kept only as a sealed hash.
 */
export function applicationsRouter(sigid: Sigid): Router {
  const router = Router();

  async function loadApplication(response: Response, id: string) {
    const row = isId('app', id) ? await findApplication(sigid.readModels, tenantOf(response), id) : undefined;
    if (!row) throw new NotFoundError('The application');
    return row;
  }

  async function respondWithApplication(response: Response, applicationId: string, status = 200, extra = {}) {
    const row = await loadApplication(response, applicationId);
    response
      .status(status)
      .set('ETag', etag(row.revision))
      .json({ ...applicationJson(row), ...extra });
  }

  router.post('/', async (request, response) => {
    const body = parseBody(createApplicationBody, request);
    const { applicationId, clientSecret, written } = await createApplication(sigid, body, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.location(`/api/v1/applications/${applicationId}`);
    await respondWithApplication(
      response,
      applicationId,
      201,
      // RFC 7591 §3.2.1: the secret, and 0 for "does not expire" (a rotation retires it).
      clientSecret === null ? {} : { client_secret: clientSecret, client_secret_expires_at: 0 },
    );
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const rows = await listApplications(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    const now = new Date();
    response.json(
      page(
        rows,
        query.limit,
        (row) => row.application_id,
        (row) => applicationJson(row, now),
      ),
    );
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    await respondWithApplication(response, (await loadApplication(response, request.params.id)).application_id);
  });

  router.patch('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateApplicationBody, request);
    const row = await loadApplication(response, request.params.id);
    const written = await updateApplication(sigid, row.application_id, body, {
      ...useCaseOf(request, response),
      ifMatch,
    });
    await consistent(sigid, request, written);
    await respondWithApplication(response, row.application_id);
  });

  router.delete('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const row = await loadApplication(response, request.params.id);
    const written = await deleteApplication(sigid, row, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  router.post('/:id/secrets', async (request, response) => {
    // The body is optional here: no body means the default overlap.
    const parsed = rotateClientSecretBody.safeParse(request.body ?? {});
    if (!parsed.success) throw new ValidationError('The request body is not valid.', parsed.error.issues);
    const row = await loadApplication(response, request.params.id);
    const overlap = parsed.data.overlap_seconds;
    const { clientSecret, previousExpiresAt, written } = await rotateClientSecret(
      sigid,
      row,
      overlap !== undefined ? overlap * 1000 : undefined,
      useCaseOf(request, response),
    );
    await consistent(sigid, request, written);
    response.status(201).json({
      object: 'client_secret',
      application_id: row.application_id,
      client_id: row.client_id,
      client_secret: clientSecret,
      client_secret_expires_at: 0,
      previous_secret_expires_at: previousExpiresAt.toISOString(),
    });
  });

  return router;
}
