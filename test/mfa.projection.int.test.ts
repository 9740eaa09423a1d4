import { afterAll, beforeAll, describe, it } from 'vitest';
import { accountMfaProjection } from '../projections/account-mfa.ts';
import { type GivenEvent, openProjectionSpecs, SPEC_TIME } from './support/projection-spec.ts';

let specs: Awaited<ReturnType<typeof openProjectionSpecs>>;
beforeAll(async () => {
  specs = await openProjectionSpecs();
});
afterAll(() => specs?.close());

describe('account_mfa projection', () => {
  const given = (...events: Parameters<ReturnType<typeof specs.specFor>>[0]) =>
    specs.specFor(accountMfaProjection)(events);
  const enrolled = (factorId: string, batchId: string): GivenEvent[] => [
    { type: 'mfa.totp_enrolled', data: { account_id: 'acc_1', factor_id: factorId, step: 1 } },
    {
      type: 'mfa.recovery_codes_issued',
      data: { account_id: 'acc_1', batch_id: batchId, code_ids: ['rcv_1', 'rcv_2', 'rcv_3'], count: 3 },
    },
  ];
  const row = (factorId: string, batchId: string, remaining: number) => ({
    account_id: 'acc_1',
    totp_factor_id: factorId,
    totp_enrolled_at: SPEC_TIME,
    recovery_batch_id: batchId,
    recovery_codes_remaining: remaining,
    updated_at: SPEC_TIME,
  });

  it('shows the enrolled factor and the codes left, the latest enrollment replacing the one before', async () => {
    await given(...enrolled('tot_1', 'rcb_1'), {
      type: 'mfa.recovery_code_used',
      data: { account_id: 'acc_1', batch_id: 'rcb_1', code_id: 'rcv_1', remaining: 2 },
    }).thenRows('account_mfa', [row('tot_1', 'rcb_1', 2)]);
    await given(
      ...enrolled('tot_1', 'rcb_1'),
      ...enrolled('tot_2', 'rcb_2'),
      // A use of the old batch, read late, does not count against the new one.
      {
        type: 'mfa.recovery_code_used',
        data: { account_id: 'acc_1', batch_id: 'rcb_1', code_id: 'rcv_2', remaining: 1 },
      },
    ).thenRows('account_mfa', [row('tot_2', 'rcb_2', 3)]);
  });

  it('drops the row when the factor is removed or the account erased', async () => {
    await given(...enrolled('tot_1', 'rcb_1'), {
      type: 'mfa.totp_removed',
      data: { account_id: 'acc_1', factor_id: 'tot_1' },
    }).thenRows('account_mfa', []);
    await given(...enrolled('tot_1', 'rcb_1'), {
      type: 'subject.personal_data.erased',
      data: { subject_id: 'acc_1' },
    }).thenRows('account_mfa', []);
  });
});
