import type { Request, RequestHandler, Response } from 'express';
import { findTenant } from '../../read-models/tenants.ts';
import { type UseCase, useCase } from '../../services/context.ts';
import { parseKey, verifyApiKey, verifyOperatorKey } from '../credentials.ts';
import { ForbiddenError, UnauthorizedError } from '../errors.ts';
import type { WriteContext } from '../event-log.ts';
import type { Actor } from '../event-store/port.ts';
import type { Sigid } from '../sigid.ts';
import { randomOf } from './idempotency.ts';

export type Principal = { kind: 'operator'; id: string } | { kind: 'tenant'; tenantId: string; keyId: string };

function bearer(request: Request): string {
  const header = request.get('authorization');
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new UnauthorizedError();
  return match[1] as string;
}

/** Admits platform operators only (SIGID_OPERATOR_KEY, or a key made by `sigid operator-key create`). */
export function requireOperator(sigid: Sigid): RequestHandler {
  return async (request, response, next) => {
    const id = await verifyOperatorKey(sigid.db, bearer(request), sigid.config.operatorKey);
    if (!id) throw new UnauthorizedError('This route needs a platform operator key.');
    response.locals.principal = { kind: 'operator', id } satisfies Principal;
    next();
  };
}

/** Admits tenant admin keys of active tenants; every later query is scoped to that key's tenant. */
export function requireTenantKey(sigid: Sigid): RequestHandler {
  return async (request, response, next) => {
    const parsed = parseKey(bearer(request));
    const tenantId = parsed ? await verifyApiKey(sigid.db, parsed) : null;
    if (!parsed || !tenantId) throw new UnauthorizedError('The API key is missing, wrong or revoked.');
    const tenant = await findTenant(sigid.readModels, tenantId);
    if (!tenant || tenant.status === 'deleted')
      throw new UnauthorizedError('The API key is missing, wrong or revoked.');
    if (tenant.status === 'suspended') throw new ForbiddenError('The tenant is suspended.');
    response.locals.principal = { kind: 'tenant', tenantId, keyId: parsed.keyId } satisfies Principal;
    next();
  };
}

export function principalOf(response: Response): Principal {
  const principal = response.locals.principal as Principal | undefined;
  if (!principal) throw new UnauthorizedError();
  return principal;
}

/** The caller's tenant: the only tenant a tenant-key request can ever read or write. */
export function tenantOf(response: Response): string {
  const principal = principalOf(response);
  if (principal.kind !== 'tenant') throw new UnauthorizedError();
  return principal.tenantId;
}

export function actorOf(response: Response): Actor {
  const principal = principalOf(response);
  return principal.kind === 'operator'
    ? { type: 'operator', id: principal.id }
    : { type: 'api_key', id: principal.keyId };
}

/**
 * The use case a request runs: who writes, for which tenant, under which request, and its source of
 * ids and secrets (seeded by the idempotency middleware when the request has an Idempotency-Key).
 */
export function useCaseOf(request: Request, response: Response, tenantId: string = tenantOf(response)): UseCase {
  return useCase(writeContext(request, response, tenantId), randomOf(response));
}

/** Who writes, for which tenant, under which request: the metadata of the events a request appends. */
export function writeContext(
  request: Request,
  response: Response,
  tenantId: string = tenantOf(response),
): WriteContext {
  return { tenantId, actor: actorOf(response), correlationId: String(request.id) };
}
