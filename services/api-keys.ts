import { apiKeyAggregate } from '../commands/api-key.ts';
import { handleCommand } from '../src/command-handler.ts';
import { deleteApiKeySecret, mintKey, storeApiKeySecret } from '../src/credentials.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';

/**
 * Issues a tenant admin key: makes it, stores only its hash, then records `api_key.created`.
 * Returns the key itself, which is shown once and kept nowhere. A crash between the two steps leaves
 * a hash no event names, which never authenticates (a key is valid only once its event is read).
 */
export async function issueApiKey(
  sigid: Sigid,
  name: string,
  context: UseCase,
): Promise<{ keyId: string; token: string; written: Written }> {
  const key = mintKey('sk', context.random);
  await storeApiKeySecret(sigid.db, context.tenantId, key.keyId, key.hash);
  failpoint('api-key.issue:after-secret');
  const issued = await handleCommand(
    sigid.log,
    apiKeyAggregate,
    key.keyId,
    { type: 'create_api_key', key_id: key.keyId, name },
    context,
  );
  return { keyId: key.keyId, token: key.token, written: issued };
}

/** Revokes a tenant admin key: refused from the moment `api_key.revoked` is in the log. */
export async function revokeApiKey(sigid: Sigid, keyId: string, context: UseCase): Promise<Written> {
  const outcome = await handleCommand(sigid.log, apiKeyAggregate, keyId, { type: 'revoke_api_key' }, context);
  await deleteApiKeySecret(sigid.db, context.tenantId, keyId);
  return outcome;
}
