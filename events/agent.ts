import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * Agents: software principals of a tenant, with a stable id (`agt_…`) independent of where they run,
 * an owner (one of the tenant's users or organizations), the scopes of each API they may get, the
 * limits on what they may be delegated, and a status. Their public keys (registered with a proof of
 * possession) live in the agent's own stream, so suspending an agent and revoking its keys is one
 * append; so do its identity anchors (did:key, did:web, ERC-8004, client credentials). The rules on each field are in
 * src/http/agents.ts and docs/agents.md.
 */

export const agentOwnerSchema = z.object({
  type: z.enum(['user', 'organization']),
  /** A user's tenant-local `sub` (`sub_…`) or an organization's id (`org_…`). */
  id: z.string(),
});
export type AgentOwner = z.infer<typeof agentOwnerSchema>;

/** The scopes of one API (by id) the agent may get for itself. */
export const agentApiScopesSchema = z.object({ api_id: z.string(), scopes: z.array(z.string()) });
export type AgentApiScopes = z.infer<typeof agentApiScopesSchema>;

/** What an agent may be delegated when it acts for someone (token exchange, later). */
export const delegationLimitsSchema = z.object({
  /** Scope values a delegated token may carry (each one of the agent's allowed scopes). */
  scopes: z.array(z.string()),
  /** The longest lifetime of a delegated token, in seconds. */
  max_lifetime_seconds: z.number().int().positive(),
  /** API identifiers a delegated token may be for (each an API the agent has allowed scopes on). */
  audiences: z.array(z.string()),
  /** How many actors deep a delegation chain through this agent may be. */
  max_chain_depth: z.number().int().min(1),
});
export type DelegationLimits = z.infer<typeof delegationLimitsSchema>;

/** Whether SigID publishes a signed A2A-style agent card for the agent, and the service URL it names. */
export const agentCardSettingsSchema = z.object({ enabled: z.boolean(), url: z.string().nullable() });
export type AgentCardSettings = z.infer<typeof agentCardSettingsSchema>;

/** What an admin can change after creation. */
export const agentSettingsFields = {
  name: z.string(),
  description: z.string(),
  owner: agentOwnerSchema,
  allowed_scopes: z.array(agentApiScopesSchema),
  delegation: delegationLimitsSchema,
  agent_card: agentCardSettingsSchema,
};

const settingsSchema = z.object(agentSettingsFields);
/** Every changeable field of an agent, all present. */
export type AgentSettings = z.infer<typeof settingsSchema>;

/** A public key as registered: a JWK with its RFC 7638 thumbprint as `kid` (never a private member). */
export const agentPublicJwkSchema = z.object({
  kty: z.enum(['OKP', 'EC']),
  crv: z.enum(['Ed25519', 'P-256']),
  x: z.string(),
  y: z.string().optional(),
  kid: z.string(),
  /** `Ed25519` (RFC 9864; `EdDSA` is accepted on input and stored as this) or `ES256`. */
  alg: z.enum(['Ed25519', 'ES256']),
  use: z.literal('sig'),
});
export type AgentPublicJwk = z.infer<typeof agentPublicJwkSchema>;

export const agentCreated = defineEvent({
  type: 'agent.created',
  version: 1,
  description:
    'An agent was created with its name, owner, allowed scopes per API, delegation limits and agent card setting; it is active.',
  schema: z.object({ agent_id: z.string(), ...agentSettingsFields }),
});

const partialSettings = settingsSchema.partial();

export const agentUpdated = defineEvent({
  type: 'agent.updated',
  version: 1,
  description:
    "An agent's settings changed; `changes` holds the new values and `previous` the old ones. Tokens issued from then on follow them.",
  schema: z.object({ agent_id: z.string(), changes: partialSettings, previous: partialSettings }),
});

export const agentSuspended = defineEvent({
  type: 'agent.suspended',
  version: 1,
  description:
    'An agent was suspended: it gets no token until it is reactivated (its keys stay registered), and every token it holds fails introspection. With `revoke_delegations`, every delegation to it made before is revoked by this event (docs/delegation.md); reactivating brings none back.',
  schema: z.object({ agent_id: z.string(), reason: z.string(), revoke_delegations: z.boolean().optional() }),
});

export const agentReactivated = defineEvent({
  type: 'agent.reactivated',
  version: 1,
  description: 'A suspended agent was reactivated: its active keys work again.',
  schema: z.object({ agent_id: z.string() }),
});

export const agentDeleted = defineEvent({
  type: 'agent.deleted',
  version: 1,
  description:
    'An agent was deleted for good: every key and anchor of it was revoked in the same write (each an `agent.key.revoked` or `agent.anchor.revoked` before this event); its id is never used again.',
  schema: z.object({ agent_id: z.string(), name: z.string() }),
});

export const agentKeyRegistered = defineEvent({
  type: 'agent.key.registered',
  version: 1,
  description:
    'A public key (JWK, `kid` = its RFC 7638 thumbprint) was registered for an agent after it proved possession by signing a single-use challenge.',
  schema: z.object({ agent_id: z.string(), kid: z.string(), jwk: agentPublicJwkSchema, challenge_id: z.string() }),
});

export const agentKeyDeprecated = defineEvent({
  type: 'agent.key.deprecated',
  version: 1,
  description:
    "An agent's key was deprecated: it signs no new client assertion, but stays in the agent's DID document as a verification method.",
  schema: z.object({ agent_id: z.string(), kid: z.string() }),
});

export const agentKeyRevoked = defineEvent({
  type: 'agent.key.revoked',
  version: 1,
  description:
    "An agent's key was revoked: it leaves the DID document and signs nothing any more. `reason` is `revoked` (by an admin) or `agent_deleted`.",
  schema: z.object({ agent_id: z.string(), kid: z.string(), reason: z.enum(['revoked', 'agent_deleted']) }),
});

/** What an anchor is of, as added: a DID (did:key, did:web), an ERC-8004 registry entry, or one of the agent's keys. */
export const anchorDescriptionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('did_key'), did: z.string() }),
  z.object({ kind: z.literal('did_web'), did: z.string() }),
  z.object({
    kind: z.literal('erc8004'),
    chain_id: z.number().int(),
    /** The Identity Registry's address, checksummed. */
    registry: z.string(),
    /** The agent's token id in the registry (uint256, decimal). */
    agent_id: z.string(),
  }),
  z.object({ kind: z.literal('client_credentials'), kid: z.string() }),
]);
export type AnchorDescription = z.infer<typeof anchorDescriptionSchema>;
export type AnchorKindName = AnchorDescription['kind'];

