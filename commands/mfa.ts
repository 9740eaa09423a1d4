import type { MfaEvent } from '../events/mfa.ts';
import { NotFoundError } from '../src/errors.ts';
import { streamName } from '../src/event-store/port.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';
import { PLATFORM_TENANT } from './tenant.ts';

export type MfaCommand =
  /** Enrolls a TOTP factor whose seed the caller sealed, proven by a code of `step`. */
  | { type: 'enroll_totp'; account_id: string; factor_id: string; step: number }
  | { type: 'remove_totp' }
  | { type: 'issue_recovery_codes'; account_id: string; batch_id: string; count: number }
  /** A TOTP code the caller checked against the seed: matched at `step`, or not at all (null). */
  | { type: 'challenge_totp'; account_id: string; step: number | null }
  /** A recovery code the caller looked up in the batch: matched at `index`, or not at all (null). */
  | { type: 'use_recovery_code'; account_id: string; index: number | null };

export interface MfaState {
  account_id: string | null;
  totp: { factor_id: string; last_step: number; enrolled: true } | null;
  recovery: { batch_id: string; count: number; used: number[] } | null;
  /** The outcome of the stream's last challenge (what the command that appended it learns). */
  last_outcome: 'succeeded' | 'failed' | null;
}

/**
 * An account's second factors. The decider is what makes a TOTP code and a recovery code single
 * use: a code of a step not later than the last one used, or a recovery code already used, fails,
 * and two processes racing with the same code both decide on the stream's revision (one retries
 * and sees it used).
 */
export const mfaDecider: Decider<MfaCommand, MfaState, MfaEvent> = {
  initialState: () => ({ account_id: null, totp: null, recovery: null, last_outcome: null }),

  evolve(state, event) {
    switch (event.type) {
      case 'mfa.totp_enrolled':
        return {
          ...state,
          account_id: event.data.account_id,
          totp: { factor_id: event.data.factor_id, last_step: event.data.step, enrolled: true },
        };
      case 'mfa.totp_removed':
        return { ...state, totp: null, recovery: null };
      case 'mfa.recovery_codes_issued':
        return {
          ...state,
          account_id: event.data.account_id,
          recovery: { batch_id: event.data.batch_id, count: event.data.count, used: [] },
        };
      case 'mfa.challenged': {
        const { step, recovery_code: code } = event.data;
        let next: MfaState = { ...state, last_outcome: event.data.outcome };
        if (step !== null && next.totp)
          next = { ...next, totp: { ...next.totp, last_step: Math.max(next.totp.last_step, step) } };
        if (code && next.recovery?.batch_id === code.batch_id) {
          next = { ...next, recovery: { ...next.recovery, used: [...next.recovery.used, code.index] } };
        }
        return next;
      }
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'enroll_totp':
        return [
          {
            type: 'mfa.totp_enrolled',
            data: { account_id: command.account_id, factor_id: command.factor_id, step: command.step },
          },
        ];
      case 'remove_totp':
        if (!state.totp || !state.account_id) throw new NotFoundError('An authenticator app');
        return [{ type: 'mfa.totp_removed', data: { account_id: state.account_id, factor_id: state.totp.factor_id } }];
      case 'issue_recovery_codes':
        return [
          {
            type: 'mfa.recovery_codes_issued',
            data: { account_id: command.account_id, batch_id: command.batch_id, count: command.count },
          },
        ];
      case 'challenge_totp': {
        const reused = command.step !== null && state.totp !== null && command.step <= state.totp.last_step;
        const ok = command.step !== null && state.totp !== null && !reused;
        return [
          {
            type: 'mfa.challenged',
            data: {
              account_id: command.account_id,
              method: 'totp',
              outcome: ok ? 'succeeded' : 'failed',
              reason: ok ? null : reused ? 'code_reused' : 'wrong_code',
              step: ok ? command.step : null,
              recovery_code: null,
            },
          },
        ];
      }
      case 'use_recovery_code': {
        const batch = state.recovery;
        const used = command.index !== null && batch !== null && batch.used.includes(command.index);
        const ok = command.index !== null && batch !== null && !used;
        return [
          {
            type: 'mfa.challenged',
            data: {
              account_id: command.account_id,
              method: 'recovery_code',
              outcome: ok ? 'succeeded' : 'failed',
              reason: ok ? null : used ? 'code_reused' : 'wrong_code',
              step: null,
              recovery_code:
                ok && batch && command.index !== null
                  ? { batch_id: batch.batch_id, index: command.index, remaining: batch.count - batch.used.length - 1 }
                  : null,
            },
          },
        ];
      }
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** An account's second factors: a platform stream, `platform-mfa-{account_id}`. */
export const mfaAggregate = defineAggregate('mfa', mfaDecider, (_tenantId, accountId) =>
  streamName(PLATFORM_TENANT, `mfa-${accountId}`),
);
