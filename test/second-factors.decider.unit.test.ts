import { describe, expect, it } from 'vitest';
import { mfaDecider } from '../commands/mfa.ts';
import { passkeysDecider } from '../commands/passkey.ts';
import { catalog } from '../events/catalog.ts';
import { specFor } from './support/given-when-then.ts';

const mfa = specFor(mfaDecider);
const passkeys = specFor(passkeysDecider);

const enrolled = { type: 'mfa.totp_enrolled' as const, data: { account_id: 'acc_1', factor_id: 'mfa_1', step: 100 } };
const codes = {
  type: 'mfa.recovery_codes_issued' as const,
  data: { account_id: 'acc_1', batch_id: 'rcb_1', count: 10 },
};
const challenged = (
  step: number | null,
  outcome: 'succeeded' | 'failed',
  reason: 'wrong_code' | 'code_reused' | null,
) => ({
  type: 'mfa.challenged' as const,
  data: { account_id: 'acc_1', method: 'totp' as const, outcome, reason, step, recovery_code: null },
});

describe('second factors decider', () => {
  it('takes a TOTP code of a later step once, and refuses its step (or an earlier one) again', () => {
    mfa([enrolled])
      .when({ type: 'challenge_totp', account_id: 'acc_1', step: 101 })
      .thenEmits([challenged(101, 'succeeded', null)]);
    mfa([enrolled, challenged(101, 'succeeded', null)])
      .when({ type: 'challenge_totp', account_id: 'acc_1', step: 101 })
      .thenEmits([challenged(null, 'failed', 'code_reused')]);
    // The code that enrolled the app is spent too.
    mfa([enrolled])
      .when({ type: 'challenge_totp', account_id: 'acc_1', step: 100 })
      .thenEmits([challenged(null, 'failed', 'code_reused')]);
    mfa([enrolled])
      .when({ type: 'challenge_totp', account_id: 'acc_1', step: null })
      .thenEmits([challenged(null, 'failed', 'wrong_code')]);
    // No app: nothing passes.
    mfa([])
      .when({ type: 'challenge_totp', account_id: 'acc_1', step: 5 })
      .thenEmits([challenged(null, 'failed', 'wrong_code')]);
  });

  it('uses each recovery code once, counting what remains, and forgets the batch with the app', () => {
    const used = {
      type: 'mfa.challenged' as const,
      data: {
        account_id: 'acc_1',
        method: 'recovery_code' as const,
        outcome: 'succeeded' as const,
        reason: null,
        step: null,
        recovery_code: { batch_id: 'rcb_1', index: 3, remaining: 9 },
      },
    };
    mfa([enrolled, codes]).when({ type: 'use_recovery_code', account_id: 'acc_1', index: 3 }).thenEmits([used]);
    const again = mfa([enrolled, codes, used]).when({ type: 'use_recovery_code', account_id: 'acc_1', index: 3 });
    again.thenEmits([
      {
        type: 'mfa.challenged',
        data: { ...used.data, outcome: 'failed', reason: 'code_reused', recovery_code: null },
      },
    ]);
    const removed = { type: 'mfa.totp_removed' as const, data: { account_id: 'acc_1', factor_id: 'mfa_1' } };
    mfa([enrolled, codes, removed])
      .when({ type: 'use_recovery_code', account_id: 'acc_1', index: 4 })
      .thenEmits([
        {
          type: 'mfa.challenged',
          data: { ...used.data, outcome: 'failed', reason: 'wrong_code', recovery_code: null },
        },
      ]);
    mfa([enrolled, removed]).when({ type: 'remove_totp' }).thenThrows('not_found');
    for (const event of [enrolled, codes, used, removed]) {
      expect(catalog.get(event.type).schema.parse(event.data)).toEqual(event.data);
    }
  });

  const added = {
    type: 'passkey.added' as const,
    data: {
      account_id: 'acc_1',
      passkey_id: 'pk_1',
      credential_id: 'cred-1',
      public_key: 'pubkey',
      counter: 0,
      transports: ['internal'],
      device_type: 'singleDevice' as const,
      backed_up: false,
    },
  };
  const { account_id, passkey_id, credential_id, public_key, counter, transports, device_type, backed_up } = added.data;
  const add = { account_id, passkey_id, credential_id, public_key, counter, transports, device_type, backed_up };

  it('adds a credential once, refuses a counter that goes back, and forgets a removed passkey', () => {
    passkeys([])
      .when({ type: 'add_passkey', ...add })
      .thenEmits([added]);
    passkeys([added])
      .when({ type: 'add_passkey', ...add, passkey_id: 'pk_2' })
      .thenThrows('passkey_exists');
    const used = { type: 'passkey.used' as const, data: { account_id: 'acc_1', passkey_id: 'pk_1', counter: 5 } };
    passkeys([added]).when({ type: 'use_passkey', passkey_id: 'pk_1', counter: 5 }).thenEmits([used]);
    passkeys([added, used]).when({ type: 'use_passkey', passkey_id: 'pk_1', counter: 5 }).thenThrows('passkey_counter');
    // Authenticators that keep no counter always say 0.
    passkeys([added])
      .when({ type: 'use_passkey', passkey_id: 'pk_1', counter: 0 })
      .thenEmits([{ ...used, data: { ...used.data, counter: 0 } }]);
    const removed = { type: 'passkey.removed' as const, data: { account_id: 'acc_1', passkey_id: 'pk_1' } };
    passkeys([added, removed]).when({ type: 'use_passkey', passkey_id: 'pk_1', counter: 9 }).thenThrows('not_found');
    passkeys([added, { type: 'subject.personal_data.erased', data: { subject_id: 'acc_1' } } as never])
      .when({ type: 'add_passkey', ...add, credential_id: 'cred-2' })
      .thenThrows('not_found');
  });
});
