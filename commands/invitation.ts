import type { InvitationEvent } from '../events/invitation.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

export type InvitationCommand =
  /** Records an invitation whose message (`message_id`) was queued; a no-op when it exists (a retry). */
  | {
      type: 'create_invitation';
      invitation_id: string;
      email: string;
      roles: string[];
      organization_id: string | null;
      expires_at: string;
      message_id: string;
    }
  /** Records a new message (and expiry) for a pending invitation: only its link works from now on. */
  | { type: 'resend_invitation'; message_id: string; expires_at: string }
  /** Revokes a pending invitation (a no-op when revoked already). */
  | { type: 'revoke_invitation' }
  /** Accepts a pending, unexpired invitation through its current link, for the user `sub`. */
  | { type: 'accept_invitation'; sub: string; link_id: string; now: Date }
  /** Records what an accepted invitation granted (and skipped); a no-op once recorded, so it is recorded once. */
  | ({ type: 'record_grants' } & Omit<GrantsApplied, 'invitation_id' | 'sub'>);

type GrantsApplied = Extract<InvitationEvent, { type: 'invitation.grants.applied' }>['data'];

export type InvitationState =
  | { status: 'absent' }
  | {
      status: 'pending' | 'revoked' | 'accepted';
      invitation_id: string;
      roles: string[];
      organization_id: string | null;
      expires_at: string;
      message_id: string;
      /** The user who accepted (once accepted). */
      sub: string | null;
      /** Whether the acceptance's grants are recorded (`invitation.grants.applied`). */
      grants_applied: boolean;
    };

export const invitationDecider: Decider<InvitationCommand, InvitationState, InvitationEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'invitation.created': {
        const { invitation_id, roles, organization_id, expires_at, message_id } = event.data;
        return {
          status: 'pending',
          invitation_id,
          roles,
          organization_id,
          expires_at,
          message_id,
          sub: null,
          grants_applied: false,
        };
      }
      case 'invitation.resent':
        return state.status === 'absent'
          ? state
          : { ...state, message_id: event.data.message_id, expires_at: event.data.expires_at };
      case 'invitation.revoked':
        return state.status === 'absent' ? state : { ...state, status: 'revoked' };
      case 'invitation.accepted':
        return state.status === 'absent' ? state : { ...state, status: 'accepted', sub: event.data.sub };
      case 'invitation.grants.applied':
        return state.status === 'absent' ? state : { ...state, grants_applied: true };
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'create_invitation') {
      if (state.status !== 'absent') return [];
      const { type: _type, ...data } = command;
      return [{ type: 'invitation.created', data }];
    }
    if (state.status === 'absent') throw new NotFoundError('The invitation');
    const invitation_id = state.invitation_id;
    switch (command.type) {
      case 'resend_invitation':
        if (state.status !== 'pending') throw notPending(state.status);
        if (state.message_id === command.message_id) return [];
        return [
          {
            type: 'invitation.resent',
            data: { invitation_id, message_id: command.message_id, expires_at: command.expires_at },
          },
        ];
      case 'revoke_invitation':
        if (state.status === 'revoked') return [];
        if (state.status !== 'pending') throw notPending(state.status);
        return [{ type: 'invitation.revoked', data: { invitation_id } }];
      case 'accept_invitation':
        if (state.status !== 'pending') throw notPending(state.status);
        if (command.link_id !== state.message_id)
          throw new ConflictError('invitation_not_pending', 'This link was replaced by a newer one.');
        if (command.now.getTime() >= Date.parse(state.expires_at))
          throw new ConflictError('invitation_not_pending', 'The invitation has expired.');
        return [
          {
            type: 'invitation.accepted',
            data: { invitation_id, sub: command.sub, roles: state.roles, organization_id: state.organization_id },
          },
        ];
      case 'record_grants': {
        if (state.status !== 'accepted' || state.sub === null) {
          throw new ConflictError('invitation_not_pending', 'The invitation is not accepted.');
        }
        if (state.grants_applied) return [];
        const { type: _type, ...grants } = command;
        return [{ type: 'invitation.grants.applied', data: { invitation_id, sub: state.sub, ...grants } }];
      }
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

function notPending(status: 'revoked' | 'accepted') {
  return new ConflictError('invitation_not_pending', `The invitation was ${status} already.`);
}

/** An invitation to join a tenant: its stream is `{tenant_id}-{invitation_id}`. */
export const invitationAggregate = defineAggregate('invitation', invitationDecider);
