import type { KeyObject } from 'node:crypto';
import type { SealedSecrets } from '../secrets/sealed-secrets.ts';
import { secretKey } from './signature.ts';

/**
 * Webhook signing secrets, kept in the sealed-secrets store (kind `webhook-secret`, owned by their
 * endpoint); events carry only the secret's id. A new secret is inactive until its event
 * (`webhook.endpoint.created` or `secret_rotated`) is seen; the `secrets` reactor then activates
 * it, expires the secrets activated before the rotation at `previous_secret_expires_at`, and deletes an endpoint's
 * secrets when it is deleted. An endpoint signs with its current secret and, during a rotation's
 * overlap window, with the previous one too.
 */
export async function storeWebhookSecret(
  secrets: SealedSecrets,
  input: { tenantId: string; endpointId: string; secretId: string; secret: string },
): Promise<void> {
  await secrets.put(input.tenantId, 'webhook-secret', input.secretId, Buffer.from(input.secret), {
    ownerId: input.endpointId,
  });
}

/** The keys an endpoint signs with now, newest first: the current secret, then any still in overlap. */
export async function signingKeys(
  secrets: SealedSecrets,
  tenantId: string,
  endpointId: string,
  now: Date = new Date(),
): Promise<KeyObject[]> {
  const owned = await secrets.listOwned(tenantId, 'webhook-secret', endpointId, now);
  return owned.map((secret) => secretKey(secret.value.toString()));
}