/** What a verification proved, per kind (public facts only: no proof, no signature). */
export const anchorEvidenceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('did_key'), key_id: z.string(), alg: z.string() }),
  z.object({
    kind: z.literal('did_web'),
    key_id: z.string(),
    alg: z.string(),
    document_url: z.string(),
    document_sha256: z.string(),
  }),
  z.object({
    kind: z.literal('erc8004'),
    owner: z.string(),
    agent_wallet: z.string().nullable(),
    agent_uri: z.string(),
    registration_file_sha256: z.string(),
    signer: z.enum(['owner', 'agent_wallet']),
    signer_address: z.string(),
    scheme: z.enum(['eip191', 'eip712']),
  }),
  z.object({ kind: z.literal('client_credentials'), kid: z.string(), alg: z.string() }),
]);
export type AnchorEvidence = z.infer<typeof anchorEvidenceSchema>;

export const agentAnchorAdded = defineEvent({
  type: 'agent.anchor.added',
  version: 1,
  description:
    "An identity anchor (did:key, did:web, ERC-8004 registry entry, or one of the agent's keys for client credentials) was added to an agent, unverified: it grants nothing until it passes challenge-response. `value` is the anchored identity, unique among the tenant's agents.",
  schema: z.object({
    agent_id: z.string(),
    anchor_id: z.string(),
    anchor: anchorDescriptionSchema,
    value: z.string(),
  }),
});

export const agentAnchorVerified = defineEvent({
  type: 'agent.anchor.verified',
  version: 1,
  description:
    "An agent's anchor passed challenge-response: the agent signed a single-use nonce bound to the agent and the anchor, and SigID verified it; `evidence` holds what was proven (key id, document hash, on-chain owner and signer…). A later verification refreshes it.",
  schema: z.object({
    agent_id: z.string(),
    anchor_id: z.string(),
    kind: z.enum(['did_key', 'did_web', 'erc8004', 'client_credentials']),
    challenge_id: z.string(),
    evidence: anchorEvidenceSchema,
  }),
});

export const agentAnchorRevoked = defineEvent({
  type: 'agent.anchor.revoked',
  version: 1,
  description:
    "An agent's anchor was revoked for good: it grants nothing from then on. `reason` is `revoked` (by an admin), `agent_suspended` (suspension with revoke_anchors), `agent_deleted`, or `key_revoked` (the key of a client_credentials anchor was revoked).",
  schema: z.object({
    agent_id: z.string(),
    anchor_id: z.string(),
    reason: z.enum(['revoked', 'agent_suspended', 'agent_deleted', 'key_revoked']),
  }),
});

export const agentEvents = [
  agentCreated,
  agentUpdated,
  agentSuspended,
  agentReactivated,
  agentDeleted,
  agentKeyRegistered,
  agentKeyDeprecated,
  agentKeyRevoked,
  agentAnchorAdded,
  agentAnchorVerified,
  agentAnchorRevoked,
] as const;

export type AgentEvent = EventOf<(typeof agentEvents)[number]>;
