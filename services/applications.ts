import { type ApplicationCommand, applicationAggregate } from '../commands/application.ts';
import type { ApplicationKind, ApplicationMetadata } from '../events/application.ts';
import { type ApplicationRow, findApplicationByClientId } from '../read-models/applications.ts';
import {
  checkApplicationMetadata,
  isConfidential,
  notificationEndpointRefusal,
  withDefaults,
} from '../src/applications/client-metadata.ts';
import { clientSecretMatches, mintClientSecret, storeClientSecret } from '../src/applications/client-secrets.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ConflictError, NotFoundError, PreconditionFailedError, UnprocessableError } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import { checkWebhookUrl, WebhookUrlRefused } from '../src/webhooks/ssrf.ts';
import type { UseCase, Written } from './context.ts';
import { claimReservation, releaseReservation } from './reservations.ts';

type Change = UseCase & { ifMatch?: number | undefined };

/** How long a rotated-out client secret keeps working when the request does not say: 24 hours. */
export const DEFAULT_SECRET_OVERLAP_MS = 24 * 3600 * 1000;

export interface NewApplication extends Partial<ApplicationMetadata> {
  kind: ApplicationKind;
  client_name: string;
  /** A client_id to keep (an application moved from another IdP); made up when left out. */
  client_id?: string | undefined;
}

/**
 * A CIBA notification endpoint must not turn SigID into a proxy into its own network: the webhooks'
 * SSRF rules (https, or http to an allowlisted host; every address the host resolves to public).
 * 422 with the rule's code; the form (a URL, no credentials) is the decider's check.
 */
async function checkNotificationEndpoint(sigid: Sigid, endpoint: string | null | undefined): Promise<void> {
  if (typeof endpoint !== 'string' || notificationEndpointRefusal(endpoint) !== null) return;
  const { allowlist, resolve } = sigid.config.webhooks;
  try {
    await checkWebhookUrl(endpoint, allowlist, resolve);
  } catch (error) {
    if (!(error instanceof WebhookUrlRefused)) throw error;
    const code = error.code === 'invalid_url' ? 'invalid_client_metadata' : error.code;
    throw new UnprocessableError(code, `backchannel_client_notification_endpoint: ${error.message}`, [
      { path: 'backchannel_client_notification_endpoint', message: error.message, code: error.code },
    ]);
  }
}

async function applicationState(sigid: Sigid, tenantId: string, applicationId: string) {
  const history = await sigid.log.readStream(applicationAggregate.stream(tenantId, applicationId));
  const state = history.reduce(
    (current, event) => applicationAggregate.decider.evolve(current, event as never),
    applicationAggregate.decider.initialState(),
  );
  return { history, state };
}

/**
 * Registers an application: fills in its kind's defaults and refuses metadata the kind does not
 * allow (before anything is written), claims its client_id within the tenant, stores a confidential
 * application's secret hash sealed, then records `application.created`. Returns the client secret,
 * shown once (null for a public client). Every id and the secret come from `context.random`, so a
 * retried request (the same Idempotency-Key) repeats each step as a no-op and answers the same.
 *
 * A client_id whose application was deleted is taken over even if its release never landed; one
 * claimed for an application never created (its creator died; older than a minute) is adopted, the
 * application created under the id it was claimed for, expecting its stream absent.
 */
export async function createApplication(
  sigid: Sigid,
  input: NewApplication,
  context: UseCase,
): Promise<{ applicationId: string; clientId: string; clientSecret: string | null; written: Written }> {
  const { kind, client_id: givenClientId, ...given } = input;
  const metadata = withDefaults(kind, given);
  checkApplicationMetadata(kind, metadata);
  await checkNotificationEndpoint(sigid, metadata.backchannel_client_notification_endpoint);
  // Every draw first, in one order, so a retry draws the same values whatever it finds done.
  const ownerId = context.random.id('app');
  const clientId = givenClientId ?? context.random.bytes(18).toString('base64url');
  const secret = isConfidential(kind) ? mintClientSecret(context.random) : null;

  const claim = await claimReservation(
    sigid,
    {
      scope: context.tenantId,
      kind: 'client_id',
      value: clientId,
      ownerId,
      ownerExists: async (id) => (await applicationState(sigid, context.tenantId, id)).history.length > 0,
      ownerDeleted: async (id) => (await applicationState(sigid, context.tenantId, id)).state.status === 'deleted',
    },
    context,
  );
  failpoint('application.create:after-client-id');
  const applicationId = claim.ownerId;
  if (secret) {
    await storeClientSecret(sigid.secrets, {
      tenantId: context.tenantId,
      applicationId,
      secretId: secret.secretId,
      hash: secret.hash,
    });
  }
  failpoint('application.create:after-secret');
  const created = await handleCommand(
    sigid.log,
    applicationAggregate,
    applicationId,
    {
      type: 'create_application',
      application_id: applicationId,
      client_id: clientId,
      kind,
      metadata,
      secret_id: secret?.secretId ?? null,
    },
    // An adopted application id must still be free: whoever creates it first gets the client_id.
    claim.adopted ? { ...context, ifMatch: -1 } : context,
  ).catch((error: unknown) => {
    if (claim.adopted && error instanceof PreconditionFailedError)
      throw new ConflictError('client_id_taken', `The client_id "${clientId}" is already taken.`);
    throw error;
  });
  let written: Written = created;
  if (created.position === null) {
    // A retried create that had landed: its answer waits for that event like the first run's would.
    const { history } = await applicationState(sigid, context.tenantId, applicationId);
    const event = history.find((recorded) => recorded.type === 'application.created');
    if (event) written = { position: event.position, types: [event.type] };
  }
  return { applicationId, clientId, clientSecret: secret?.secret ?? null, written };
}

