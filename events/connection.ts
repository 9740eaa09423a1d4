import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * SSO connections: an organization's federation to its own identity provider (OIDC now; SAML later
 * as another `protocol` with its own settings object beside `oidc`). A connection names its IdP and
 * SigID's client there; the client secret lives in the sealed-secrets store under `client_secret_id`,
 * never in an event. People who sign in through it become members of its organization just in time;
 * each first sign-in of a person through a connection is a `connection.user.linked`, naming the
 * tenant's `sub` only (the IdP's subject is known to SigID by a keyed hash in a platform reservation).
 * The rules on each field are in src/http/connections.ts and docs/sso.md.
 */

/** Which IdP claim fills each SigID profile field (a claim name; null: not taken from the IdP). */
export const claimMappingSchema = z.object({
  email: z.string(),
  email_verified: z.string().nullable(),
  name: z.string().nullable(),
  given_name: z.string().nullable(),
  family_name: z.string().nullable(),
  /** The IdP claim whose value (a string or an array of strings) is mapped to tenant roles; null: none. */
  roles: z.string().nullable(),
});
export type ClaimMapping = z.infer<typeof claimMappingSchema>;

/** An OIDC connection's settings as events carry them: no secret, only its id. */
export const oidcSettingsSchema = z.object({
  issuer: z.string(),
  client_id: z.string(),
  client_secret_id: z.string(),
  scopes: z.array(z.string()),
  claim_mapping: claimMappingSchema,
});
export type OidcSettings = z.infer<typeof oidcSettingsSchema>;

/** What an admin can change after creation (the organization and the protocol are fixed). */
export const connectionSettingsFields = {
  name: z.string(),
  oidc: oidcSettingsSchema,
  /** IdP role values (of `claim_mapping.roles`) → tenant role ids: a member's organization roles. */
  role_mapping: z.record(z.string(), z.string()),
  /**
   * Whether a first sign-in may link an existing SigID account with the same address (the IdP says
   * it is verified, and the organization verified its domain); otherwise a new account is made.
   */
  link_existing_accounts: z.boolean(),
};

const settingsSchema = z.object(connectionSettingsFields);
/** Every changeable field of a connection, all present. */
export type ConnectionSettings = z.infer<typeof settingsSchema>;
const partialSettings = settingsSchema.partial();

export const connectionCreated = defineEvent({
  type: 'connection.created',
  version: 1,
  description:
    "An SSO connection was created for an organization: its protocol (`oidc`), the IdP's issuer and SigID's client id there, the claim and role mappings. The client secret is sealed apart (`client_secret_id`).",
  schema: z.object({
    connection_id: z.string(),
    organization_id: z.string(),
    protocol: z.literal('oidc'),
    enabled: z.boolean(),
    ...connectionSettingsFields,
  }),
});

export const connectionUpdated = defineEvent({
  type: 'connection.updated',
  version: 1,
  description:
    "An SSO connection's name, OIDC settings (a new `client_secret_id` when the secret changed), mappings or linking rule changed; `changes` holds the new values and `previous` the old ones.",
  schema: z.object({ connection_id: z.string(), changes: partialSettings, previous: partialSettings }),
});

export const connectionEnabled = defineEvent({
  type: 'connection.enabled',
  version: 1,
  description: 'An SSO connection was enabled: sign-ins are routed to it again.',
  schema: z.object({ connection_id: z.string(), organization_id: z.string() }),
});

export const connectionDisabled = defineEvent({
  type: 'connection.disabled',
  version: 1,
  description: 'An SSO connection was disabled: no sign-in is routed to it (its links and the members it made stay).',
  schema: z.object({ connection_id: z.string(), organization_id: z.string() }),
});

export const connectionDeleted = defineEvent({
  type: 'connection.deleted',
  version: 1,
  description:
    'An SSO connection was deleted; its client secret is destroyed. The members it made stay members of the organization.',
  schema: z.object({ connection_id: z.string(), organization_id: z.string() }),
});

export const connectionUserLinked = defineEvent({
  type: 'connection.user.linked',
  version: 1,
  description:
    "A person signed in through an SSO connection for the first time: their IdP identity is linked to the tenant user `sub`; `account` says whether their SigID account was made another way before (`existing_account`, linked by a trusted address) or by an SSO sign-in (`new_account`). The IdP's own subject is never in the event.",
  schema: z.object({
    connection_id: z.string(),
    organization_id: z.string(),
    sub: z.string(),
    account: z.enum(['new_account', 'existing_account']),
  }),
});

export const connectionEvents = [
  connectionCreated,
  connectionUpdated,
  connectionEnabled,
  connectionDisabled,
  connectionDeleted,
  connectionUserLinked,
] as const;

export type ConnectionEvent = EventOf<(typeof connectionEvents)[number]>;
