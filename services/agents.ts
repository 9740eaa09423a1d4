import { type AgentCommand, agentAggregate, checkDelegationLimits } from '../commands/agent.ts';
import type { AgentApiScopes, AgentOwner, AgentSettings, DelegationLimits } from '../events/agent.ts';
import { findLinkBySub } from '../read-models/account-links.ts';
import type { AgentRow } from '../read-models/agents.ts';
import { findApi } from '../read-models/apis.ts';
import { findOrganization } from '../read-models/organizations.ts';
import { checkChallenge, type IssuedChallenge, issueChallenge, useChallenge } from '../src/agents/challenges.ts';
import { type AgentJwkInput, publicAgentJwk, verifyKeyProof } from '../src/agents/keys.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ProblemError, type ProblemIssue } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';

type Change = UseCase & { ifMatch?: number | undefined };

/** The delegation limits of an agent created without any: nothing delegable, five minutes, one actor deep. */
export const DEFAULT_DELEGATION: DelegationLimits = {
  scopes: [],
  max_lifetime_seconds: 300,
  audiences: [],
  max_chain_depth: 1,
};

export interface NewAgent {
  name: string;
  description?: string | undefined;
  owner: AgentOwner;
  allowed_scopes?: AgentApiScopes[] | undefined;
  delegation?: Partial<DelegationLimits> | undefined;
  agent_card?: { enabled: boolean; url?: string | null | undefined } | undefined;
}

export type AgentChanges = Partial<Omit<NewAgent, 'delegation'>> & {
  delegation?: Partial<DelegationLimits> | undefined;
};

/** The settings of an agent row, as the decider holds them. */
export function settingsOf(row: AgentRow): AgentSettings {
  return {
    name: row.name,
    description: row.description,
    owner: { type: row.owner_type, id: row.owner_id },
    allowed_scopes: row.allowed_scopes,
    delegation: row.delegation,
    agent_card: row.agent_card,
  };
}

/** Checks that the owner is one of the tenant's users or organizations: a 400 naming `owner.id` otherwise. */
async function checkOwner(sigid: Sigid, tenantId: string, owner: AgentOwner): Promise<void> {
  const found =
    owner.type === 'user'
      ? await findLinkBySub(sigid.readModels, tenantId, owner.id)
      : await findOrganization(sigid.readModels, tenantId, owner.id);
  if (!found) {
    throw new ProblemError('invalid_request', 'The owner must be one of the tenant’s users or organizations.', [
      { path: 'owner.id', message: `No ${owner.type} ${owner.id} in this tenant.`, code: `unknown_${owner.type}` },
    ]);
  }
}

/**
 * Checks every allowed scope against the tenant's APIs (each api_id one of them, each scope one the
 * API defines) and the delegation audiences against those APIs' identifiers: a 400 naming each one
 * that is not, before anything is written.
 */
async function checkScopes(sigid: Sigid, tenantId: string, settings: AgentSettings): Promise<void> {
  const issues: ProblemIssue[] = [];
  const identifiers: Record<string, string> = {};
  for (const [index, entry] of settings.allowed_scopes.entries()) {
    const api = await findApi(sigid.readModels, tenantId, entry.api_id);
    if (!api) {
      issues.push({
        path: `allowed_scopes.${index}.api_id`,
        message: `No API ${entry.api_id} in this tenant.`,
        code: 'unknown_api',
      });
      continue;
    }
    identifiers[api.api_id] = api.identifier;
    const defined = new Set(api.scopes.map((scope) => scope.value));
    for (const [at, scope] of entry.scopes.entries()) {
      if (!defined.has(scope)) {
        issues.push({
          path: `allowed_scopes.${index}.scopes.${at}`,
          message: `"${scope}" is not a scope of the API ${entry.api_id}.`,
          code: 'unknown_scope',
        });
      }
    }
  }
  if (issues.length > 0) {
    throw new ProblemError(
      'invalid_request',
      "Every allowed scope must be a scope of one of the tenant's APIs.",
      issues,
    );
  }
  checkDelegationLimits(settings, identifiers);
}

/**
 * Creates an agent, active, owned by one of the tenant's users or organizations, with its allowed
 * scopes per API and its delegation limits checked against the tenant's APIs. The id comes from
 * `context.random`, so a retried request (same Idempotency-Key) is a no-op.
 */
export async function createAgent(
  sigid: Sigid,
  input: NewAgent,
  context: UseCase,
): Promise<{ agentId: string; written: Written }> {
  const settings: AgentSettings = {
    name: input.name,
    description: input.description ?? '',
    owner: input.owner,
    allowed_scopes: input.allowed_scopes ?? [],
    delegation: { ...DEFAULT_DELEGATION, ...input.delegation },
    agent_card: { enabled: input.agent_card?.enabled ?? false, url: input.agent_card?.url ?? null },
  };
  await checkOwner(sigid, context.tenantId, settings.owner);
  await checkScopes(sigid, context.tenantId, settings);
  const agentId = context.random.id('agt');
  const created = await handleCommand(
    sigid.log,
    agentAggregate,
    agentId,
    { type: 'create_agent', agent_id: agentId, settings },
    context,
  );
  return { agentId, written: created };
}

