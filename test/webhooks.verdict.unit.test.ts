import { describe, expect, it } from 'vitest';
import { parseRetrySchedule } from '../src/webhooks/retry-schedule.ts';
import type { SendResult } from '../src/webhooks/sender.ts';
import { batchToSave, judge, type Outcome, type QueuedMessage } from '../src/webhooks/verdict.ts';

const schedule = parseRetrySchedule('10s,1m');
const now = 1_000_000;
const middle = () => 0.5;
const message = (seq: number): QueuedMessage => ({
  seq,
  message_id: `msg_${seq}`,
  event_id: `evt_${seq}`,
  event_position: seq,
  event_type: 'tenant.renamed',
});
const response = (status: number, retryAfterMs: number | null = null): SendResult => ({
  kind: 'response',
  status,
  retryAfterMs,
  body: status >= 300 ? 'no' : '',
  latencyMs: 7,
});
const timeout: SendResult = { kind: 'timeout', error: 'no answer in 15 s', latencyMs: 15_000 };

describe('webhook verdicts', () => {
  const verdict = (result: SendResult, attempt = 1) => judge(schedule, message(1), attempt, now, result, now, middle);

  it('delivers on 2xx, disables on 410, gives up on other 4xx and 3xx', () => {
    expect(verdict(response(204))).toMatchObject({ verdict: 'delivered', nextAttemptAt: null });
    expect(verdict(response(410))).toMatchObject({ verdict: 'gone', nextAttemptAt: null });
    expect(verdict(response(400))).toMatchObject({ verdict: 'failed', nextAttemptAt: null });
    expect(verdict(response(301))).toMatchObject({ verdict: 'failed' });
  });

  it('retries 5xx, 408, 425, 429 and network failures per the schedule, then gives up', () => {
    for (const result of [response(500), response(408), response(425), response(429), timeout]) {
      expect(verdict(result)).toMatchObject({ verdict: 'retry', nextAttemptAt: now + 10_000 });
    }
    expect(verdict(response(503), 2)).toMatchObject({ verdict: 'retry', nextAttemptAt: now + 60_000 });
    expect(verdict(response(503), 3)).toMatchObject({ verdict: 'failed', nextAttemptAt: null });
  });

  it("honours the receiver's Retry-After within the schedule's bounds", () => {
    expect(verdict(response(429, 30_000))).toMatchObject({ verdict: 'retry', nextAttemptAt: now + 30_000 });
    const huge = verdict(response(429, 365 * 86_400_000));
    expect(huge.nextAttemptAt).toBe(now + schedule.maxRetryAfterMs);
  });
});

describe('what a batch saves', () => {
  const outcome = (seq: number, result: SendResult, attempt = 1, at = now + seq): Outcome =>
    judge(schedule, message(seq), attempt, at, result, at, middle);

  it('moves the cursor past every delivered message, and is not failing after a success', () => {
    const batch = batchToSave('ten_a', 'whk_a', [outcome(1, response(200)), outcome(2, response(204))]);
    expect(batch).toMatchObject({ tenant: 'ten_a', endpoint: 'whk_a', seq: 2, head: 0, failing: null });
    expect(batch.recovered).toBe(true);
    expect(batch.next).toBeUndefined();
    expect(batch.attempts).toEqual([
      { m: 'msg_1', a: 1, t: now + 1, l: 7, ok: true, s: 200 },
      { m: 'msg_2', a: 1, t: now + 2, l: 7, ok: true, s: 204 },
    ]);
  });

  it('leaves a message to retry at the head with its attempts and due time, failing since that failure', () => {
    const batch = batchToSave('ten_a', 'whk_a', [outcome(1, response(200)), outcome(2, response(500), 3 - 1)]);
    expect(batch).toMatchObject({ seq: 1, head: 2, next: now + 2 + 60_000, failing: now + 2, recovered: true });
    expect(batch.attempts[1]).toEqual({ m: 'msg_2', a: 2, t: now + 2, l: 7, n: now + 2 + 60_000, s: 500, b: 'no' });
  });

  it('finishes a message given up (listed), and carries on failing without a success', () => {
    const batch = batchToSave('ten_a', 'whk_a', [outcome(4, response(400)), outcome(5, timeout, 1)]);
    expect(batch).toMatchObject({ seq: 4, head: 1, failing: now + 4, recovered: false, given: ['msg_4'] });
    expect(batch.attempts[1]).toMatchObject({ m: 'msg_5', e: 'timeout: no answer in 15 s' });
  });

  it('keeps a message the receiver answered 410 to at the head (for when the endpoint is enabled again)', () => {
    const batch = batchToSave('ten_a', 'whk_a', [outcome(7, response(410))]);
    expect(batch).toMatchObject({ seq: 0, head: 1, failing: now + 7, recovered: false });
    expect(batch.next).toBeUndefined();
  });
});
