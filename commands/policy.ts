import type { PolicyEvent } from '../events/policy.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

/** What an admin writes of a policy; the Cedar text is validated by the service before the command. */
export interface PolicyContent {
  name: string;
  description: string;
  cedar: string;
}

export type PolicyCommand =
  /** Creates a policy as version 1; its Cedar text has passed validation against SigID's schema. */
  | { type: 'create_policy'; policy_id: string; content: PolicyContent; enabled: boolean }
  /** Changes name, description or Cedar text (fields left out stay): a new version, carried whole. */
  | { type: 'update_policy'; changes: Partial<PolicyContent> }
  /** Enables or disables the policy (a no-op when it already is). */
  | { type: 'set_policy_enabled'; enabled: boolean }
  /** Deletes the policy for good; its versions stay in the stream. */
  | { type: 'delete_policy' };

export type PolicyState =
  | { status: 'absent' }
  | { status: 'active' | 'deleted'; policy_id: string; version: number; content: PolicyContent; enabled: boolean };

const contentFields = ['name', 'description', 'cedar'] as const;

export const policyDecider: Decider<PolicyCommand, PolicyState, PolicyEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'policy.created': {
        const { policy_id, enabled, version, name, description, cedar } = event.data;
        return { status: 'active', policy_id, version, enabled, content: { name, description, cedar } };
      }
      case 'policy.updated': {
        if (state.status === 'absent') return state;
        const { version, name, description, cedar } = event.data;
        return { ...state, version, content: { name, description, cedar } };
      }
      case 'policy.enabled':
        return state.status === 'absent' ? state : { ...state, enabled: true };
      case 'policy.disabled':
        return state.status === 'absent' ? state : { ...state, enabled: false };
      case 'policy.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted' };
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_policy') {
      if (state.status !== 'absent') {
        // The same create again (a retried request with the same id): already done.
        if (state.policy_id === command.policy_id) return [];
        throw new ConflictError('policy_exists', 'The policy already exists.');
      }
      return [
        {
          type: 'policy.created',
          data: { policy_id: command.policy_id, enabled: command.enabled, version: 1, ...command.content },
        },
      ];
    }
    if (state.status !== 'active') throw new NotFoundError('The policy');
    const policy_id = state.policy_id;
    switch (command.type) {
      case 'update_policy': {
        const content = { ...state.content };
        let changed = false;
        for (const field of contentFields) {
          const value = command.changes[field];
          if (value === undefined || value === content[field]) continue;
          content[field] = value;
          changed = true;
        }
        if (!changed) return [];
        return [{ type: 'policy.updated', data: { policy_id, version: state.version + 1, ...content } }];
      }
      case 'set_policy_enabled':
        if (state.enabled === command.enabled) return [];
        return [{ type: command.enabled ? 'policy.enabled' : 'policy.disabled', data: { policy_id } }];
      case 'delete_policy':
        return [{ type: 'policy.deleted', data: { policy_id } }];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** A policy (a Cedar policy set text, versioned): its stream is `{tenant_id}-{policy_id}`. */
export const policyAggregate = defineAggregate('policy', policyDecider);
