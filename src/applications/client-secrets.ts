import { createHash, timingSafeEqual } from 'node:crypto';
import type { RandomSource } from '../random.ts';
import { SealedValueUnreadable } from '../secrets/keyring.ts';
import type { SealedSecrets } from '../secrets/sealed-secrets.ts';

/**
 * Client secrets of confidential applications. A secret is `sigid_cs_` and 256 random bits in
 * base64url (a prefix secret scanners can be taught); only its SHA-256 is kept, sealed in the
 * sealed-secrets store (kind `client-secret`, owned by its application), and events carry only its
 * id (`cls_…`). A new secret is stored inactive: the `secrets` reactor activates it when its event
 * (`application.created`, `application.secret_rotated`) is seen, expires the secrets a rotation
 * retires at the end of its overlap, and deletes an application's secrets with it.
 */

const SECRET_PREFIX = 'sigid_cs_';
/** Longer than any secret SigID makes: a longer one is refused before it is hashed. */
const MAX_PRESENTED = 512;

const hashOf = (secret: string) => createHash('sha256').update(secret).digest();

/** A new client secret, its id and its hash, drawn from the use case's source (the same on a retried request). */
export function mintClientSecret(random: RandomSource): { secretId: string; secret: string; hash: Buffer } {
  const secretId = random.id('cls');
  const secret = `${SECRET_PREFIX}${random.bytes(32).toString('base64url')}`;
  return { secretId, secret, hash: hashOf(secret) };
}

/** Stores a secret's hash sealed and inactive, before the event that names it is appended. */
export async function storeClientSecret(
  secrets: SealedSecrets,
  input: { tenantId: string; applicationId: string; secretId: string; hash: Buffer },
): Promise<void> {
  await secrets.put(input.tenantId, 'client-secret', input.secretId, input.hash, { ownerId: input.applicationId });
}

/**
 * Whether `presented` is one of the application's working secrets: the current one, or the previous
 * one until its overlap ends. Compares SHA-256 digests in constant time, each working secret in turn
 * (never stopping at the first match).
 */
export async function clientSecretMatches(
  secrets: SealedSecrets,
  tenantId: string,
  applicationId: string,
  presented: string,
  now: Date = new Date(),
): Promise<boolean> {
  if (presented.length === 0 || presented.length > MAX_PRESENTED) return false;
  let working: Array<{ value: Buffer }>;
  try {
    working = await secrets.listOwned(tenantId, 'client-secret', applicationId, now);
  } catch (error) {
    if (error instanceof SealedValueUnreadable) return false;
    throw error;
  }
  const candidate = hashOf(presented);
  let matched = false;
  for (const { value } of working) {
    if (value.length === candidate.length && timingSafeEqual(value, candidate)) matched = true;
  }
  return matched;
}
