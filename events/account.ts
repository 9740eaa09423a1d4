import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * A person's SigID account: global, one per person, reused at every tenant (platform events, in the
 * account's own stream). Its personal data is sealed under the account's subject key: erasing the
 * account makes it read as erased in every replay. A tenant never sees the account id, only the
 * pairwise `sub` of its link.
 */
export const accountCreated = defineEvent({
  type: 'account.created',
  version: 1,
  description: 'A person signed up for a SigID account (global, reused at every tenant).',
  schema: z.object({
    account_id: z.string(),
    email: z.string(),
    /** How the account was made: with a password, with a passkey alone, or by a first sign-in through an SSO connection. */
    method: z.enum(['password', 'passkey', 'federated']),
  }),
  personal: { subject: (data) => data.account_id, fields: ['email'] },
});

export const accountEmailVerified = defineEvent({
  type: 'account.email_verified',
  version: 1,
  description: "A SigID account's e-mail address was verified (its owner followed the link sent to it).",
  schema: z.object({ account_id: z.string() }),
});

export const accountPasswordSet = defineEvent({
  type: 'account.password_set',
  version: 1,
  description:
    "A SigID account's password was set: at sign-up, changed by its owner, or reset through a link. The hash lives in the sealed-secrets store under `password_id`; never in an event.",
  schema: z.object({
    account_id: z.string(),
    password_id: z.string(),
    reason: z.enum(['sign_up', 'changed', 'reset']),
  }),
});

export const accountLinked = defineEvent({
  type: 'account.linked',
  version: 1,
  description:
    "A SigID account was linked to a tenant under a pairwise `sub`: random for each link, so two tenants' subs for one person are unrelated.",
  schema: z.object({ account_id: z.string(), tenant_id: z.string(), sub: z.string() }),
});

export const accountUnlinked = defineEvent({
  type: 'account.unlinked',
  version: 1,
  description:
    "A SigID account's link to a tenant ended (the tenant deleted the user): signing in there again makes a new, unrelated `sub`.",
  schema: z.object({ account_id: z.string(), tenant_id: z.string(), sub: z.string() }),
});

export const accountEvents = [
  accountCreated,
  accountEmailVerified,
  accountPasswordSet,
  accountLinked,
  accountUnlinked,
] as const;

export type AccountEvent = EventOf<(typeof accountEvents)[number]>;
