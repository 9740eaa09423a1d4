import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';
import { policyDenialSchema } from './policy.ts';

/** What kind of token: an access token (for a user or, by client_credentials, the client itself) or a refresh token. */
export const tokenKindSchema = z.enum(['access_token', 'refresh_token']);

/**
 * A token a tenant's issuer handed out, recorded before the token is returned: so no token exists
 * that the audit log does not show. Never the token itself: its `jti`, who it is for, what it allows.
 */
export const oauthTokenIssued = defineEvent({
  type: 'oauth.token.issued',
  version: 1,
  description:
    "A tenant's issuer issued a token (recorded before it was returned): its kind, jti, client, subject (the tenant-local sub, or null for a client's own token), grant type, scopes, audience, expiry and DPoP key thumbprint, and any scopes a tenant policy dropped (with the deciding policy ids). Never the token.",
  schema: z.object({
    kind: tokenKindSchema,
    /** `jwt` (self-contained, signed) or `opaque` (a reference, looked up on use). */
    format: z.enum(['jwt', 'opaque']),
    jti: z.string(),
    client_id: z.string(),
    sub: z.string().nullable(),
    grant_type: z.string(),
    scopes: z.array(z.string()),
    audience: z.array(z.string()),
    expires_at: z.iso.datetime(),
    dpop_jkt: z.string().nullable(),
    grant_id: z.string().nullable(),
    /** The scopes a tenant's policies dropped from the token, each with the deciding policy ids (absent when none). */
    policy_denials: z.array(policyDenialSchema).optional(),
    /** A delegated token's (RFC 8693 token exchange): the delegation it was issued under (absent otherwise). */
    delegation_id: z.string().optional(),
    /** A delegated token's actors, current actor first (absent otherwise). */
    actors: z.array(z.string()).optional(),
  }),
});

/** A token revoked: by its client at the revocation endpoint, or with its grant. */
export const oauthTokenRevoked = defineEvent({
  type: 'oauth.token.revoked',
  version: 1,
  description: 'A token was revoked (by its client at the revocation endpoint); its jti and client.',
  schema: z.object({ kind: tokenKindSchema, jti: z.string(), client_id: z.string(), grant_id: z.string().nullable() }),
});

/** A refresh token used again after it was rotated: a sign of theft; its whole grant is revoked. */
export const oauthRefreshTokenReused = defineEvent({
  type: 'oauth.refresh_token.reused',
  version: 1,
  description:
    'A refresh token was presented again after it had been rotated (a sign it was stolen): its grant, and every token of it, was revoked.',
  schema: z.object({ jti: z.string(), client_id: z.string(), grant_id: z.string().nullable() }),
});

export const oauthEvents = [oauthTokenIssued, oauthTokenRevoked, oauthRefreshTokenReused] as const;

export type OauthEvent = EventOf<(typeof oauthEvents)[number]>;
