import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * Applications: a tenant's OAuth clients. Their metadata follows RFC 7591 (`client_name`,
 * `redirect_uris`, `grant_types`…) plus SigID's `kind`, `allowed_origins`, `require_pkce` and token
 * lifetimes. What each kind allows, and every default, is `src/applications/client-metadata.ts`.
 * A client secret is never in an event: only the id of its hash in the sealed-secrets store.
 */

/** web: confidential, server-side; spa and native: public, PKCE S256; m2m: client_credentials only. */
export const applicationKindSchema = z.enum(['web', 'spa', 'native', 'm2m']);
export type ApplicationKind = z.infer<typeof applicationKindSchema>;

/** RFC 7591 grant types SigID knows; which ones a kind may use is a rule of client-metadata.ts. */
export const grantTypeSchema = z.enum([
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'implicit',
  'password',
  /** OpenID Connect CIBA: the client asks a person's approval, who answers on SigID's approval page. */
  'urn:openid:params:grant-type:ciba',
]);
export type GrantType = z.infer<typeof grantTypeSchema>;

/** OAuth 2.0 Multiple Response Types; only `code` is served (no implicit or hybrid flows). */
export const responseTypeSchema = z.enum([
  'code',
  'token',
  'id_token',
  'code id_token',
  'code token',
  'id_token token',
  'code id_token token',
  'none',
]);
export type ResponseType = z.infer<typeof responseTypeSchema>;

/** RFC 7591 §2 token endpoint authentication methods; client-metadata.ts says which are served. */
export const tokenEndpointAuthMethodSchema = z.enum([
  'client_secret_basic',
  'client_secret_post',
  'none',
  'client_secret_jwt',
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
]);
export type TokenEndpointAuthMethod = z.infer<typeof tokenEndpointAuthMethodSchema>;

/** OpenID Connect Dynamic Client Registration's `application_type`. */
export const applicationTypeSchema = z.enum(['web', 'native']);

/** The grant type of CIBA (OpenID Connect Client-Initiated Backchannel Authentication). */
export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba' as const;

/** CIBA's token delivery modes SigID serves: the client polls, or is pinged then fetches (no push). */
export const backchannelDeliveryModeSchema = z.enum(['poll', 'ping']);

/** The metadata an admin can change after creation (kind and client_id are fixed for good). */
export const applicationMetadataFields = {
  client_name: z.string(),
  application_type: applicationTypeSchema,
  redirect_uris: z.array(z.string()),
  post_logout_redirect_uris: z.array(z.string()),
  grant_types: z.array(grantTypeSchema),
  response_types: z.array(responseTypeSchema),
  token_endpoint_auth_method: tokenEndpointAuthMethodSchema,
  require_pkce: z.boolean(),
  logo_uri: z.string().nullable(),
  allowed_origins: z.array(z.string()),
  access_token_ttl_seconds: z.number().int().positive(),
  id_token_ttl_seconds: z.number().int().positive(),
  refresh_token_ttl_seconds: z.number().int().positive(),
  /**
   * CIBA: how the client gets its tokens (with the CIBA grant; null without). Applications created
   * before CIBA have neither field in their events: they read as null.
   */
  backchannel_token_delivery_mode: backchannelDeliveryModeSchema.nullable().optional(),
  /** CIBA ping mode: where SigID notifies the client that the decision is in (null otherwise). */
  backchannel_client_notification_endpoint: z.string().nullable().optional(),
};

const metadataSchema = z.object(applicationMetadataFields);
/** Every field of an application's changeable metadata, all present. */
export type ApplicationMetadata = z.infer<typeof metadataSchema>;

export const applicationMetadataFieldNames = Object.keys(applicationMetadataFields) as (keyof ApplicationMetadata)[];

export const applicationCreated = defineEvent({
  type: 'application.created',
  version: 1,
  description:
    'An application (an OAuth client) was registered with its metadata. A confidential one names its client secret by id only (`secret_id`); the secret is never in an event.',
  schema: z.object({
    application_id: z.string(),
    client_id: z.string(),
    kind: applicationKindSchema,
    ...applicationMetadataFields,
    /** The id of the client secret's hash in the sealed-secrets store; null for a public client. */
    secret_id: z.string().nullable(),
  }),
});

const partialMetadata = metadataSchema.partial();

export const applicationUpdated = defineEvent({
  type: 'application.updated',
  version: 1,
  description: "An application's metadata changed; `changes` holds the new values and `previous` the old ones.",
  schema: z.object({ application_id: z.string(), changes: partialMetadata, previous: partialMetadata }),
});

export const applicationSecretRotated = defineEvent({
  type: 'application.secret_rotated',
  version: 1,
  description:
    "A confidential application's client secret was replaced. The previous one keeps working until `previous_secret_expires_at`; neither is in the event.",
  schema: z.object({
    application_id: z.string(),
    secret_id: z.string(),
    previous_secret_id: z.string(),
    previous_secret_expires_at: z.iso.datetime(),
  }),
});

export const applicationDeleted = defineEvent({
  type: 'application.deleted',
  version: 1,
  description:
    'An application was deleted: its client secrets stop working and are destroyed, and its client_id can be registered again.',
  schema: z.object({ application_id: z.string(), client_id: z.string() }),
});

export const applicationEvents = [
  applicationCreated,
  applicationUpdated,
  applicationSecretRotated,
  applicationDeleted,
] as const;

export type ApplicationEvent = EventOf<(typeof applicationEvents)[number]>;
