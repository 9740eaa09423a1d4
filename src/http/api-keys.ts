import { Router } from 'express';
import { z } from 'zod';
import { type ApiKeyRow, findApiKey, listApiKeys } from '../../read-models/api-keys.ts';
import { issueApiKey, revokeApiKey } from '../../services/api-keys.ts';
import { NotFoundError } from '../errors.ts';
import { isId } from '../ids.ts';
import type { Sigid } from '../sigid.ts';
import { lineSchema } from '../text.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { parseBody, parseQuery } from './validate.ts';

export const createApiKeyBody = z.strictObject({ name: lineSchema.trim().min(1).max(200) });

export function apiKeyJson(row: ApiKeyRow) {
  return {
    id: row.key_id,
    object: 'api_key',
    name: row.name,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
  };
}

/** A tenant's admin keys: `/api/v1/api-keys`. The key itself is returned once, on create. */
export function apiKeysRouter(sigid: Sigid): Router {
  const router = Router();

  router.post('/', async (request, response) => {
    const body = parseBody(createApiKeyBody, request);
    const tenantId = tenantOf(response);
    const key = await issueApiKey(sigid, body.name, useCaseOf(request, response));
    await consistent(sigid, request, key.written);
    const row = await findApiKey(sigid.readModels, tenantId, key.keyId);
    if (!row) throw new NotFoundError('The API key');
    response
      .status(201)
      .location(`/api/v1/api-keys/${key.keyId}`)
      .json({ ...apiKeyJson(row), key: key.token });
  });

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    const rows = await listApiKeys(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
    });
    response.json(page(rows, query.limit, (row) => row.key_id, apiKeyJson));
  });

  router.delete('/:id', async (request, response) => {
    const tenantId = tenantOf(response);
    const keyId = request.params.id;
    const row = isId('key', keyId) ? await findApiKey(sigid.readModels, tenantId, keyId) : undefined;
    if (!row || row.revoked_at) throw new NotFoundError('The API key');
    const written = await revokeApiKey(sigid, keyId, useCaseOf(request, response));
    await consistent(sigid, request, written);
    response.status(204).end();
  });

  return router;
}
