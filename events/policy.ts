import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * Policies: a tenant's conditional authorization rules in Cedar, validated against SigID's schema
 * (src/policies/schema.ts). A policy holds one Cedar policy set text (one or more statements);
 * every change of its text is a new version, and every version stays in its stream. Rules on each
 * field are in src/http/policies.ts and docs/policies.md.
 */

/** One version of a policy: what `GET /api/v1/policies/{id}/versions` lists. */
const versionFields = {
  version: z.number().int().positive(),
  name: z.string(),
  description: z.string(),
  /** The Cedar text, as sent (validated in strict mode against the schema of its time). */
  cedar: z.string(),
};

export const policyCreated = defineEvent({
  type: 'policy.created',
  version: 1,
  description:
    "A policy was created: its name, description and Cedar text (validated against SigID's Cedar schema), as version 1, enabled or not.",
  schema: z.object({ policy_id: z.string(), enabled: z.boolean(), ...versionFields }),
});

export const policyUpdated = defineEvent({
  type: 'policy.updated',
  version: 1,
  description:
    "A policy's name, description or Cedar text changed: a new version, carried whole (every earlier version stays in the policy's stream).",
  schema: z.object({ policy_id: z.string(), ...versionFields }),
});

export const policyEnabled = defineEvent({
  type: 'policy.enabled',
  version: 1,
  description: 'A policy was enabled: its statements take part in decisions again.',
  schema: z.object({ policy_id: z.string() }),
});

export const policyDisabled = defineEvent({
  type: 'policy.disabled',
  version: 1,
  description: 'A policy was disabled: it is kept, but takes no part in decisions.',
  schema: z.object({ policy_id: z.string() }),
});

export const policyDeleted = defineEvent({
  type: 'policy.deleted',
  version: 1,
  description: 'A policy was deleted: it takes no part in decisions any more; its versions stay in the event stream.',
  schema: z.object({ policy_id: z.string() }),
});

/** One decision that made the issuer drop a scope or refuse a token: the resource asked, the deciding policies. */
export const policyDenialSchema = z.object({
  /** `api` for the whole token, `scope` for one of its scopes. */
  resource: z.enum(['api', 'scope']),
  /** The API's identifier, or the scope's value. */
  value: z.string(),
  /** SigID policy ids, `pol_…`. */
  policy_ids: z.array(z.string()),
});
export type PolicyDenial = z.infer<typeof policyDenialSchema>;

export const policyTokenDenied = defineEvent({
  type: 'policy.token.denied',
  version: 1,
  description:
    "A tenant's policy refused a token at its issuer (`issue_token` on the API was forbidden): the client, subject, grant type, API and scopes asked, and the deciding policy ids. No token was issued.",
  schema: z.object({
    client_id: z.string(),
    sub: z.string().nullable(),
    grant_type: z.string(),
    audience: z.string(),
    scopes: z.array(z.string()),
    denials: z.array(policyDenialSchema),
  }),
});

/** The events of a policy's own stream. */
export const policyEvents = [policyCreated, policyUpdated, policyEnabled, policyDisabled, policyDeleted] as const;

export type PolicyEvent = EventOf<(typeof policyEvents)[number]>;

/** The issuer's refusals, on the tenant's token stream beside `oauth.token.issued`. */
export const policyDecisionEvents = [policyTokenDenied] as const;

export type PolicyDecisionEvent = EventOf<(typeof policyDecisionEvents)[number]>;
