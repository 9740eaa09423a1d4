import { describe, expect, it } from 'vitest';
import { mfaAggregate, mfaDecider } from '../commands/mfa.ts';
import { catalog } from '../events/catalog.ts';
import type { MfaEvent } from '../events/mfa.ts';
import { specFor } from './support/given-when-then.ts';

const mfa = specFor(mfaDecider);

const codeIds = ['rcv_1', 'rcv_2', 'rcv_3'];
const enroll = {
  type: 'enroll_totp' as const,
  account_id: 'acc_1',
  factor_id: 'tot_1',
  step: 100,
  batch_id: 'rcb_1',
  code_ids: codeIds,
};
const enrolled: MfaEvent[] = [
  { type: 'mfa.totp_enrolled', data: { account_id: 'acc_1', factor_id: 'tot_1', step: 100 } },
  { type: 'mfa.recovery_codes_issued', data: { account_id: 'acc_1', batch_id: 'rcb_1', code_ids: codeIds, count: 3 } },
];
const challenged = (
  method: 'totp' | 'recovery_code',
  reason: 'wrong_code' | 'code_reused' | null,
  step: number | null = null,
): MfaEvent => ({
  type: 'mfa.challenged',
  data: { account_id: 'acc_1', method, outcome: reason ? 'failed' : 'succeeded', reason, step },
});
const totp = (step: number | null, factorId = 'tot_1') => ({
  type: 'challenge_totp' as const,
  account_id: 'acc_1',
  factor_id: factorId,
  step,
});
const recovery = (codeId: string | null, batchId = 'rcb_1') => ({
  type: 'use_recovery_code' as const,
  account_id: 'acc_1',
  batch_id: batchId,
  code_id: codeId,
});
const usedUp = (codeId: string, remaining: number): MfaEvent => ({
  type: 'mfa.recovery_code_used',
  data: { account_id: 'acc_1', batch_id: 'rcb_1', code_id: codeId, remaining },
});
/** A recovery code that works: a challenge that succeeded and the code used up, in one decision. */
const used = (codeId: string, remaining: number): MfaEvent[] => [
  challenged('recovery_code', null),
  usedUp(codeId, remaining),
];

