import { describe, it } from 'vitest';
import { passkeysDecider } from '../commands/passkey.ts';
import { specFor } from './support/given-when-then.ts';

// The mfa decider's specs are in test/mfa.decider.unit.test.ts.
const passkeys = specFor(passkeysDecider);

describe('passkeys decider', () => {
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
