import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * A SigID account's second factors: an authenticator app (TOTP) and one-time recovery codes.
 * Platform events, in the account's own `platform-mfa-{account_id}` stream. The TOTP seed and the
 * recovery codes' hashes live in the sealed-secrets store under the ids named here, never in an
 * event; nothing here is personal data (the account is named by its id only).
 */
export const mfaTotpEnrolled = defineEvent({
  type: 'mfa.totp_enrolled',
  version: 1,
  description:
    'An authenticator app (TOTP) was enrolled for a SigID account, proven by a first code of time step `step`; it replaces the one before. The seed is in the sealed-secrets store under `factor_id`, never in an event.',
  schema: z.object({
    account_id: z.string(),
    factor_id: z.string(),
    /** The 30-second time step of the code that proved it: no code of this step or earlier signs in. */
    step: z.number().int(),
  }),
});

export const mfaTotpRemoved = defineEvent({
  type: 'mfa.totp_removed',
  version: 1,
  description:
    "A SigID account's authenticator app was removed: its seed is destroyed, and the account's recovery codes stop working with it.",
  schema: z.object({ account_id: z.string(), factor_id: z.string() }),
});

export const mfaRecoveryCodesIssued = defineEvent({
  type: 'mfa.recovery_codes_issued',
  version: 1,
  description:
    "One-time recovery codes were issued for a SigID account (shown once; their hashes sealed under `batch_id`, never in an event); the account's earlier codes stop working.",
  schema: z.object({
    account_id: z.string(),
    batch_id: z.string(),
    /** Each code's id, in the order they were shown. */
    code_ids: z.array(z.string()),
    count: z.number().int(),
  }),
});

export const mfaRecoveryCodeUsed = defineEvent({
  type: 'mfa.recovery_code_used',
  version: 1,
  description:
    "A SigID account's recovery code was used as its second factor (once: it never works again); `remaining` codes of its batch are left.",
  schema: z.object({
    account_id: z.string(),
    batch_id: z.string(),
    code_id: z.string(),
    remaining: z.number().int(),
  }),
});

export const mfaChallenged = defineEvent({
  type: 'mfa.challenged',
  version: 1,
  description:
    "A SigID account's second factor was asked for: the method and the outcome (every attempt, so the trail has them all). A TOTP code of a time step already used (a replay) fails with `code_reused`, as does a recovery code used before; a recovery code that works is also `mfa.recovery_code_used`, in the same append.",
  schema: z.object({
    account_id: z.string(),
    method: z.enum(['totp', 'recovery_code']),
    outcome: z.enum(['succeeded', 'failed']),
    reason: z.enum(['wrong_code', 'code_reused']).nullable(),
    /** The time step of a TOTP code that worked: a later code must be of a later step. */
    step: z.number().int().nullable(),
  }),
});

export const mfaEvents = [
  mfaTotpEnrolled,
  mfaTotpRemoved,
  mfaRecoveryCodesIssued,
  mfaRecoveryCodeUsed,
  mfaChallenged,
] as const;

export type MfaEvent = EventOf<(typeof mfaEvents)[number]>;
