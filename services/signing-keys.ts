import {
  type NewSigningKey,
  type SigningKeysCommand,
  type SigningKeysState,
  signingKeysAggregate,
} from '../commands/signing-keys.ts';
import { type SigningAlg, type SigningKeyEvent, signingAlgs } from '../events/signing-key.ts';
import { statusOrder } from '../read-models/signing-keys.ts';
import { handleCommand } from '../src/command-handler.ts';
import {
  generatePrivateJwk,
  type PrivateJwk,
  publicJwkOf,
  readPrivateJwk,
  samePublicJwk,
} from '../src/crypto/signing-keys.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';

/**
 * A tenant's OIDC signing keys: per algorithm (ES256, RS256) one `active` key that signs, one `next`
 * key published ahead of its turn, and `retiring` keys published until their `retire_at`. Private
 * parts are sealed (kind `signing-key`, under the kid) before the event that names the kid is
 * appended; the `secrets` reactor activates them from `signing_key.created` and destroys them from
 * `signing_key.retired`. Every change is one append to the tenant's `signing_keys` stream.
 */

type Context = Omit<UseCase, 'tenantId'>;

/** A private key as oidc-provider's `jwks` takes it: key material, kid, alg, use, and `key_ops` for those that must not sign. */
export type SigningJwk = PrivateJwk & { kid: string; alg: SigningAlg; use: 'sig'; key_ops?: ['verify'] };

/**
 * The kids a request draws: always four, in this order (ES256, RS256, ES256, RS256), whatever it
 * then does with them. A retried request draws the same ones from its seeded source, and each kid
 * always names a key of the same algorithm, so whichever path the retry takes (a first run that
 * meant to initialise may be retried as a rotation) the key already sealed under a kid fits it.
 */
function drawKids(context: Context): Record<SigningAlg, [first: string, second: string]> {
  const [es1, rs1, es2, rs2] = [0, 1, 2, 3].map(() => context.random.id('kid')) as [string, string, string, string];
  return { ES256: [es1, es2], RS256: [rs1, rs2] };
}

/** The tenant's keys as its stream says now (the write side's own view, never behind). */
async function currentKeys(sigid: Sigid, tenantId: string): Promise<SigningKeysState> {
  const history = await sigid.log.readStream(signingKeysAggregate.stream(tenantId, tenantId));
  const { decider } = signingKeysAggregate;
  return history.reduce(
    (state, event) => decider.evolve(state, event as unknown as SigningKeyEvent),
    decider.initialState(),
  );
}

/**
 * The key sealed under `kid`, made and sealed first if there is none: a retried request finds the
 * key its first run sealed and reuses it, so the public JWK its event records is always the public
 * part of the private key kept (of two racing writers, the first copy stays and both read it back).
 */
async function sealedKey(sigid: Sigid, tenantId: string, alg: SigningAlg, kid: string): Promise<NewSigningKey> {
  let stored = (await sigid.secrets.getStored(tenantId, 'signing-key', [kid])).get(kid);
  if (!stored) {
    const jwk = await generatePrivateJwk(alg);
    await sigid.secrets.put(tenantId, 'signing-key', kid, Buffer.from(JSON.stringify(jwk)));
    stored = (await sigid.secrets.getStored(tenantId, 'signing-key', [kid])).get(kid);
    if (!stored) throw new Error(`signing key ${kid} was sealed but cannot be read back`);
  }
  return { kid, public_jwk: publicJwkOf(readPrivateJwk(alg, kid, stored)) };
}

async function initialise(
  sigid: Sigid,
  tenantId: string,
  kids: Record<SigningAlg, [string, string]>,
  context: Context,
  step: string,
): Promise<{ initialized: boolean; written: Written }> {
  const keys: Extract<SigningKeysCommand, { type: 'initialise_keys' }>['keys'] = [];
  for (const alg of signingAlgs) {
    const [active, next] = kids[alg];
    keys.push({
      alg,
      active: await sealedKey(sigid, tenantId, alg, active),
      next: await sealedKey(sigid, tenantId, alg, next),
    });
  }
  failpoint(step);
  const write = { ...context, tenantId };
  const outcome = await handleCommand(
    sigid.log,
    signingKeysAggregate,
    tenantId,
    { type: 'initialise_keys', keys },
    write,
  );
  // Ours: made now, or by this request's first run. Another writer's set, made first, stays as it is.
  const initialized = outcome.state.keys.some((key) => key.kid === kids.ES256[0]);
  return { initialized, written: { position: outcome.position, types: outcome.types } };
}

/**
 * Makes sure the tenant's issuer has keys: a tenant with none gets an active and a next key for each
 * of ES256 and RS256 (of two processes doing so at once, the first set stays and the second records
 * nothing: `initialized` says whether the set is this call's); retiring keys past their `retire_at`
 * are retired. Idempotent: with nothing to do it appends nothing. The OIDC layer calls it before
 * `signingKeySet`.
 */
