import { apiAggregate } from '../commands/api.ts';
import type { ApiScope, ApiSettings } from '../events/api.ts';
import type { ApiRow } from '../read-models/apis.ts';
import { findApplication } from '../read-models/applications.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ConflictError, NotFoundError, PreconditionFailedError } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';
import { claimReservation, releaseReservation } from './reservations.ts';

type Change = UseCase & { ifMatch?: number | undefined };

/** An API's access token lifetime when the request does not say: one hour. */
export const DEFAULT_API_TOKEN_TTL_SECONDS = 3600;

export interface NewApi {
  name: string;
  identifier: string;
  scopes?: ApiScope[] | undefined;
  access_token_ttl_seconds?: number | undefined;
}

async function apiState(sigid: Sigid, tenantId: string, apiId: string) {
  const history = await sigid.log.readStream(apiAggregate.stream(tenantId, apiId));
  const state = history.reduce(
    (current, event) => apiAggregate.decider.evolve(current, event as never),
    apiAggregate.decider.initialState(),
  );
  return { history, state };
}

/**
 * Registers an API: claims its identifier within the tenant, then records `api.created`. The id
 * comes from `context.random`, so a retried request repeats each step as a no-op. An identifier
 * whose API was deleted is taken over even if its release never landed; one claimed for an API never
 * created (its creator died) is adopted, as applications' client_ids are.
 */
export async function createApi(
  sigid: Sigid,
  input: NewApi,
  context: UseCase,
): Promise<{ apiId: string; written: Written }> {
  const settings: ApiSettings = {
    name: input.name,
    scopes: input.scopes ?? [],
    access_token_ttl_seconds: input.access_token_ttl_seconds ?? DEFAULT_API_TOKEN_TTL_SECONDS,
  };
  const ownerId = context.random.id('api');
  const claim = await claimReservation(
    sigid,
    {
      scope: context.tenantId,
      kind: 'api_identifier',
      value: input.identifier,
      ownerId,
      ownerExists: async (id) => (await apiState(sigid, context.tenantId, id)).history.length > 0,
      ownerDeleted: async (id) => (await apiState(sigid, context.tenantId, id)).state.status === 'deleted',
    },
    context,
  );
  const apiId = claim.ownerId;
  failpoint('api.create:after-identifier');
  const created = await handleCommand(
    sigid.log,
    apiAggregate,
    apiId,
    { type: 'create_api', api_id: apiId, identifier: input.identifier, settings },
    claim.adopted ? { ...context, ifMatch: -1 } : context,
  ).catch((error: unknown) => {
    if (claim.adopted && error instanceof PreconditionFailedError)
      throw new ConflictError('identifier_taken', `The api_identifier "${input.identifier}" is already taken.`);
    throw error;
  });
  let written: Written = created;
  if (created.position === null) {
    // A retried create that had landed: its answer waits for that event like the first run's would.
    const { history } = await apiState(sigid, context.tenantId, apiId);
    const event = history.find((recorded) => recorded.type === 'api.created');
    if (event) written = { position: event.position, types: [event.type] };
  }
  return { apiId, written };
}

/** Changes an API's name, scopes or token lifetime; a scope removed leaves every grant. */
export function updateApi(
  sigid: Sigid,
  apiId: string,
  changes: Partial<ApiSettings>,
  context: Change,
): Promise<Written> {
  const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  return handleCommand(sigid.log, apiAggregate, apiId, { type: 'update_api', changes: defined }, context);
}

/**
 * Deletes an API: `api.deleted` is the write (its grants end), then its identifier is released. If
 * the process dies between the two, the identifier is still free in fact: the next claimant takes
 * over a deleted owner's claim.
 */
export async function deleteApi(sigid: Sigid, api: ApiRow, context: Change): Promise<Written> {
  const written = await handleCommand(sigid.log, apiAggregate, api.api_id, { type: 'delete_api' }, context);
  failpoint('api.delete:after-delete');
  const { ifMatch: _pinned, random: _random, ...write } = context;
  await releaseReservation(
    sigid,
    { scope: context.tenantId, kind: 'api_identifier', value: api.identifier, ownerId: api.api_id },
    write,
  ).catch((error: unknown) => {
    // Taken over already, or released by an earlier run of this delete.
    if (!(error instanceof NotFoundError)) throw error;
  });
  return written;
}

/**
 * Sets the scopes of an API an application may get. The application must be one of the tenant's
 * (404 otherwise); each scope one of the API's (400 naming it, nothing written).
 */
export async function setApiGrant(
  sigid: Sigid,
  api: ApiRow,
  applicationId: string,
  scopes: string[],
  context: Change,
): Promise<Written> {
  if (!(await findApplication(sigid.readModels, context.tenantId, applicationId))) {
    throw new NotFoundError('The application');
  }
  return handleCommand(
    sigid.log,
    apiAggregate,
    api.api_id,
    { type: 'set_grant', application_id: applicationId, scopes },
    context,
  );
}

/** Removes an application's grant on an API (404 when it has none). */
export function removeApiGrant(sigid: Sigid, api: ApiRow, applicationId: string, context: Change): Promise<Written> {
  return handleCommand(
    sigid.log,
    apiAggregate,
    api.api_id,
    { type: 'remove_grant', application_id: applicationId },
    context,
  );
}
