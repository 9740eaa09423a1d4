import type { SubjectEvent } from '../events/subject.ts';
import type { UserEvent, UserFields, UserProfile } from '../events/user.ts';
import { NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import { changedFields, type Decider } from './decider.ts';

export type UserCommand =
  /** Makes the tenant's user of a newly linked account; a no-op when it exists already (a retried link). */
  | { type: 'create_user'; sub: string; email: string | null; email_verified: boolean }
  /** Brings the tenant's copy of the account's e-mail status up to date (at sign-in); a no-op when it is. */
  | { type: 'sync_account'; email_verified: boolean }
  /** Changes profile fields the tenant owns; fields left out stay. */
  | { type: 'update_profile'; changes: Partial<UserProfile> }
  /** Blocks the user (a no-op when blocked already). */
  | { type: 'block_user' }
  /** Unblocks the user (a no-op when active). */
  | { type: 'unblock_user' }
  /** Deletes the user: what follows (the unlink, the erasure) is the service's; a no-op when deleted already. */
  | { type: 'delete_user' };

export type UserState =
  | { status: 'absent' }
  | { status: 'active' | 'blocked' | 'deleted'; sub: string; fields: UserFields; erased: boolean };

const fieldNames = ['email', 'email_verified', 'name', 'given_name', 'family_name', 'picture', 'metadata'] as const;

/** Erasure appends `subject.personal_data.erased` to the user's own stream (the sub is the subject). */
type UserStreamEvent = UserEvent | SubjectEvent;

function changed(state: Exclude<UserState, { status: 'absent' }>, wanted: Partial<UserFields>): UserEvent[] {
  const fields = changedFields(fieldNames, wanted, state.fields);
  return fields ? [{ type: 'user.updated', data: { sub: state.sub, ...fields } }] : [];
}

export const userDecider: Decider<UserCommand, UserState, UserStreamEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'user.created':
        return {
          status: 'active',
          sub: event.data.sub,
          fields: {
            email: event.data.email,
            email_verified: event.data.email_verified,
            name: null,
            given_name: null,
            family_name: null,
            picture: null,
            metadata: {},
          },
          erased: false,
        };
      case 'user.updated':
        // Erased changes read as null: the state keeps what it had (nobody reads it after a delete).
        return state.status === 'absent' || event.data.changes === null
          ? state
          : { ...state, fields: { ...state.fields, ...event.data.changes } as UserFields };
      case 'user.blocked':
        return state.status === 'active' ? { ...state, status: 'blocked' } : state;
      case 'user.unblocked':
        return state.status === 'blocked' ? { ...state, status: 'active' } : state;
      case 'user.deleted':
        return state.status === 'absent' ? state : { ...state, status: 'deleted' };
      case 'subject.personal_data.erased':
        return state.status === 'absent' ? state : { ...state, erased: true };
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_user') {
      if (state.status !== 'absent') return [];
      return [
        {
          type: 'user.created',
          data: { sub: command.sub, email: command.email, email_verified: command.email_verified },
        },
      ];
    }
    if (command.type === 'delete_user') {
      if (state.status === 'absent') throw new NotFoundError('The user');
      return state.status === 'deleted' ? [] : [{ type: 'user.deleted', data: { sub: state.sub } }];
    }
    if (state.status === 'absent' || state.status === 'deleted') throw new NotFoundError('The user');
    switch (command.type) {
      case 'sync_account':
        return changed(state, { email_verified: command.email_verified });
      case 'update_profile':
        return changed(state, command.changes);
      case 'block_user':
        return state.status === 'blocked' ? [] : [{ type: 'user.blocked', data: { sub: state.sub } }];
      case 'unblock_user':
        return state.status === 'active' ? [] : [{ type: 'user.unblocked', data: { sub: state.sub } }];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** A tenant's user, the tenant's side of a linked account: its stream is `{tenant_id}-{sub}`. */
export const userAggregate = defineAggregate('user', userDecider);
