import type { MfaEvent } from '../events/mfa.ts';
import { NotFoundError } from '../src/errors.ts';
import { streamName } from '../src/event-store/port.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';
import { PLATFORM_TENANT } from './tenant.ts';

export type MfaCommand =
  /**
   * Enrolls the TOTP factor whose seed the caller sealed under `factor_id`, proven by a code of
   * `step`, with the first recovery codes (sealed under `batch_id`); replaces the factor before.
   */
  | { type: 'enroll_totp'; account_id: string; factor_id: string; step: number; batch_id: string; code_ids: string[] }
  /** Removes the TOTP factor and the recovery codes with it; a no-op when there is none. */
  | { type: 'remove_totp' }
  /** Issues new recovery codes (sealed by the caller under `batch_id`); the earlier ones stop working. */
  | { type: 'issue_recovery_codes'; batch_id: string; code_ids: string[] }
  /** Records a TOTP challenge: the caller checked the code against factor `factor_id`'s seed and found it of `step`, or of none (null). */
  | { type: 'challenge_totp'; account_id: string; factor_id: string; step: number | null }
  /** Records a recovery-code challenge: the caller found the code in batch `batch_id` as `code_id`, or not at all (null). */
  | { type: 'use_recovery_code'; account_id: string; batch_id: string; code_id: string | null };

export interface MfaState {
  account_id: string | null;
  /** The enrolled TOTP factor, and the latest time step a code of it was accepted for. */
  totp: { factor_id: string; last_step: number } | null;
  /** The current batch of recovery codes, and the ids of those used. */
  recovery: { batch_id: string; code_ids: string[]; used: string[] } | null;
  /** The outcome of the stream's latest challenge: what a caller of `challenge_totp` or `use_recovery_code` reads back. */
  challenge: 'succeeded' | 'failed' | null;
}

function challenged(
  accountId: string,
  method: 'totp' | 'recovery_code',
  failed: 'wrong_code' | 'code_reused' | null,
  step: number | null,
): MfaEvent {
  return {
    type: 'mfa.challenged',
    data: {
      account_id: accountId,
      method,
      outcome: failed ? 'failed' : 'succeeded',
      reason: failed,
      step: failed ? null : step,
    },
  };
}

/**
 * An account's second factors. The decider is what makes a TOTP code and a recovery code single use:
 * a code of a time step not later than the last one accepted, or a recovery code already used, fails.
 * Two processes given the same code decide on the same stream revision; one append wins, the other
 * retries, sees the step (or the code) used, and fails.
 */
export const mfaDecider: Decider<MfaCommand, MfaState, MfaEvent> = {
  initialState: () => ({ account_id: null, totp: null, recovery: null, challenge: null }),

  evolve(state, event) {
    switch (event.type) {
      case 'mfa.totp_enrolled':
        return {
          ...state,
          account_id: event.data.account_id,
          totp: { factor_id: event.data.factor_id, last_step: event.data.step },
        };
      case 'mfa.totp_removed':
        return { ...state, totp: null, recovery: null };
      case 'mfa.recovery_codes_issued':
        return {
          ...state,
          account_id: event.data.account_id,
          recovery: { batch_id: event.data.batch_id, code_ids: event.data.code_ids, used: [] },
        };
      case 'mfa.recovery_code_used': {
        const { recovery } = state;
        const used =
          recovery?.batch_id === event.data.batch_id
            ? { ...recovery, used: [...recovery.used, event.data.code_id] }
            : recovery;
        return { ...state, recovery: used, challenge: 'succeeded' };
      }
      case 'mfa.challenged': {
        const { step, outcome } = event.data;
        const totp =
          state.totp && step !== null ? { ...state.totp, last_step: Math.max(state.totp.last_step, step) } : state.totp;
        return { ...state, totp, challenge: outcome };
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
        // The same enrollment again (a retried request): already done.
        if (state.totp?.factor_id === command.factor_id) return [];
        return [
          {
            type: 'mfa.totp_enrolled',
            data: { account_id: command.account_id, factor_id: command.factor_id, step: command.step },
          },
          {
            type: 'mfa.recovery_codes_issued',
            data: {
              account_id: command.account_id,
              batch_id: command.batch_id,
              code_ids: command.code_ids,
              count: command.code_ids.length,
            },
          },
        ];
      case 'remove_totp':
        if (!state.totp || !state.account_id) return [];
        return [{ type: 'mfa.totp_removed', data: { account_id: state.account_id, factor_id: state.totp.factor_id } }];
      case 'issue_recovery_codes':
        if (!state.totp || !state.account_id) throw new NotFoundError('An authenticator app');
        if (state.recovery?.batch_id === command.batch_id) return [];
        return [
          {
            type: 'mfa.recovery_codes_issued',
            data: {
              account_id: state.account_id,
              batch_id: command.batch_id,
              code_ids: command.code_ids,
              count: command.code_ids.length,
            },
          },
        ];
      case 'challenge_totp': {
        const { totp } = state;
        // A code checked against a seed that is no longer the account's (re-enrolled meanwhile) is wrong.
        if (!totp || totp.factor_id !== command.factor_id || command.step === null) {
          return [challenged(command.account_id, 'totp', 'wrong_code', null)];
        }
        if (command.step <= totp.last_step) return [challenged(command.account_id, 'totp', 'code_reused', null)];
        return [challenged(command.account_id, 'totp', null, command.step)];
      }
      case 'use_recovery_code': {
        const { recovery } = state;
        const { code_id: codeId } = command;
        if (
          !recovery ||
          recovery.batch_id !== command.batch_id ||
          codeId === null ||
          !recovery.code_ids.includes(codeId)
        ) {
          return [challenged(command.account_id, 'recovery_code', 'wrong_code', null)];
        }
        if (recovery.used.includes(codeId))
          return [challenged(command.account_id, 'recovery_code', 'code_reused', null)];
        // Every attempt is a challenge in the trail; one that works also uses the code up.
        return [
          challenged(command.account_id, 'recovery_code', null, null),
          {
            type: 'mfa.recovery_code_used',
            data: {
              account_id: command.account_id,
              batch_id: recovery.batch_id,
              code_id: codeId,
              remaining: recovery.code_ids.length - recovery.used.length - 1,
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

/** An account's second factors: a platform stream, `platform-mfa-{account_id}`, beside the account's own. */
export const mfaAggregate = defineAggregate('mfa', mfaDecider, (_tenantId, accountId) =>
  streamName(PLATFORM_TENANT, `mfa-${accountId}`),
);
