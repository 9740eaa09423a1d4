import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/** The JWS algorithms a tenant's issuer signs with: each has its own key at a time. */
export const signingAlgs = ['ES256', 'RS256'] as const;
export const signingAlgSchema = z.enum(signingAlgs);
export type SigningAlg = z.infer<typeof signingAlgSchema>;

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/);

/**
 * The public part of a signing key, as a JWK without `kid`, `alg` or `use` (the event carries those).
 * Strict: a private member (`d`, `p`, `q`…) is refused, so no private part can enter an event.
 */
export const publicJwkSchema = z.discriminatedUnion('kty', [
  z.strictObject({ kty: z.literal('EC'), crv: z.literal('P-256'), x: base64url, y: base64url }),
  z.strictObject({ kty: z.literal('RSA'), n: base64url, e: base64url }),
]);
export type PublicJwk = z.infer<typeof publicJwkSchema>;

/** Whether a key of this type can sign with `alg` (ES256 takes P-256, RS256 takes RSA). */
export function jwkFitsAlg(alg: SigningAlg, jwk: { kty?: unknown; crv?: unknown }): boolean {
  return alg === 'ES256' ? jwk.kty === 'EC' && jwk.crv === 'P-256' : jwk.kty === 'RSA';
}

export const signingKeyCreated = defineEvent({
  type: 'signing_key.created',
  version: 1,
  description:
    "A signing key of the tenant's OIDC issuer was made: `active` (it signs) when the tenant's keys are first made, else `next` (published in the JWKS, not signing yet). Only the public JWK is in the event; the private part is sealed in the secrets store under the kid.",
  schema: z.object({
    kid: z.string(),
    alg: signingAlgSchema,
    use: z.literal('sig'),
    public_jwk: publicJwkSchema,
    status: z.enum(['active', 'next']),
  }),
});

export const signingKeyActivated = defineEvent({
  type: 'signing_key.activated',
  version: 1,
  description: 'A rotation made the next signing key of its algorithm the active one: it signs from now on.',
  schema: z.object({ kid: z.string(), alg: signingAlgSchema }),
});

export const signingKeySuperseded = defineEvent({
  type: 'signing_key.superseded',
  version: 1,
  description:
    'A rotation replaced the active signing key of its algorithm (by `superseded_by`): it no longer signs, and stays published in the JWKS until `retire_at`, so the tokens it signed still verify.',
  schema: z.object({
    kid: z.string(),
    alg: signingAlgSchema,
    superseded_by: z.string(),
    retire_at: z.iso.datetime(),
  }),
});

export const signingKeyRetired = defineEvent({
  type: 'signing_key.retired',
  version: 1,
  description:
    'A superseded signing key past its `retire_at` was retired: it is gone from the JWKS and its private part is destroyed.',
  schema: z.object({ kid: z.string(), alg: signingAlgSchema }),
});

export const signingKeyEvents = [
  signingKeyCreated,
  signingKeyActivated,
  signingKeySuperseded,
  signingKeyRetired,
] as const;

export type SigningKeyEvent = EventOf<(typeof signingKeyEvents)[number]>;