describe('mfa decider', () => {
  it('enrolls a factor with its first recovery codes in one decision, once (a retry decides nothing), every event a catalog event', () => {
    mfa([]).when(enroll).thenEmits(enrolled);
    mfa(enrolled).when(enroll).thenEmits([]);
    for (const event of enrolled) expect(catalog.get(event.type).schema.parse(event.data)).toEqual(event.data);
    expect(mfaAggregate.stream('ten_any', 'acc_1')).toBe('platform-mfa-acc_1');
  });

  it('replaces the factor and the codes on a second enrollment', () => {
    const again = { ...enroll, factor_id: 'tot_2', step: 200, batch_id: 'rcb_2', code_ids: ['rcv_9'] };
    mfa(enrolled)
      .when(again)
      .thenEmits([
        { type: 'mfa.totp_enrolled', data: { account_id: 'acc_1', factor_id: 'tot_2', step: 200 } },
        {
          type: 'mfa.recovery_codes_issued',
          data: { account_id: 'acc_1', batch_id: 'rcb_2', code_ids: ['rcv_9'], count: 1 },
        },
      ]);
    const replaced = [
      ...enrolled,
      ...mfaDecider.decide(again, enrolled.reduce(mfaDecider.evolve, mfaDecider.initialState())),
    ];
    // The old factor's code and the old batch's code are wrong now.
    mfa(replaced)
      .when(totp(300))
      .thenEmits([challenged('totp', 'wrong_code')]);
    mfa(replaced)
      .when(recovery('rcv_1'))
      .thenEmits([challenged('recovery_code', 'wrong_code')]);
    mfa(replaced)
      .when(totp(201, 'tot_2'))
      .thenEmits([challenged('totp', null, 201)]);
  });

  it('accepts a TOTP code only of a step later than every one used: the enrolling step and a replay fail', () => {
    mfa(enrolled)
      .when(totp(100))
      .thenEmits([challenged('totp', 'code_reused')]);
    mfa(enrolled)
      .when(totp(99))
      .thenEmits([challenged('totp', 'code_reused')]);
    mfa(enrolled)
      .when(totp(101))
      .thenEmits([challenged('totp', null, 101)]);
    const after = [...enrolled, challenged('totp', null, 103)];
    mfa(after)
      .when(totp(103))
      .thenEmits([challenged('totp', 'code_reused')]);
    mfa(after)
      .when(totp(102))
      .thenEmits([challenged('totp', 'code_reused')]);
    mfa(after)
      .when(totp(104))
      .thenEmits([challenged('totp', null, 104)]);
    // A failed challenge moves nothing.
    mfa([...after, challenged('totp', 'wrong_code')])
      .when(totp(104))
      .thenEmits([challenged('totp', null, 104)]);
    mfa(enrolled)
      .when(totp(null))
      .thenEmits([challenged('totp', 'wrong_code')]);
  });

  it('refuses a TOTP challenge when nothing is enrolled, or the factor was removed', () => {
    mfa([])
      .when(totp(5))
      .thenEmits([challenged('totp', 'wrong_code')]);
    const removed: MfaEvent = { type: 'mfa.totp_removed', data: { account_id: 'acc_1', factor_id: 'tot_1' } };
    mfa(enrolled).when({ type: 'remove_totp' }).thenEmits([removed]);
    mfa([...enrolled, removed])
      .when({ type: 'remove_totp' })
      .thenEmits([]);
    mfa([...enrolled, removed])
      .when(totp(500))
      .thenEmits([challenged('totp', 'wrong_code')]);
    mfa([...enrolled, removed])
      .when(recovery('rcv_2'))
      .thenEmits([challenged('recovery_code', 'wrong_code')]);
    mfa([]).when({ type: 'remove_totp' }).thenEmits([]);
  });

  it('uses each recovery code once, counting what remains; an unknown code is wrong', () => {
    mfa(enrolled).when(recovery('rcv_2')).thenEmits(used('rcv_2', 2));
    const once = [...enrolled, ...used('rcv_2', 2)];
    mfa(once)
      .when(recovery('rcv_2'))
      .thenEmits([challenged('recovery_code', 'code_reused')]);
    mfa(once).when(recovery('rcv_3')).thenEmits(used('rcv_3', 1));
    mfa(once)
      .when(recovery(null))
      .thenEmits([challenged('recovery_code', 'wrong_code')]);
    mfa(once)
      .when(recovery('rcv_404'))
      .thenEmits([challenged('recovery_code', 'wrong_code')]);
    mfa(once)
      .when(recovery('rcv_1', 'rcb_old'))
      .thenEmits([challenged('recovery_code', 'wrong_code')]);
  });

  it('issues new recovery codes only for an enrolled factor, once per batch; the old batch stops', () => {
    const issue = { type: 'issue_recovery_codes' as const, batch_id: 'rcb_2', code_ids: ['rcv_7', 'rcv_8'] };
    mfa([]).when(issue).thenThrows('not_found');
    const issued: MfaEvent = {
      type: 'mfa.recovery_codes_issued',
      data: { account_id: 'acc_1', batch_id: 'rcb_2', code_ids: ['rcv_7', 'rcv_8'], count: 2 },
    };
    mfa(enrolled).when(issue).thenEmits([issued]);
    mfa([...enrolled, issued])
      .when(issue)
      .thenEmits([]);
    mfa([...enrolled, issued])
      .when(recovery('rcv_1'))
      .thenEmits([challenged('recovery_code', 'wrong_code')]);
    mfa([...enrolled, issued])
      .when(recovery('rcv_8', 'rcb_2'))
      .thenEmits([
        challenged('recovery_code', null),
        {
          type: 'mfa.recovery_code_used',
          data: { account_id: 'acc_1', batch_id: 'rcb_2', code_id: 'rcv_8', remaining: 1 },
        },
      ]);
  });

  it('reads back the outcome of the latest challenge', () => {
    const fold = (events: MfaEvent[]) => events.reduce(mfaDecider.evolve, mfaDecider.initialState());
    expect(fold(enrolled).challenge).toBeNull();
    expect(fold([...enrolled, challenged('totp', null, 101)]).challenge).toBe('succeeded');
    expect(fold([...enrolled, challenged('totp', null, 101), challenged('totp', 'code_reused')]).challenge).toBe(
      'failed',
    );
    expect(fold([...enrolled, ...used('rcv_1', 2)]).challenge).toBe('succeeded');
  });
});
