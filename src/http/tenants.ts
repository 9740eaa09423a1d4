import { Router } from 'express';
import { z } from 'zod';
import { suspensionReasonSchema, tenantNameSchema } from '../../commands/tenant.ts';
import { slugSchema } from '../../events/tenant.ts';
import { findApiKey } from '../../read-models/api-keys.ts';
import { findTenant, listTenants, type TenantRow } from '../../read-models/tenants.ts';
import { issueApiKey } from '../../services/api-keys.ts';
import { createTenant, deleteTenant, INITIAL_KEY_NAME, updateTenant } from '../../services/tenants.ts';
import { NotFoundError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { apiKeyJson, createApiKeyBody } from './api-keys.ts';
import { actorOf, requireOperator, useCaseOf } from './auth.ts';
import { idempotency, randomOf } from './idempotency.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { etag, ifMatchRevision, noQuery, parseBody, parseQuery } from './validate.ts';

export const createTenantBody = z.strictObject({
  name: tenantNameSchema,
  slug: slugSchema,
});

export const updateTenantBody = z
  .strictObject({
    name: tenantNameSchema.optional(),
    status: z.enum(['active', 'suspended']).optional(),
    suspension_reason: suspensionReasonSchema.optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'Send at least one field to change.');

export function tenantJson(sigid: Sigid, tenant: TenantRow) {
  return {
    id: tenant.tenant_id,
    object: 'tenant',
    slug: tenant.slug,
    name: tenant.name,
    status: tenant.status,
    issuer: `${sigid.config.publicUrl}/t/${tenant.slug}`,
    created_at: tenant.created_at.toISOString(),
    updated_at: tenant.updated_at.toISOString(),
  };
}

/** The platform operator's tenant routes: `/api/v1/tenants`. */
export function tenantsRouter(sigid: Sigid): Router {
  const router = Router();
  router.use(requireOperator(sigid), idempotency(sigid));

  async function loadTenant(id: string) {
    const tenant = isId('ten', id) ? await findTenant(sigid.readModels, id) : undefined;
    if (!tenant || tenant.status === 'deleted') throw new NotFoundError('The tenant');
    return tenant;
  }

  router.post('/', async (request, response) => {
    const body = parseBody(createTenantBody, request);
    const { tenantId, keyId, token, written } = await createTenant(sigid, body, {
      actor: actorOf(response),
      correlationId: String(request.id),
      random: randomOf(response),
    });
    await consistent(sigid, request, written);
    const tenant = await loadTenant(tenantId);
    response
      .status(201)
      .location(`/api/v1/tenants/${tenantId}`)
      .set('ETag', etag(tenant.revision))
      .json({
        tenant: tenantJson(sigid, tenant),
        api_key: { id: keyId, object: 'api_key', name: INITIAL_KEY_NAME, key: token },
      });
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const rows = await listTenants(sigid.readModels, { limit: query.limit + 1, after: query.starting_after });
    response.json(
      page(
        rows,
        query.limit,
        (row) => row.tenant_id,
        (row) => tenantJson(sigid, row),
      ),
    );
  });

  router.get('/:id', async (request, response) => {
    parseQuery(noQuery, request);
    const tenant = await loadTenant(request.params.id);
    response.set('ETag', etag(tenant.revision)).json(tenantJson(sigid, tenant));
  });

  router.patch('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const body = parseBody(updateTenantBody, request);
    const tenant = await loadTenant(request.params.id);
    const written = await updateTenant(
      sigid,
      tenant.tenant_id,
      { name: body.name, status: body.status, suspensionReason: body.suspension_reason },
      { ...useCaseOf(request, response, tenant.tenant_id), ifMatch },
    );
    await consistent(sigid, request, written);
    const updated = await loadTenant(tenant.tenant_id);
    // This process's issuer follows a suspension or reactivation at once (other processes within
    // the pool's recheck); once the read model shows it, so a rebuild reads the new status.
    if (updated.status !== tenant.status) sigid.issuers.forget(updated.slug);
    response.set('ETag', etag(updated.revision)).json(tenantJson(sigid, updated));
  });

  // An admin key issued by the operator: for a tenant whose admins lost every key, or whose first
  // key was never made. The tenant's audit log shows the operator as its creator.
  router.post('/:id/api-keys', async (request, response) => {
    const body = parseBody(createApiKeyBody, request);
    const tenant = await loadTenant(request.params.id);
    const key = await issueApiKey(sigid, body.name, useCaseOf(request, response, tenant.tenant_id));
    await consistent(sigid, request, key.written);
    const row = await findApiKey(sigid.readModels, tenant.tenant_id, key.keyId);
    if (!row) throw new NotFoundError('The API key');
    response
      .status(201)
      .location(`/api/v1/tenants/${tenant.tenant_id}/api-keys/${key.keyId}`)
      .json({ ...apiKeyJson(row), key: key.token });
  });

  router.delete('/:id', async (request, response) => {
    const ifMatch = ifMatchRevision(request);
    const tenant = await loadTenant(request.params.id);
    const written = await deleteTenant(sigid, tenant.tenant_id, {
      ...useCaseOf(request, response, tenant.tenant_id),
      ifMatch,
    });
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  return router;
}
