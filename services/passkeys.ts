import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { passkeysAggregate } from '../commands/passkey.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { findPasskeyByCredential, listPasskeys, type PasskeyRow } from '../read-models/passkeys.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ConflictError } from '../src/errors.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';

/** A ceremony's challenge lives two minutes and is used once. */
const CHALLENGE_TTL_MS = 2 * 60_000;

/**
 * The relying party is SigID itself: the host of PUBLIC_URL, never a tenant's, so one passkey signs
 * its owner in at every tenant.
 */
export function relyingParty(sigid: Sigid): { id: string; origin: string; name: string } {
  const url = new URL(sigid.config.publicUrl);
  return { id: url.hostname, origin: url.origin, name: 'SigID' };
}

/** The account's WebAuthn user handle: stable, opaque, and not the account id (an HMAC of it). */
function userHandle(sigid: Sigid, accountId: string): Uint8Array {
  const key = Buffer.from(hkdfSync('sha256', sigid.masterKey, Buffer.alloc(0), 'sigid webauthn user handle', 32));
  return new Uint8Array(createHmac('sha256', key).update(accountId).digest());
}

async function storeChallenge(sigid: Sigid, challenge: string, accountId: string | null): Promise<string> {
  const id = randomBytes(18).toString('base64url');
  await sigid.readModels
    .insertInto('webauthn_challenges')
    .values({ id, challenge, account_id: accountId, expires_at: new Date(Date.now() + CHALLENGE_TTL_MS) })
    .execute();
  // Old ones go as new ones come (cheap: an index-less table of two-minute rows).
  await sigid.readModels.deleteFrom('webauthn_challenges').where('expires_at', '<', new Date()).execute();
  return id;
}

/** Uses a challenge: the first caller gets it, any other (in any process) gets nothing. */
async function takeChallenge(
  sigid: Sigid,
  id: string,
): Promise<{ challenge: string; account_id: string | null } | undefined> {
  if (typeof id !== 'string' || id.length === 0 || id.length > 64) return undefined;
  return sigid.readModels
    .deleteFrom('webauthn_challenges')
    .where('id', '=', id)
    .where('expires_at', '>', new Date())
    .returning(['challenge', 'account_id'])
    .executeTakeFirst();
}

/** The options of a registration ceremony for the account (its passkeys excluded: one per authenticator). */
export async function passkeyRegistrationOptions(
  sigid: Sigid,
  accountId: string,
  user: { userName: string; displayName: string },
) {
  const rp = relyingParty(sigid);
  const existing = await listPasskeys(sigid.readModels, accountId);
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userID: userHandle(sigid, accountId) as Uint8Array<ArrayBuffer>,
    userName: user.userName,
    userDisplayName: user.displayName,
    attestationType: 'none',
    excludeCredentials: existing.map((passkey) => ({
      id: passkey.credential_id,
      transports: passkey.transports as never,
    })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  });
  return { challengeId: await storeChallenge(sigid, options.challenge, accountId), options };
}

/** Verifies a registration (origin, RP ID, user verification) and adds the passkey (`passkey.added`). */
export async function verifyPasskeyRegistration(
  sigid: Sigid,
  accountId: string,
  challengeId: string,
  response: RegistrationResponseJSON,
  context: UseCase,
): Promise<{ passkeyId: string; written: Written } | { error: string }> {
  const taken = await takeChallenge(sigid, challengeId);
  if (!taken || taken.account_id !== accountId) return { error: 'challenge' };
  const rp = relyingParty(sigid);
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: taken.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    });
  } catch {
    return { error: 'invalid' };
  }
  if (!verified.verified) return { error: 'invalid' };
  const { credential, credentialDeviceType, credentialBackedUp } = verified.registrationInfo;
  const passkeyId = context.random.id('pk');
  try {
    const written = await handleCommand(
      sigid.log,
      passkeysAggregate,
      accountId,
      {
        type: 'add_passkey',
        account_id: accountId,
        passkey_id: passkeyId,
        credential_id: credential.id,
        public_key: Buffer.from(credential.publicKey).toString('base64url'),
        counter: credential.counter,
        transports: credential.transports ?? [],
        device_type: credentialDeviceType,
        backed_up: credentialBackedUp,
      },
      { ...context, tenantId: PLATFORM_TENANT },
    );
    return { passkeyId, written };
  } catch (error) {
    if (error instanceof ConflictError) return { error: 'exists' };
    throw error;
  }
}

/** The options of a usernameless sign-in (no credentials listed: the authenticator offers its own). */
export async function passkeyAuthenticationOptions(sigid: Sigid) {
  const rp = relyingParty(sigid);
  const options = await generateAuthenticationOptions({ rpID: rp.id, userVerification: 'required' });
  return { challengeId: await storeChallenge(sigid, options.challenge, null), options };
}

/**
 * Verifies a passkey sign-in: the credential found by its id among live passkeys (a removed one is
 * gone from the read model at its event, and the stream decides again), the signature, origin, RP
 * ID and user verification, and a counter that grows (`passkey.used`). The account, or null.
 */
export async function verifyPasskeyAuthentication(
  sigid: Sigid,
  challengeId: string,
  response: AuthenticationResponseJSON,
  context: UseCase,
): Promise<{ accountId: string; passkeyId: string } | null> {
  const taken = await takeChallenge(sigid, challengeId);
  if (!taken || typeof response?.id !== 'string') return null;
  const passkey = await findPasskeyByCredential(sigid.readModels, response.id);
  if (!passkey) return null;
  const rp = relyingParty(sigid);
  let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: taken.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
      credential: {
        id: passkey.credential_id,
        publicKey: new Uint8Array(Buffer.from(passkey.public_key, 'base64url')),
        counter: Number(passkey.counter),
        transports: passkey.transports as never,
      },
    });
  } catch {
    return null;
  }
  if (!verified.verified) return null;
  try {
    await handleCommand(
      sigid.log,
      passkeysAggregate,
      passkey.account_id,
      { type: 'use_passkey', passkey_id: passkey.passkey_id, counter: verified.authenticationInfo.newCounter },
      { ...context, tenantId: PLATFORM_TENANT },
    );
  } catch (error) {
    // Removed meanwhile, or a counter gone back (a cloned credential): no sign-in.
    if (error instanceof ConflictError || (error as { status?: number }).status === 404) return null;
    throw error;
  }
  return { accountId: passkey.account_id, passkeyId: passkey.passkey_id };
}

export function passkeysOf(sigid: Sigid, accountId: string): Promise<PasskeyRow[]> {
  return listPasskeys(sigid.readModels, accountId);
}

/** Removes one of the account's passkeys (`passkey.removed`); it signs no one in from then on. */
export function removePasskey(sigid: Sigid, accountId: string, passkeyId: string, context: UseCase): Promise<Written> {
  return handleCommand(
    sigid.log,
    passkeysAggregate,
    accountId,
    { type: 'remove_passkey', passkey_id: passkeyId },
    { ...context, tenantId: PLATFORM_TENANT },
  );
}
