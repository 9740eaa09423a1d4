import { type Response, Router } from 'express';
import { z } from 'zod';
import { colorSchema, displayNameSchema, logoUriSchema } from '../../commands/tenant.ts';
import { mfaModeSchema } from '../../events/tenant.ts';
import { findTenant } from '../../read-models/tenants.ts';
import { brandingOfRow, mfaPolicyOfRow, setBranding, setMfaPolicy } from '../../services/tenant-settings.ts';
import { NotFoundError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

export const updateBrandingBody = z
  .strictObject({
    display_name: displayNameSchema.nullable().optional(),
    logo_uri: logoUriSchema.nullable().optional(),
    primary_color: colorSchema.nullable().optional(),
    background_color: colorSchema.nullable().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

export const updateMfaPolicyBody = z
  .strictObject({
    mode: mfaModeSchema.optional(),
    required_for_applications: z
      .array(z.string().refine((id) => isId('app', id), 'an application id, app_…'))
      .max(100)
      .optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

/**
 * `/api/v1/branding` and `/api/v1/mfa-policy`: the tenant's settings, events on the tenant's own
 * stream (so in its audit log); `ETag` is that stream's revision.
 */
export function tenantSettingsRouter(sigid: Sigid): Router {
  const router = Router();

  async function loadTenant(response: Response) {
    const tenant = await findTenant(sigid.readModels, tenantOf(response));
    if (!tenant || tenant.status === 'deleted') throw new NotFoundError('The tenant');
    return tenant;
  }

  async function renderBranding(response: Response) {
    const tenant = await loadTenant(response);
    response.set('ETag', etag(tenant.revision)).json({ object: 'branding', ...brandingOfRow(tenant) });
  }

  async function renderMfaPolicy(response: Response) {
    const tenant = await loadTenant(response);
    response.set('ETag', etag(tenant.revision)).json({ object: 'mfa_policy', ...mfaPolicyOfRow(tenant) });
  }

  router.get('/branding', async (request, response) => {
    parseQuery(noQuery, request);
    await renderBranding(response);
  });

  router.patch('/branding', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateBrandingBody, request);
    const written = await setBranding(sigid, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await renderBranding(response);
  });

  router.get('/mfa-policy', async (request, response) => {
    parseQuery(noQuery, request);
    await renderMfaPolicy(response);
  });

  router.patch('/mfa-policy', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateMfaPolicyBody, request);
    const written = await setMfaPolicy(sigid, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await renderMfaPolicy(response);
  });

  return router;
}
