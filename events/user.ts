import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * A tenant's users: the tenant's side of a person, keyed by the pairwise `sub` of their account's
 * link (stream `{tenant_id}-{sub}`). What the tenant holds about them (the e-mail copy, profile
 * fields, metadata) is personal data sealed under the sub's subject key, so deleting the user
 * (crypto-shredding that key) leaves every old event with its sub and its personal fields null.
 */

/** The profile fields a tenant owns and changes through the API. */
export const userProfileFields = {
  name: z.string().nullable(),
  given_name: z.string().nullable(),
  family_name: z.string().nullable(),
  picture: z.string().nullable(),
  /** A small JSON object of the tenant's own. */
  metadata: z.record(z.string(), z.unknown()),
};

/** What a user's record holds besides its status: the account's e-mail copy and the tenant's profile. */
export const userFields = {
  email: z.string().nullable(),
  email_verified: z.boolean(),
  ...userProfileFields,
};

const userFieldsSchema = z.object(userFields);
/** Every field of a user's record, all present. */
export type UserFields = z.infer<typeof userFieldsSchema>;
/** The fields the tenant owns. */
export type UserProfile = z.infer<z.ZodObject<typeof userProfileFields>>;

const partialFields = userFieldsSchema.partial();

export const userCreated = defineEvent({
  type: 'user.created',
  version: 1,
  description:
    "A person became a user of the tenant (their account was linked to it under this sub): the tenant's copy of their e-mail address and whether it is verified.",
  schema: z.object({ sub: z.string(), email: z.string().nullable(), email_verified: z.boolean() }),
  personal: { subject: (data) => data.sub, fields: ['email'] },
});

export const userUpdated = defineEvent({
  type: 'user.updated',
  version: 1,
  description:
    "A user's profile changed (by an admin), or the tenant's copy of their account's e-mail status followed the account (by SigID); `changes` holds the new values and `previous` the old ones (both personal data).",
  schema: z.object({ sub: z.string(), changes: partialFields, previous: partialFields }),
  personal: { subject: (data) => data.sub, fields: ['changes', 'previous'] },
});

export const userBlocked = defineEvent({
  type: 'user.blocked',
  version: 1,
  description:
    "A user was blocked: they cannot sign in at the tenant's issuer, and their sessions, grants and tokens there end.",
  schema: z.object({ sub: z.string() }),
});

export const userUnblocked = defineEvent({
  type: 'user.unblocked',
  version: 1,
  description: 'A blocked user was unblocked: they can sign in at the tenant again (their old sessions stay ended).',
  schema: z.object({ sub: z.string() }),
});

export const userDeleted = defineEvent({
  type: 'user.deleted',
  version: 1,
  description:
    "A user was deleted: their sessions, grants and tokens end, their account's link to the tenant goes, and what the tenant held about them is erased (crypto-shredded); the sub stays as a tombstone.",
  schema: z.object({ sub: z.string() }),
});

export const userEvents = [userCreated, userUpdated, userBlocked, userUnblocked, userDeleted] as const;

export type UserEvent = EventOf<(typeof userEvents)[number]>;
