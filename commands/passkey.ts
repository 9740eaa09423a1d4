import type { PasskeyEvent } from '../events/passkey.ts';
import type { SubjectEvent } from '../events/subject.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { streamName } from '../src/event-store/port.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';
import { PLATFORM_TENANT } from './tenant.ts';

export type PasskeyCommand =
  | {
      type: 'add_passkey';
      account_id: string;
      passkey_id: string;
      credential_id: string;
      public_key: string;
      counter: number;
      transports: string[];
      device_type: 'singleDevice' | 'multiDevice';
      backed_up: boolean;
    }
  | { type: 'use_passkey'; passkey_id: string; counter: number }
  | { type: 'remove_passkey'; passkey_id: string };

export interface PasskeysState {
  account_id: string | null;
  /** passkey id → its credential id and counter (removed ones are gone). */
  passkeys: Record<string, { credential_id: string; counter: number }>;
  erased: boolean;
}

/** The account's passkeys: added once per credential, used with a counter that never goes back, removed for good. */
export const passkeysDecider: Decider<PasskeyCommand, PasskeysState, PasskeyEvent | SubjectEvent> = {
  initialState: () => ({ account_id: null, passkeys: {}, erased: false }),

  evolve(state, event) {
    switch (event.type) {
      case 'passkey.added':
        return {
          ...state,
          account_id: event.data.account_id,
          passkeys: {
            ...state.passkeys,
            [event.data.passkey_id]: { credential_id: event.data.credential_id, counter: event.data.counter },
          },
        };
      case 'passkey.used': {
        const known = state.passkeys[event.data.passkey_id];
        if (!known) return state;
        return {
          ...state,
          passkeys: { ...state.passkeys, [event.data.passkey_id]: { ...known, counter: event.data.counter } },
        };
      }
      case 'passkey.removed': {
        const { [event.data.passkey_id]: _removed, ...rest } = state.passkeys;
        return { ...state, passkeys: rest };
      }
      case 'subject.personal_data.erased':
        return { ...state, passkeys: {}, erased: true };
      default:
        return state;
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'add_passkey':
        if (state.erased) throw new NotFoundError('The account');
        if (Object.values(state.passkeys).some((passkey) => passkey.credential_id === command.credential_id)) {
          throw new ConflictError('passkey_exists', 'This passkey is registered already.');
        }
        return [
          {
            type: 'passkey.added',
            data: {
              account_id: command.account_id,
              passkey_id: command.passkey_id,
              credential_id: command.credential_id,
              public_key: command.public_key,
              counter: command.counter,
              transports: command.transports,
              device_type: command.device_type,
              backed_up: command.backed_up,
            },
          },
        ];
      case 'use_passkey': {
        const known = state.passkeys[command.passkey_id];
        if (!known) throw new NotFoundError('The passkey');
        // A counter that does not grow (when the authenticator keeps one) is a cloned credential.
        if (command.counter !== 0 && command.counter <= known.counter) {
          throw new ConflictError('passkey_counter', 'The passkey answered with a counter it used before.');
        }
        return [
          {
            type: 'passkey.used',
            data: { account_id: state.account_id as string, passkey_id: command.passkey_id, counter: command.counter },
          },
        ];
      }
      case 'remove_passkey':
        if (!state.passkeys[command.passkey_id]) throw new NotFoundError('The passkey');
        return [
          { type: 'passkey.removed', data: { account_id: state.account_id as string, passkey_id: command.passkey_id } },
        ];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** An account's passkeys: a platform stream, `platform-passkeys-{account_id}`. */
export const passkeysAggregate = defineAggregate('passkeys', passkeysDecider, (_tenantId, accountId) =>
  streamName(PLATFORM_TENANT, `passkeys-${accountId}`),
);
