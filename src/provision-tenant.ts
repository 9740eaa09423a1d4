import { apiKeyDecider } from '../commands/api-key.ts';
import { PLATFORM_TENANT, tenantDecider, tenantSlugDecider } from '../commands/tenant.ts';
import { handleCommand } from './command-handler.ts';
import { mintKey, storeApiKeySecret } from './credentials.ts';
import { ConflictError } from './errors.ts';
import type { WriteContext } from './event-log.ts';
import { type Actor, streamName } from './event-store/port.ts';
import { newId } from './ids.ts';
import type { Sigid } from './sigid.ts';

export const INITIAL_KEY_NAME = 'Initial admin key';
/** A reservation this old whose tenant does not exist was left by a creator that died (a create takes milliseconds). */
const ORPHAN_AFTER_MS = 60_000;

/**
 * Creates a tenant with its first admin key: reserves the slug platform-wide (a stream that must not
 * exist yet), creates the tenant, stores the key's hash, then records the key. Returns the key once.
 *
 * A reservation whose tenant was never created (its creator died between the two appends; older
 * than a minute) is taken over: the tenant is created under the id the slug was reserved for. Two
 * creators racing for it both append to that tenant's stream expecting it absent, so exactly one
 * tenant gets the slug; the other is told the slug is taken.
 */
export async function provisionTenant(
  sigid: Sigid,
  input: { name: string; slug: string },
  actor: Actor,
  correlationId: string,
): Promise<{ tenantId: string; keyId: string; token: string; position: number | null }> {
  const slugStream = `${PLATFORM_TENANT}-slug.${input.slug}`;
  let tenantId = newId('ten');
  let taken: ConflictError | undefined;
  try {
    await handleCommand(
      sigid.log,
      tenantSlugDecider,
      slugStream,
      { type: 'reserve_slug', slug: input.slug, tenant_id: tenantId },
      { tenantId: PLATFORM_TENANT, actor, correlationId },
    );
  } catch (error) {
    if (!(error instanceof ConflictError && error.code === 'slug_taken')) throw error;
    const orphan = await orphanedReservation(sigid, slugStream);
    if (!orphan) throw error;
    tenantId = orphan;
    taken = error;
  }
  const context = { tenantId, actor, correlationId };
  try {
    await handleCommand(
      sigid.log,
      tenantDecider,
      streamName(tenantId, tenantId),
      { type: 'create_tenant', tenant_id: tenantId, slug: input.slug, name: input.name },
      context,
    );
  } catch (error) {
    // Someone else created the tenant this slug is reserved for first: the slug is taken.
    if (error instanceof ConflictError && error.code === 'tenant_exists') {
      throw taken ?? new ConflictError('slug_taken', `The slug "${input.slug}" is already taken.`);
    }
    throw error;
  }
  const issued = await issueApiKey(sigid, INITIAL_KEY_NAME, context);
  return { tenantId, ...issued };
}

/** The tenant a slug is reserved for, when that tenant was never created; null otherwise. */
async function orphanedReservation(sigid: Sigid, slugStream: string): Promise<string | null> {
  const reservation = (await sigid.log.readStream(slugStream)).findLast(
    (event) => event.type === 'tenant.slug.reserved',
  );
  const reservedFor = (reservation?.data as { tenant_id?: string } | undefined)?.tenant_id;
  if (!reservation || !reservedFor || Date.now() - reservation.time.getTime() < ORPHAN_AFTER_MS) return null;
  const tenant = await sigid.log.readStream(streamName(reservedFor, reservedFor));
  return tenant.length === 0 ? reservedFor : null;
}

/**
 * Issues a tenant admin key: makes it, stores only its hash (inactive), then records `api_key.created`,
 * which activates it.
 * Returns the key itself, which is shown once and kept nowhere.
 */
export async function issueApiKey(
  sigid: Sigid,
  name: string,
  context: WriteContext,
): Promise<{ keyId: string; token: string; position: number | null }> {
  const key = mintKey('sk');
  await storeApiKeySecret(sigid.secrets, context.tenantId, key.keyId, key.hash);
  const issued = await handleCommand(
    sigid.log,
    apiKeyDecider,
    streamName(context.tenantId, key.keyId),
    { type: 'create_api_key', key_id: key.keyId, name },
    context,
  );
  return { keyId: key.keyId, token: key.token, position: issued.position };
}
