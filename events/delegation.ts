import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * Delegations: a user (by the tenant's pairwise `sub`) lets an agent act for them on one API, with a
 * few of its scopes, until a time, through at most so many actors (RFC 8693 token exchange,
 * src/oidc/token-exchange.ts). A delegation can be derived from another (`parent_delegation_id`:
 * a sub-agent acting for the agent acting for the user) and is then never wider than its parent. The
 * rules on each field are in services/delegations.ts and docs/delegation.md.
 */

/** Where the user's consent came from: the tenant's backend (its admin key) or a CIBA approval. */
export const delegationConsentSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('api'),
    /** Who created it through the API (the admin key's id). */
    actor: z.string(),
  }),
  z.object({ type: z.literal('approval'), approval_id: z.string() }),
]);
export type DelegationConsent = z.infer<typeof delegationConsentSchema>;

export const delegationCreated = defineEvent({
  type: 'delegation.created',
  version: 1,
  description:
    "A user delegated to an agent: its `sub`, the agent, the API (audience) and scopes, the expiry, the most actors a chain through it may have, the parent delegation (for a sub-agent's) and where the consent came from. Created only within the agent's delegation limits.",
  schema: z.object({
    delegation_id: z.string(),
    sub: z.string(),
    agent_id: z.string(),
    audience: z.string(),
    scopes: z.array(z.string()),
    expires_at: z.iso.datetime(),
    max_chain_depth: z.number().int().min(1),
    /** How many actors deep its tokens are: 1 for an agent acting for the user, 2 for a sub-agent… */
    depth: z.number().int().min(1),
    parent_delegation_id: z.string().nullable(),
    consent: delegationConsentSchema,
  }),
});

export const delegationRevoked = defineEvent({
  type: 'delegation.revoked',
  version: 1,
  description:
    'A delegation was revoked: its tokens fail introspection at once and no new token is exchanged for it (nor for one derived from it).',
  schema: z.object({ delegation_id: z.string(), agent_id: z.string(), reason: z.string() }),
});

export const delegationEvents = [delegationCreated, delegationRevoked] as const;

export type DelegationEvent = EventOf<(typeof delegationEvents)[number]>;
