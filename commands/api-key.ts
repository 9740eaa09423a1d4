import type { ApiKeyEvent } from '../events/api-key.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

export type ApiKeyCommand =
  /** Issues a tenant admin key; its secret was made and hashed by the caller, never passed here. */
  | { type: 'create_api_key'; key_id: string; name: string }
  /** Revokes the key: refused from now on. */
  | { type: 'revoke_api_key' };

export type ApiKeyState = { status: 'absent' } | { status: 'active' | 'revoked'; key_id: string; name: string };

export const apiKeyDecider: Decider<ApiKeyCommand, ApiKeyState, ApiKeyEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'api_key.created':
        return { status: 'active', key_id: event.data.key_id, name: event.data.name };
      case 'api_key.revoked':
        return state.status === 'absent' ? state : { ...state, status: 'revoked' };
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'create_api_key':
        if (state.status !== 'absent') {
          // The same create again (a retried request, with the same ids): already done.
          if (state.key_id === command.key_id && state.name === command.name) return [];
          throw new ConflictError('api_key_exists', 'The API key already exists.');
        }
        return [{ type: 'api_key.created', data: { key_id: command.key_id, name: command.name } }];
      case 'revoke_api_key':
        if (state.status === 'absent') throw new NotFoundError('The API key');
        return state.status === 'revoked' ? [] : [{ type: 'api_key.revoked', data: { key_id: state.key_id } }];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** A tenant admin API key: its stream is `{tenant_id}-{key_id}`. */
export const apiKeyAggregate = defineAggregate('api_key', apiKeyDecider);
