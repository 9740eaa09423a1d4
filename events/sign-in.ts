import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * What happened at a tenant's hosted pages, in the tenant's own stream (`{tenant}-sign_ins`): who
 * signed in (the tenant-local `sub`, never the account id or an e-mail address), how, for which
 * client, and why a sign-in was refused. The audit trail of sign-in; oidc-provider's own storage
 * holds the sessions themselves.
 */

/** How a person proved who they are (RFC 8176 `amr` values). */
export const amrSchema = z.enum(['pwd', 'hwk', 'swk', 'otp', 'mfa', 'user']);

export const signInSucceeded = defineEvent({
  type: 'sign_in.succeeded',
  version: 1,
  description:
    "A person signed in at the tenant's hosted pages: their tenant-local sub, the client they signed in for, and the methods used (RFC 8176 amr).",
  schema: z.object({
    sub: z.string(),
    client_id: z.string(),
    amr: z.array(amrSchema),
    interaction_id: z.string(),
  }),
});

/** Why a sign-in was refused; one answer for "no such account" and "wrong password" in the UI. */
export const signInFailureReason = z.enum([
  'invalid_credentials',
  'invalid_mfa_code',
  'invalid_passkey',
  'email_not_verified',
  'throttled',
  // The person signed in for an organization (the `organization` parameter) they are no member of.
  'not_organization_member',
  'user_blocked',
  // A sign-in through an SSO connection failed: the IdP refused it, could not be reached, or its answer did not verify.
  'sso_failed',
]);

export const signInFailed = defineEvent({
  type: 'sign_in.failed',
  version: 1,
  description:
    "A sign-in at the tenant's hosted pages was refused, with the reason code; the sub when the person is known to the tenant, else null (never the address that was typed).",
  schema: z.object({
    sub: z.string().nullable(),
    client_id: z.string(),
    reason: signInFailureReason,
    interaction_id: z.string(),
  }),
});

export const sessionStarted = defineEvent({
  type: 'session.started',
  version: 1,
  description: "A sign-in session began at the tenant's issuer: its id (the session's uid), sub and methods.",
  schema: z.object({ session_id: z.string(), sub: z.string(), amr: z.array(amrSchema) }),
});

export const sessionEnded = defineEvent({
  type: 'session.ended',
  version: 1,
  description:
    "A sign-in session at the tenant's issuer ended: signed out (RP-initiated logout or the account page), revoked from the account page, or ended everywhere at once.",
  schema: z.object({
    session_id: z.string(),
    sub: z.string(),
    reason: z.enum(['signed_out', 'revoked', 'signed_out_everywhere']),
  }),
});

export const consentGranted = defineEvent({
  type: 'consent.granted',
  version: 1,
  description: 'A person granted an application the scopes (and API scopes) shown on the consent screen.',
  schema: z.object({
    sub: z.string(),
    client_id: z.string(),
    grant_id: z.string(),
    scopes: z.array(z.string()),
    resource_scopes: z.record(z.string(), z.array(z.string())),
  }),
});

export const consentRevoked = defineEvent({
  type: 'consent.revoked',
  version: 1,
  description: "A person withdrew an application's consent from the account page; its tokens stop working.",
  schema: z.object({ sub: z.string(), client_id: z.string(), grant_id: z.string() }),
});

export const signInEvents = [
  signInSucceeded,
  signInFailed,
  sessionStarted,
  sessionEnded,
  consentGranted,
  consentRevoked,
] as const;

export type SignInEvent = EventOf<(typeof signInEvents)[number]>;
