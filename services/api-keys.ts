import { apiKeyAggregate } from '../commands/api-key.ts';
import { handleCommand } from '../src/command-handler.ts';
import { mintKey, storeApiKeySecret } from '../src/credentials.ts';
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
  await storeApiKeySecret(sigid.secrets, context.tenantId, key.keyId, key.hash);
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

/**
 * Revokes a tenant admin key: one append. The key is refused from the moment `api_keys` shows it
 * revoked (before this answers: read your writes), and the `secrets` reactor deletes its hash — so a
 * crash right after the append still leaves the key refused, and the hash deleted on restart.
 */
export async function revokeApiKey(sigid: Sigid, keyId: string, context: UseCase): Promise<Written> {
  const outcome = await handleCommand(sigid.log, apiKeyAggregate, keyId, { type: 'revoke_api_key' }, context);
  failpoint('api-key.revoked');
  return outcome;
}