/** Changes an agent's settings; the owner and the scopes are checked as at creation. */
export async function updateAgent(sigid: Sigid, row: AgentRow, input: AgentChanges, context: Change): Promise<Written> {
  const current = settingsOf(row);
  const changes: Partial<AgentSettings> = {};
  if (input.name !== undefined) changes.name = input.name;
  if (input.description !== undefined) changes.description = input.description;
  if (input.owner !== undefined) changes.owner = input.owner;
  if (input.allowed_scopes !== undefined) changes.allowed_scopes = input.allowed_scopes;
  if (input.delegation !== undefined) changes.delegation = { ...current.delegation, ...input.delegation };
  if (input.agent_card !== undefined) {
    changes.agent_card = { enabled: input.agent_card.enabled, url: input.agent_card.url ?? current.agent_card.url };
  }
  if (changes.owner) await checkOwner(sigid, context.tenantId, changes.owner);
  await checkScopes(sigid, context.tenantId, { ...current, ...changes });
  return handleCommand(sigid.log, agentAggregate, row.agent_id, { type: 'update_agent', changes }, context);
}

/**
 * Suspends an agent; with `revokeKeys`, every key of it is revoked in the same append, with
 * `revokeAnchors` every anchor (incident response: one atomic write, so no token can be had with a
 * key or an anchor between the two), with `deprecateKeys` every active key deprecated instead of
 * revoked (it signs nothing new; what it signed still verifies), and with `revokeDelegations` the same append revokes its
 * delegations (the delegations read model applies it in one transaction, docs/delegation.md). Every
 * token of the agent fails introspection from then on.
 */
export async function suspendAgent(
  sigid: Sigid,
  row: AgentRow,
  options: {
    reason: string;
    revokeKeys: boolean;
    deprecateKeys?: boolean | undefined;
    revokeAnchors?: boolean | undefined;
    revokeDelegations?: boolean | undefined;
  },
  context: Change,
): Promise<Written> {
  const command: AgentCommand = {
    type: 'suspend_agent',
    reason: options.reason,
    revoke_keys: options.revokeKeys,
    revoke_anchors: options.revokeAnchors ?? false,
    ...(options.deprecateKeys ? { deprecate_keys: true } : {}),
    ...(options.revokeDelegations ? { revoke_delegations: true } : {}),
  };
  return handleCommand(sigid.log, agentAggregate, row.agent_id, command, context);
}

export function reactivateAgent(sigid: Sigid, row: AgentRow, context: Change): Promise<Written> {
  return handleCommand(sigid.log, agentAggregate, row.agent_id, { type: 'reactivate_agent' }, context);
}

/** Deletes an agent for good: its keys and anchors are revoked in the same append; its id is never used again. */
export function deleteAgent(sigid: Sigid, row: AgentRow, context: Change): Promise<Written> {
  return handleCommand(sigid.log, agentAggregate, row.agent_id, { type: 'delete_agent' }, context);
}

/** Issues a challenge for registering a key of the agent (src/agents/challenges.ts). */
export function agentKeyChallenge(sigid: Sigid, row: AgentRow, context: UseCase): Promise<IssuedChallenge> {
  return issueChallenge(sigid.readModels, { tenantId: context.tenantId, agentId: row.agent_id, purpose: 'agent_key' });
}

/**
 * Registers a public key for the agent: the JWK is normalised (`kid` = its thumbprint), the
 * challenge checked (this tenant's, this agent's, for a key, unexpired, unused), the proof verified
 * over its nonce with the key, then the challenge is used (once, across processes) and the key
 * recorded. Dying between the use and the append leaves the key unregistered and the challenge used:
 * the caller asks for a new challenge; nothing is half-applied.
 */
export async function registerAgentKey(
  sigid: Sigid,
  row: AgentRow,
  input: { jwk: AgentJwkInput; challenge: string; proof: string },
  context: Change,
): Promise<{ kid: string; written: Written }> {
  const jwk = await publicAgentJwk(input.jwk);
  const binding = { tenantId: context.tenantId, agentId: row.agent_id, purpose: 'agent_key' as const };
  await checkChallenge(sigid.readModels, binding, input.challenge);
  await verifyKeyProof(jwk, input.challenge, input.proof);
  const challengeId = await useChallenge(sigid.readModels, binding, input.challenge);
  failpoint('agent.key:after-challenge');
  const written = await handleCommand(
    sigid.log,
    agentAggregate,
    row.agent_id,
    { type: 'register_key', jwk, challenge_id: challengeId },
    context,
  );
  return { kid: jwk.kid, written };
}

export function deprecateAgentKey(sigid: Sigid, row: AgentRow, kid: string, context: Change): Promise<Written> {
  return handleCommand(sigid.log, agentAggregate, row.agent_id, { type: 'deprecate_key', kid }, context);
}

export function revokeAgentKey(sigid: Sigid, row: AgentRow, kid: string, context: Change): Promise<Written> {
  return handleCommand(sigid.log, agentAggregate, row.agent_id, { type: 'revoke_key', kid }, context);
}
