import type { ApprovalEvent } from '../events/approval.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

type Requested = Extract<ApprovalEvent, { type: 'approval.requested' }>['data'];
type Delivered = Extract<ApprovalEvent, { type: 'approval.delivered' }>['data'];

export type ApprovalCommand =
  /** Records a client's CIBA request of the person `sub`; a no-op when it exists (a retry). */
  | ({ type: 'request_approval' } & Requested)
  /** The person `sub` approves the pending, unexpired request; `amr` says how they proved it was them. */
  | { type: 'grant_approval'; sub: string; amr: string[]; now: Date }
  /** The person `sub` denies the pending request (an expired one too: the answer is the same). */
  | { type: 'deny_approval'; sub: string; now: Date }
  /** Records that the issuer was told the decision; a no-op once recorded. */
  | ({ type: 'record_delivery' } & Omit<Delivered, 'approval_id'>);

export type ApprovalState =
  | { status: 'absent' }
  | ({ status: 'pending' | 'granted' | 'denied'; delivered: boolean; amr: string[] } & Requested);

export const approvalDecider: Decider<ApprovalCommand, ApprovalState, ApprovalEvent> = {
  initialState: () => ({ status: 'absent' }),

  evolve(state, event) {
    switch (event.type) {
      case 'approval.requested':
        return { status: 'pending', delivered: false, amr: [], ...event.data };
      case 'approval.granted':
        return state.status === 'absent' ? state : { ...state, status: 'granted', amr: event.data.amr };
      case 'approval.denied':
        return state.status === 'absent' ? state : { ...state, status: 'denied' };
      case 'approval.delivered':
        return state.status === 'absent' ? state : { ...state, delivered: true };
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    if (command.type === 'request_approval') {
      if (state.status !== 'absent') return [];
      const { type: _type, ...data } = command;
      return [{ type: 'approval.requested', data }];
    }
    // Another person's approval is no more found than one that does not exist.
    if (state.status === 'absent' || ('sub' in command && command.sub !== state.sub)) {
      throw new NotFoundError('The approval request');
    }
    const { approval_id, client_id, sub } = state;
    switch (command.type) {
      case 'grant_approval':
        if (state.status !== 'pending') throw decided(state.status);
        if (command.now.getTime() >= Date.parse(state.expires_at)) {
          throw new ConflictError('approval_not_pending', 'The approval request has expired.');
        }
        return [
          {
            type: 'approval.granted',
            data: {
              approval_id,
              client_id,
              sub,
              scopes: state.scopes,
              resource: state.resource,
              resource_scopes: state.resource_scopes,
              amr: command.amr,
            },
          },
        ];
      case 'deny_approval':
        if (state.status !== 'pending') throw decided(state.status);
        return [{ type: 'approval.denied', data: { approval_id, client_id, sub } }];
      case 'record_delivery':
        if (state.status === 'pending') throw new Error('an approval is delivered only once decided');
        if (state.delivered) return [];
        return [
          { type: 'approval.delivered', data: { approval_id, result: command.result, notified: command.notified } },
        ];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

function decided(status: 'granted' | 'denied') {
  return new ConflictError(
    'approval_not_pending',
    `The request was ${status === 'granted' ? 'approved' : 'denied'} already.`,
  );
}

/** A person's approval of one CIBA request: its stream is `{tenant_id}-{approval_id}`. */
export const approvalAggregate = defineAggregate('approval', approvalDecider);
