import { Router } from 'express';
import { z } from 'zod';
import { signingAlgSchema } from '../../events/signing-key.ts';
import { listSigningKeys, type SigningKeyRow } from '../../read-models/signing-keys.ts';
import { rotateSigningKeys } from '../../services/signing-keys.ts';
import { ValidationError } from '../errors.ts';
import type { Sigid } from '../sigid.ts';
import { tenantOf, useCaseOf } from './auth.ts';
import { listQuery, page } from './pagination.ts';
import { consistent } from './read-your-writes.ts';
import { parseQuery } from './validate.ts';

export const signingKeysQuery = z.strictObject({
  ...listQuery.shape,
  status: z.enum(['next', 'active', 'retiring', 'retired']).optional(),
});

export const rotateSigningKeysBody = z.strictObject({
  /** Rotate only this algorithm's keys; every algorithm when left out. */
  alg: signingAlgSchema.optional(),
});

/** A key as the API shows it: public information only. */
export function signingKeyJson(row: SigningKeyRow) {
  return {
    id: row.kid,
    object: 'signing_key',
    alg: row.alg,
    use: 'sig',
    status: row.status,
    public_jwk: { ...row.public_jwk, kid: row.kid, alg: row.alg, use: 'sig' },
    created_at: row.created_at.toISOString(),
    activated_at: row.activated_at?.toISOString() ?? null,
    retire_at: row.retire_at?.toISOString() ?? null,
    retired_at: row.retired_at?.toISOString() ?? null,
  };
}

/**
 * `/api/v1/signing-keys`: the signing keys of the tenant's OIDC issuer (public parts, statuses and
 * dates; private parts never leave the sealed-secrets store) and their rotation.
 */
export function signingKeysRouter(sigid: Sigid): Router {
  const router = Router();

  router.get('/', async (request, response) => {
    const query = parseQuery(signingKeysQuery, request);
    const rows = await listSigningKeys(sigid.readModels, tenantOf(response), {
      limit: query.limit + 1,
      after: query.starting_after,
      statuses: query.status ? [query.status] : undefined,
    });
    response.json(page(rows, query.limit, (row) => row.kid, signingKeyJson));
  });

  router.post('/rotate', async (request, response) => {
    // The body is optional: no body rotates every algorithm.
    const parsed = rotateSigningKeysBody.safeParse(request.body ?? {});
    if (!parsed.success) throw new ValidationError('The request body is not valid.', parsed.error.issues);
    const tenantId = tenantOf(response);
    const { initialized, written } = await rotateSigningKeys(sigid, tenantId, useCaseOf(request, response), {
      alg: parsed.data.alg,
    });
    await consistent(sigid, request, written);
    const keys = await listSigningKeys(sigid.readModels, tenantId, {
      limit: 1000,
      statuses: ['active', 'next', 'retiring'],
    });
    response.json({ object: 'signing_key_rotation', initialized, keys: keys.map(signingKeyJson) });
  });

  return router;
}
