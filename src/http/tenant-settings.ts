import { type Response, Router } from 'express';
import { z } from 'zod';
import { colorSchema, displayNameSchema, logoUriSchema } from '../../commands/tenant.ts';
import { mfaModeSchema } from '../../events/tenant.ts';
import { findTenant } from '../../read-models/tenants.ts';
import {
  brandingOfRow,
  clientRegistrationOfRow,
  mfaPolicyOfRow,
  roleClaimsOfRow,
  setBranding,
  setClientRegistration,
  setMfaPolicy,
  setRoleClaims,
} from '../../services/tenant-settings.ts';
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
 * Claims a token already carries or that its readers give a meaning to (RFC 7519, RFC 9068, RFC 8693,
 * OpenID Connect Core, RFC 9449's `cnf`): a role claim may not take their names.
 */
export const RESERVED_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'scope',
  'client_id',
  'azp',
  'auth_time',
  'acr',
  'amr',
  'cnf',
  'act',
  'may_act',
  'sid',
  'nonce',
  'at_hash',
  'c_hash',
  's_hash',
  'typ',
  'authorization_details',
  'email',
  'email_verified',
  'name',
  'groups',
  'entitlements',
]);

/** A claim name for roles or permissions: 1–200 of `A–Z a–z 0–9 _ : . / -` (a URI names one safely), none of RESERVED_CLAIMS. */
export const roleClaimNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_:./-]{1,200}$/, '1 to 200 letters, digits, and _ : . / -')
  .refine((name) => !RESERVED_CLAIMS.has(name), 'a claim name JWT or OpenID Connect already gives a meaning to');

export const updateRoleClaimsBody = z
  .strictObject({
    roles_claim: roleClaimNameSchema.nullable().optional(),
    permissions_claim: roleClaimNameSchema.nullable().optional(),
    enforce_permissions: z.boolean().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

export const updateClientRegistrationBody = z
  .strictObject({
    client_id_metadata_documents: z.boolean().optional(),
    dynamic_registration: z.boolean().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

/**
 * `/api/v1/branding`, `/api/v1/mfa-policy` and `/api/v1/role-claims`: the tenant's settings, events on the tenant's own
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

  async function renderRoleClaims(response: Response) {
    const tenant = await loadTenant(response);
    response.set('ETag', etag(tenant.revision)).json({ object: 'role_claims', ...roleClaimsOfRow(tenant) });
  }

  router.get('/role-claims', async (request, response) => {
    parseQuery(noQuery, request);
    await renderRoleClaims(response);
  });

  router.patch('/role-claims', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateRoleClaimsBody, request);
    const written = await setRoleClaims(sigid, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await renderRoleClaims(response);
  });

  async function renderClientRegistration(response: Response) {
    const tenant = await loadTenant(response);
    response
      .set('ETag', etag(tenant.revision))
      .json({ object: 'client_registration', ...clientRegistrationOfRow(tenant) });
  }

  router.get('/client-registration', async (request, response) => {
    parseQuery(noQuery, request);
    await renderClientRegistration(response);
  });

  router.patch('/client-registration', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateClientRegistrationBody, request);
    const written = await setClientRegistration(sigid, body, { ...useCaseOf(request, response), ifMatch });
    await consistent(sigid, request, written);
    await renderClientRegistration(response);
  });

  return router;
}
