import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * A SigID account's second factors (platform events, in the account's own `mfa-{account_id}`
 * stream): an authenticator app (TOTP) and one-time recovery codes. The TOTP seed and the codes'
 * hashes live in the sealed-secrets store under the ids named here; never in an event.
 */
export const mfaTotpEnrolled = defineEvent({
  type: 'mfa.totp_enrolled',
  version: 1,
  description:
    'An authenticator app (TOTP) was enrolled for a SigID account, proven by a first code; it replaces the one before. The seed is in the sealed-secrets store under `factor_id`.',
  schema: z.object({ account_id: z.string(), factor_id: z.string(), step: z.number().int() }),
});

export const mfaTotpRemoved = defineEvent({
  type: 'mfa.totp_removed',
  version: 1,
  description: "A SigID account's authenticator app was removed (its seed is destroyed); recovery codes go with it.",
  schema: z.object({ account_id: z.string(), factor_id: z.string() }),
});

export const mfaRecoveryCodesIssued = defineEvent({
  type: 'mfa.recovery_codes_issued',
  version: 1,
  description:
    'One-time recovery codes were issued for a SigID account (shown once; their hashes sealed under `batch_id`); the earlier ones stop working.',
  schema: z.object({ account_id: z.string(), batch_id: z.string(), count: z.number().int() }),
});

export const mfaChallenged = defineEvent({
  type: 'mfa.challenged',
  version: 1,
  description:
    "A SigID account's second factor was asked for at sign-in: the method, the outcome (a replayed TOTP code fails), and for a recovery code which one was used and how many remain.",
  schema: z.object({
    account_id: z.string(),
    method: z.enum(['totp', 'recovery_code']),
    outcome: z.enum(['succeeded', 'failed']),
    reason: z.enum(['wrong_code', 'code_reused']).nullable(),
    /** The TOTP time step a successful code belonged to (a later code must be of a later step). */
    step: z.number().int().nullable(),
    /** The recovery code used (its index in the batch), and how many are left. */
    recovery_code: z.object({ batch_id: z.string(), index: z.number().int(), remaining: z.number().int() }).nullable(),
  }),
});

export const mfaEvents = [mfaTotpEnrolled, mfaTotpRemoved, mfaRecoveryCodesIssued, mfaChallenged] as const;

export type MfaEvent = EventOf<(typeof mfaEvents)[number]>;
