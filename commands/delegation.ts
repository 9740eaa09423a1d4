import type { DelegationLimits } from '../events/agent.ts';
import type { DelegationConsent, DelegationEvent } from '../events/delegation.ts';
import { ConflictError, NotFoundError, ProblemError, type ProblemIssue } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

/** What a delegation grants: who, to which agent, on which API, which scopes, until when, how deep. */
export interface DelegationTerms {
  sub: string;
  agent_id: string;
  audience: string;
  scopes: string[];
  expires_at: string;
  max_chain_depth: number;
  parent_delegation_id: string | null;
  consent: DelegationConsent;
}

/** The parent a derived delegation narrows (its terms and whether it is still in force). */
export interface ParentDelegation {
  delegation_id: string;
  sub: string;
  agent_id: string;
  audience: string;
  scopes: readonly string[];
  expires_at: string;
  max_chain_depth: number;
  depth: number;
  active: boolean;
}

export type DelegationCommand =
  /**
   * Creates a delegation, checked against the agent's delegation limits and (for a derived one) its
   * parent at `now` (ISO time): it never grants more than either. The same create again is a no-op.
   */
  | {
      type: 'create_delegation';
      delegation_id: string;
      terms: DelegationTerms;
      limits: DelegationLimits;
      parent: ParentDelegation | null;
      now: string;
    }
  /** Revokes a delegation for good (a no-op when it is revoked already). */
  | { type: 'revoke_delegation'; reason: string };

export type DelegationState =
  | { status: 'absent' }
  | { status: 'active' | 'revoked'; delegation_id: string; agent_id: string; terms: DelegationTerms; depth: number };

/**
 * Checks that a delegation stays within what may be delegated: its scopes among the agent's
 * delegable ones (and its parent's), its audience one of the agent's delegable audiences (and its
 * parent's), its expiry in the future, no later than `max_lifetime_seconds` from now (nor than its
 * parent's), its chain depth within the agent's `max_chain_depth` (and its parent's), and a parent
 * that is in force, for the same user. A 400 naming each field that is not; the delegation's depth otherwise.
 */
export function checkDelegationTerms(
  terms: DelegationTerms,
  limits: DelegationLimits,
  parent: ParentDelegation | null,
  now: string,
): number {
  const issues: ProblemIssue[] = [];
  const issue = (path: string, message: string, code: string) => issues.push({ path, message, code });
  const delegable = new Set(limits.scopes);
  for (const [index, scope] of terms.scopes.entries()) {
    if (!delegable.has(scope)) {
      issue(`scopes.${index}`, `"${scope}" is not one of the agent's delegable scopes.`, 'outside_delegation_limits');
    } else if (parent && !parent.scopes.includes(scope)) {
      issue(`scopes.${index}`, `"${scope}" is not one of the parent delegation's scopes.`, 'wider_than_parent');
    }
  }
  if (!limits.audiences.includes(terms.audience)) {
    issue(
      'audience',
      `"${terms.audience}" is not one of the agent's delegable audiences.`,
      'outside_delegation_limits',
    );
  } else if (parent && parent.audience !== terms.audience) {
    issue('audience', 'A derived delegation is for its parent’s audience only.', 'wider_than_parent');
  }
  const nowMs = Date.parse(now);
  const expiresMs = Date.parse(terms.expires_at);
  if (!(expiresMs > nowMs)) {
    issue('expires_in', 'The delegation must end in the future.', 'too_short');
  } else if (expiresMs - nowMs > limits.max_lifetime_seconds * 1000) {
    issue(
      'expires_in',
      `The agent may be delegated to for at most ${limits.max_lifetime_seconds} seconds.`,
      'outside_delegation_limits',
    );
  } else if (parent && expiresMs > Date.parse(parent.expires_at)) {
    issue('expires_in', 'A derived delegation ends no later than its parent.', 'wider_than_parent');
  }
  const depth = parent ? parent.depth + 1 : 1;
  if (terms.max_chain_depth > limits.max_chain_depth) {
    issue(
      'max_chain_depth',
      `The agent may be in chains of at most ${limits.max_chain_depth} actors.`,
      'outside_delegation_limits',
    );
  } else if (terms.max_chain_depth < depth) {
    issue('max_chain_depth', `This delegation is ${depth} actors deep already.`, 'too_short');
  }
  if (parent) {
    if (depth > parent.max_chain_depth || depth > limits.max_chain_depth) {
      issue(
        'parent_delegation_id',
        `The chain would be ${depth} actors deep, more than the parent or the agent allows.`,
        'chain_too_deep',
      );
    } else if (terms.max_chain_depth > parent.max_chain_depth) {
      issue('max_chain_depth', 'A derived delegation allows no deeper chain than its parent.', 'wider_than_parent');
    }
    if (!parent.active) {
      issue('parent_delegation_id', 'The parent delegation is revoked or has ended.', 'parent_not_active');
    }
    if (parent.sub !== terms.sub) {
      issue('sub', 'A derived delegation is for its parent’s user.', 'wider_than_parent');
    }
    if (parent.agent_id === terms.agent_id) {
      issue('agent_id', 'A derived delegation is to another agent than its parent’s.', 'same_agent');
    }
  }
  if (issues.length > 0) {
    throw new ProblemError('invalid_request', 'A delegation may only narrow what may be delegated.', issues);
  }
  return depth;
}

export const delegationDecider: Decider<DelegationCommand, DelegationState, DelegationEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'delegation.created': {
        const { delegation_id, depth, ...terms } = event.data;
        return { status: 'active', delegation_id, agent_id: terms.agent_id, terms, depth };
      }
      case 'delegation.revoked':
        return state.status === 'absent' ? state : { ...state, status: 'revoked' };
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'create_delegation': {
        if (state.status !== 'absent') {
          if (state.delegation_id === command.delegation_id) return [];
          throw new ConflictError('delegation_exists', 'The delegation already exists.');
        }
        const depth = checkDelegationTerms(command.terms, command.limits, command.parent, command.now);
        return [
          {
            type: 'delegation.created',
            data: {
              delegation_id: command.delegation_id,
              ...command.terms,
              scopes: [...new Set(command.terms.scopes)],
              depth,
            },
          },
        ];
      }
      case 'revoke_delegation':
        if (state.status === 'absent') throw new NotFoundError('The delegation');
        return state.status === 'revoked'
          ? []
          : [
              {
                type: 'delegation.revoked',
                data: { delegation_id: state.delegation_id, agent_id: state.agent_id, reason: command.reason },
              },
            ];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** A delegation: its stream is `{tenant_id}-{delegation_id}`. */
export const delegationAggregate = defineAggregate('delegation', delegationDecider);
