import { delegationAggregate, type ParentDelegation } from '../commands/delegation.ts';
import type { DelegationConsent } from '../events/delegation.ts';
import { findLinkBySub } from '../read-models/account-links.ts';
import { findAgent } from '../read-models/agents.ts';
import { findApiByIdentifier } from '../read-models/apis.ts';
import { type DelegationRow, findDelegation } from '../read-models/delegations.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ProblemError, type ProblemIssue } from '../src/errors.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';

export interface NewDelegation {
  agent_id: string;
  sub: string;
  /** The API's identifier (RFC 8707 resource). */
  audience: string;
  scopes: string[];
  /** Seconds from now; the agent's `max_lifetime_seconds` (or what its parent has left) when left out. */
  expires_in?: number | undefined;
  max_chain_depth?: number | undefined;
  parent_delegation_id?: string | undefined;
}

/** A delegation row as the decider's parent: in force when active and unexpired at `now`. */
export function parentOf(row: DelegationRow, now: Date): ParentDelegation {
  return {
    delegation_id: row.delegation_id,
    sub: row.sub,
    agent_id: row.agent_id,
    audience: row.audience,
    scopes: row.scopes,
    expires_at: row.expires_at.toISOString(),
    max_chain_depth: row.max_chain_depth,
    depth: row.depth,
    active: row.status === 'active' && row.expires_at > now,
  };
}

/**
 * Creates a delegation of a tenant's user to one of its agents, the user's consent collected by the
 * tenant (`consent`: its backend through the API, or a CIBA approval). The agent must be active, the
 * user one of the tenant's, the audience one of its APIs and each scope one that API defines; then
 * the decider checks the terms against the agent's delegation limits and the parent (400 naming each
 * field). The id comes from `context.random`, so a retried request (same Idempotency-Key) is a no-op.
 */
export async function createDelegation(
  sigid: Sigid,
  input: NewDelegation,
  consent: DelegationConsent,
  context: UseCase,
): Promise<{ delegationId: string; written: Written }> {
  const { tenantId } = context;
  const issues: ProblemIssue[] = [];
  const agent = await findAgent(sigid.readModels, tenantId, input.agent_id);
  if (!agent) {
    issues.push({ path: 'agent_id', message: `No agent ${input.agent_id} in this tenant.`, code: 'unknown_agent' });
  } else if (agent.status !== 'active') {
    issues.push({ path: 'agent_id', message: 'The agent is suspended.', code: 'agent_not_active' });
  }
  if (!(await findLinkBySub(sigid.readModels, tenantId, input.sub))) {
    issues.push({ path: 'sub', message: `No user ${input.sub} in this tenant.`, code: 'unknown_user' });
  }
  const api = await findApiByIdentifier(sigid.readModels, tenantId, input.audience);
  if (!api) {
    issues.push({ path: 'audience', message: 'No API of this tenant has this identifier.', code: 'unknown_api' });
  } else {
    const defined = new Set(api.scopes.map((scope) => scope.value));
    for (const [index, scope] of input.scopes.entries()) {
      if (!defined.has(scope)) {
        issues.push({
          path: `scopes.${index}`,
          message: `"${scope}" is not a scope of the API.`,
          code: 'unknown_scope',
        });
      }
    }
  }
  const parentRow = input.parent_delegation_id
    ? await findDelegation(sigid.readModels, tenantId, input.parent_delegation_id)
    : undefined;
  if (input.parent_delegation_id && !parentRow) {
    issues.push({
      path: 'parent_delegation_id',
      message: `No delegation ${input.parent_delegation_id} in this tenant.`,
      code: 'unknown_delegation',
    });
  }
  if (issues.length > 0 || !agent) {
    throw new ProblemError('invalid_request', 'The delegation names something this tenant does not have.', issues);
  }
  const now = new Date();
  const parent = parentRow ? parentOf(parentRow, now) : null;
  const limits = agent.delegation;
  const lifetime =
    input.expires_in ??
    Math.min(
      limits.max_lifetime_seconds,
      parent ? Math.floor((Date.parse(parent.expires_at) - now.getTime()) / 1000) : limits.max_lifetime_seconds,
    );
  const delegationId = context.random.id('dlg');
  const written = await handleCommand(
    sigid.log,
    delegationAggregate,
    delegationId,
    {
      type: 'create_delegation',
      delegation_id: delegationId,
      terms: {
        sub: input.sub,
        agent_id: agent.agent_id,
        audience: input.audience,
        scopes: input.scopes,
        expires_at: new Date(now.getTime() + lifetime * 1000).toISOString(),
        max_chain_depth:
          input.max_chain_depth ??
          Math.min(limits.max_chain_depth, parent?.max_chain_depth ?? Number.POSITIVE_INFINITY),
        parent_delegation_id: parent?.delegation_id ?? null,
        consent,
      },
      limits,
      parent,
      now: now.toISOString(),
    },
    context,
  );
  return { delegationId, written };
}

/** Revokes a delegation: its tokens fail introspection at once, and those of delegations derived from it. */
export function revokeDelegation(
  sigid: Sigid,
  row: DelegationRow,
  reason: string,
  context: UseCase & { ifMatch?: number | undefined },
): Promise<Written> {
  return handleCommand(
    sigid.log,
    delegationAggregate,
    row.delegation_id,
    { type: 'revoke_delegation', reason },
    context,
  );
}
