import { apiKeyDecider } from '../commands/api-key.ts';
import { PLATFORM_TENANT, tenantDecider, tenantSlugDecider } from '../commands/tenant.ts';
import { handleCommand } from './command-handler.ts';
import { mintKey, storeApiKeySecret } from './credentials.ts';
import type { WriteContext } from './event-log.ts';
import { type Actor, streamName } from './event-store/port.ts';
import { newId } from './ids.ts';
import type { Sigid } from './sigid.ts';

export const INITIAL_KEY_NAME = 'Initial admin key';

/**
 * Creates a tenant with its first admin key: reserves the slug platform-wide (a stream that must not
 * exist yet), creates the tenant, stores the key's hash, then records the key. Returns the key once.
 */
export async function provisionTenant(
  sigid: Sigid,
  input: { name: string; slug: string },
  actor: Actor,
  correlationId: string,
): Promise<{ tenantId: string; keyId: string; token: string; position: number | null }> {
  const tenantId = newId('ten');
  await handleCommand(
    sigid.log,
    tenantSlugDecider,
    `${PLATFORM_TENANT}-slug.${input.slug}`,
    { type: 'reserve_slug', slug: input.slug, tenant_id: tenantId },
    { tenantId: PLATFORM_TENANT, actor, correlationId },
  );
  const context = { tenantId, actor, correlationId };
  await handleCommand(
    sigid.log,
    tenantDecider,
    streamName(tenantId, tenantId),
    { type: 'create_tenant', tenant_id: tenantId, slug: input.slug, name: input.name },
    context,
  );
  const issued = await issueApiKey(sigid, INITIAL_KEY_NAME, context);
  return { tenantId, ...issued };
}

/**
 * Issues a tenant admin key: makes it, stores only its hash, then records `api_key.created`.
 * Returns the key itself, which is shown once and kept nowhere.
 */
export async function issueApiKey(
  sigid: Sigid,
  name: string,
  context: WriteContext,
): Promise<{ keyId: string; token: string; position: number | null }> {
  const key = mintKey('sk');
  await storeApiKeySecret(sigid.db, context.tenantId, key.keyId, key.hash);
  const issued = await handleCommand(
    sigid.log,
    apiKeyDecider,
    streamName(context.tenantId, key.keyId),
    { type: 'create_api_key', key_id: key.keyId, name },
    context,
  );
  return { keyId: key.keyId, token: key.token, position: issued.position };
}