export async function ensureSigningKeys(
  sigid: Sigid,
  tenantId: string,
  context: Context,
): Promise<{ initialized: boolean; written: Written }> {
  const kids = drawKids(context);
  const state = await currentKeys(sigid, tenantId);
  if (state.keys.length === 0 || state.keys.some((key) => key.kid === kids.ES256[1])) {
    return initialise(sigid, tenantId, kids, context, 'signing-keys.ensure:after-seal');
  }
  const outcome = await handleCommand(
    sigid.log,
    signingKeysAggregate,
    tenantId,
    { type: 'retire_expired_keys', now: new Date().toISOString() },
    { ...context, tenantId },
  );
  return { initialized: false, written: { position: outcome.position, types: outcome.types } };
}

/**
 * Rotates the tenant's keys, every algorithm or the one given, in one append: the next key becomes
 * active (it was published since the last rotation), the active one retires at now +
 * SIGID_SIGNING_KEY_RETENTION_SECONDS (published until then, so the tokens it signed still verify), a
 * new next key is made and published, and retiring keys past their `retire_at` are retired. A tenant
 * without keys gets its first ones instead (`initialized`). A retry with the same Idempotency-Key
 * reuses the keys its first run sealed and records nothing twice.
 */
export async function rotateSigningKeys(
  sigid: Sigid,
  tenantId: string,
  context: Context,
  options: { alg?: SigningAlg | undefined } = {},
): Promise<{ initialized: boolean; written: Written }> {
  const now = new Date();
  const kids = drawKids(context);
  const state = await currentKeys(sigid, tenantId);
  // No keys yet, or this very request made the first ones (its third kid is only drawn for that).
  if (state.keys.length === 0 || state.keys.some((key) => key.kid === kids.ES256[1])) {
    return initialise(sigid, tenantId, kids, context, 'signing-keys.rotate:after-seal');
  }
  const retireAt = new Date(now.getTime() + sigid.config.signingKeyRetentionSeconds * 1000).toISOString();
  const commands: SigningKeysCommand[] = [{ type: 'retire_expired_keys', now: now.toISOString() }];
  for (const alg of options.alg ? [options.alg] : signingAlgs) {
    const next = await sealedKey(sigid, tenantId, alg, kids[alg][0]);
    commands.push({ type: 'rotate_keys', alg, next, retire_at: retireAt });
  }
  failpoint('signing-keys.rotate:after-seal');
  const outcome = await handleCommand(sigid.log, signingKeysAggregate, tenantId, commands, { ...context, tenantId });
  return { initialized: false, written: { position: outcome.position, types: outcome.types } };
}

/**
 * The private JWKs a tenant's oidc-provider is configured with (`new Provider(issuer, { jwks })`):
 * its active keys first, each as it is, then the next keys and the retiring ones whose `retire_at`
 * is still ahead, each with `key_ops: ["verify"]`. oidc-provider publishes every key of `jwks` at
 * its `jwks_uri` and signs with the first key of the algorithm whose `key_ops` (when present)
 * include `sign`: so the active key signs and the others are published only (docs/signing-keys.md).
 * Read from the tenant's stream, never behind a rotation; each private part is checked against the
 * public JWK its event recorded.
 */
export async function signingKeySet(
  sigid: Sigid,
  tenantId: string,
  now: Date = new Date(),
): Promise<{ keys: SigningJwk[] }> {
  const state = await currentKeys(sigid, tenantId);
  const live = state.keys
    .filter(
      (key) =>
        key.status === 'active' ||
        key.status === 'next' ||
        (key.status === 'retiring' && key.retire_at !== null && Date.parse(key.retire_at) > now.getTime()),
    )
    .sort((a, b) => statusOrder[a.status] - statusOrder[b.status] || a.alg.localeCompare(b.alg));
  const stored = await sigid.secrets.getStored(
    tenantId,
    'signing-key',
    live.map((key) => key.kid),
  );
  return {
    keys: live.map((key) => {
      const value = stored.get(key.kid);
      if (!value) throw new Error(`signing key ${key.kid} has no sealed private part`);
      const jwk = readPrivateJwk(key.alg, key.kid, value);
      if (!samePublicJwk(publicJwkOf(jwk), key.public_jwk)) {
        throw new Error(`signing key ${key.kid}: its sealed private part is not the key its event published`);
      }
      return {
        ...jwk,
        kid: key.kid,
        alg: key.alg,
        use: 'sig' as const,
        ...(key.status === 'active' ? {} : { key_ops: ['verify'] satisfies ['verify'] }),
      };
    }),
  };
}
