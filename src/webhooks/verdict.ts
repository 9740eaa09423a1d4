import { maxAttempts, nextDelay, type RetrySchedule } from './retry-schedule.ts';
import type { SendResult } from './sender.ts';

/**
 * The dispatcher's pure decisions, no I/O: what one attempt's result means for its message
 * (delivered, retry when, given up, or the endpoint gone), and what a batch of attempts changes in
 * the endpoint's queue state (its cursor, the head's retry state, since when it has been failing).
 */

const ERROR_CHARS = 500;

/** A queued message as the dispatcher reads it from the endpoint's queue. */
export interface QueuedMessage {
  seq: number;
  message_id: string;
  event_id: string;
  event_position: number;
  event_type: string;
}

/** What became of one attempt. */
export interface Outcome {
  message: QueuedMessage;
  /** This attempt's number: 1 for the first. */
  attempt: number;
  /** Epoch milliseconds, as are the other times of the hot path (a Date each would be garbage). */
  attemptedAt: number;
  result: SendResult;
  verdict: 'delivered' | 'retry' | 'failed' | 'gone';
  nextAttemptAt: number | null;
}

/** A status the receiver may recover from: worth the retry schedule. Other 4xx and 3xx are final. */
export function retryable(result: SendResult): boolean {
  if (result.kind !== 'response') return true;
  return result.status >= 500 || result.status === 408 || result.status === 425 || result.status === 429;
}

/**
 * Judges one attempt: 2xx delivered; 410 Gone (the endpoint is to be disabled); a final refusal or
 * the last attempt of the schedule given up; otherwise retried after the schedule's delay (or the
 * receiver's `Retry-After`, within the schedule's bounds), counted from `now`.
 */
export function judge(
  schedule: RetrySchedule,
  message: QueuedMessage,
  attempt: number,
  attemptedAt: number,
  result: SendResult,
  now: number = Date.now(),
  random: () => number = Math.random,
): Outcome {
  const outcome = (verdict: Outcome['verdict'], nextAttemptAt: number | null = null): Outcome => ({
    message,
    attempt,
    attemptedAt,
    result,
    verdict,
    nextAttemptAt,
  });
  if (result.kind === 'response' && result.status >= 200 && result.status < 300) return outcome('delivered');
  if (result.kind === 'response' && result.status === 410) return outcome('gone');
  if (!retryable(result) || attempt >= maxAttempts(schedule)) return outcome('failed');
  const delay = nextDelay(schedule, attempt, result.kind === 'response' ? result.retryAfterMs : null, random);
  if (delay === null) return outcome('failed');
  return outcome('retry', now + delay);
}

/** One lane's batch as the save sends it: the endpoint's new cursor and head state, and its attempts. */
export interface BatchJson {
  tenant: string;
  endpoint: string;
  /** The cursor: the last message finished (0: none). */
  seq: number;
  /** Attempts of the message left at the head; `next`: when it is due again (epoch ms). */
  head: number;
  next?: number;
  /** The first failure after the batch's last success (epoch ms), or null when it ended in a success. */
  failing: number | null;
  /** A success in the batch: `failing` starts anew rather than continuing an earlier run of failures. */
  recovered: boolean;
  /** Messages given up. */
  given?: string[];
  attempts: AttemptJson[];
}

/** One attempt for the attempt log, as the save sends it (short keys: this JSON is built for every delivery). */
export interface AttemptJson {
  /** message id */
  m: string;
  /** attempt number */
  a: number;
  /** attempted at, epoch ms */
  t: number;
  /** latency ms */
  l: number;
  ok?: true;
  /** next attempt at, epoch ms */
  n?: number;
  /** response status */
  s?: number;
  /** response body (truncated by the sender) */
  b?: string;
  /** error */
  e?: string;
}

/**
 * What a batch of outcomes (in queue order, at least one) saves: every outcome but a last `retry` or
 * `gone` finishes its message and moves the cursor past it; those leave their message at the head
 * with its attempt count and due time. An endpoint is failing from its first failure after its last
 * success.
 */
export function batchToSave(tenantId: string, endpointId: string, outcomes: readonly Outcome[]): BatchJson {
  const last = outcomes[outcomes.length - 1] as Outcome;
  const lastSuccess = outcomes.findLastIndex((outcome) => outcome.verdict === 'delivered');
  const finished = last.verdict === 'retry' || last.verdict === 'gone' ? outcomes.length - 1 : outcomes.length;
  const batch: BatchJson = {
    tenant: tenantId,
    endpoint: endpointId,
    seq: finished > 0 ? (outcomes[finished - 1] as Outcome).message.seq : 0,
    head: finished < outcomes.length ? last.attempt : 0,
    failing: lastSuccess === outcomes.length - 1 ? null : (outcomes[lastSuccess + 1] as Outcome).attemptedAt,
    recovered: lastSuccess >= 0,
    attempts: outcomes.map(({ message, attempt, attemptedAt, result, verdict, nextAttemptAt }): AttemptJson => {
      const row: AttemptJson = { m: message.message_id, a: attempt, t: attemptedAt, l: result.latencyMs };
      if (verdict === 'delivered') row.ok = true;
      if (nextAttemptAt !== null) row.n = nextAttemptAt;
      if (result.kind === 'response') {
        row.s = result.status;
        if (result.body) row.b = result.body;
      } else row.e = describeResult(result);
      return row;
    }),
  };
  if (finished < outcomes.length && last.nextAttemptAt !== null) batch.next = last.nextAttemptAt;
  const givenUp = outcomes.filter((outcome) => outcome.verdict === 'failed');
  if (givenUp.length > 0) batch.given = givenUp.map((outcome) => outcome.message.message_id);
  return batch;
}

/** An attempt's result in a few words, for the attempt log and a disable's detail. Never a secret. */
export function describeResult(result: SendResult): string {
  if (result.kind === 'response') return `HTTP ${result.status}`;
  return `${result.kind}: ${result.error}`.slice(0, ERROR_CHARS);
}