/** Changes an application's metadata; the result must still be one its kind allows (422 otherwise). */
export async function updateApplication(
  sigid: Sigid,
  applicationId: string,
  changes: Partial<ApplicationMetadata>,
  context: Change,
): Promise<Written> {
  await checkNotificationEndpoint(sigid, changes.backchannel_client_notification_endpoint);
  const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  const command: ApplicationCommand = { type: 'update_application', changes: defined };
  return handleCommand(sigid.log, applicationAggregate, applicationId, command, context);
}

/**
 * Replaces a confidential application's client secret. The new one is stored sealed and inactive,
 * then `application.secret_rotated` is recorded; the `secrets` reactor activates it and makes the
 * ones in use before expire after `overlapMs` (default 24 h; 0: at once), during which both work.
 * Returns the new secret, shown once. A public application has none: 422 before anything is stored.
 */
export async function rotateClientSecret(
  sigid: Sigid,
  application: ApplicationRow,
  overlapMs: number | undefined,
  context: UseCase,
): Promise<{ clientSecret: string; previousExpiresAt: Date; written: Written }> {
  if (application.secret_id === null || !isConfidential(application.kind)) {
    throw new UnprocessableError('public_client', `A ${application.kind} application is public: it has no secret.`);
  }
  const previousExpiresAt = new Date(Date.now() + (overlapMs ?? DEFAULT_SECRET_OVERLAP_MS));
  const secret = mintClientSecret(context.random);
  await storeClientSecret(sigid.secrets, {
    tenantId: context.tenantId,
    applicationId: application.application_id,
    secretId: secret.secretId,
    hash: secret.hash,
  });
  failpoint('application.rotate:after-secret');
  const written = await handleCommand(
    sigid.log,
    applicationAggregate,
    application.application_id,
    {
      type: 'rotate_client_secret',
      secret_id: secret.secretId,
      previous_secret_expires_at: previousExpiresAt.toISOString(),
    },
    context,
  );
  if (written.position === null) {
    // A retried rotation that had landed: it answers with what its event records.
    const { history } = await applicationState(sigid, context.tenantId, application.application_id);
    const event = history.find(
      (recorded) =>
        recorded.type === 'application.secret_rotated' &&
        (recorded.data as { secret_id: string }).secret_id === secret.secretId,
    );
    if (event) {
      const recorded = (event.data as { previous_secret_expires_at: string }).previous_secret_expires_at;
      return {
        clientSecret: secret.secret,
        previousExpiresAt: new Date(recorded),
        written: { position: event.position, types: [event.type] },
      };
    }
  }
  return { clientSecret: secret.secret, previousExpiresAt, written };
}

/**
 * Deletes an application: `application.deleted` is the write (its secrets stop working at once, the
 * `secrets` reactor destroys them), then its client_id is released. If the process dies between
 * the two, the client_id is still free in fact: the next claimant takes over a deleted owner's claim.
 */
export async function deleteApplication(sigid: Sigid, application: ApplicationRow, context: Change): Promise<Written> {
  const written = await handleCommand(
    sigid.log,
    applicationAggregate,
    application.application_id,
    { type: 'delete_application' },
    context,
  );
  failpoint('application.delete:after-delete');
  const { ifMatch: _pinned, random: _random, ...write } = context;
  await releaseReservation(
    sigid,
    { scope: context.tenantId, kind: 'client_id', value: application.client_id, ownerId: application.application_id },
    write,
  ).catch((error: unknown) => {
    // Taken over already, or released by an earlier run of this delete.
    if (!(error instanceof NotFoundError)) throw error;
  });
  return written;
}

/**
 * Whether `presented` is a working client secret of the tenant's application `clientId`: its current
 * secret, or the previous one until its rotation's overlap ends. False for an unknown client_id, a
 * deleted application and a public one. Compared in constant time (SHA-256 digests).
 */
export async function verifyClientSecret(
  sigid: Pick<Sigid, 'readModels' | 'secrets'>,
  tenantId: string,
  clientId: string,
  presented: string,
): Promise<boolean> {
  if (typeof clientId !== 'string' || typeof presented !== 'string') return false;
  const application = await findApplicationByClientId(sigid.readModels, tenantId, clientId);
  if (!application || application.secret_id === null || !isConfidential(application.kind)) return false;
  return clientSecretMatches(sigid.secrets, tenantId, application.application_id, presented);
}
