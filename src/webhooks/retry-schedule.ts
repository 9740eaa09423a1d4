/**
 * When a failed delivery is tried again. Enforces:
 * - a delivery is tried once, then once after each step of the schedule, then given up;
 * - each step is spread by ±`jitter` (a fraction) so receivers coming back from an outage are not
 *   hit by every queued message in the same instant;
 * - a receiver's `Retry-After` (delta-seconds or an HTTP date) replaces the step, bounded to
 *   [`minRetryAfterMs`, `maxRetryAfterMs`] so a receiver can neither make SigID spin nor park a
 *   message for ever.
 */

export interface RetrySchedule {
  /** Delays before the 2nd, 3rd, … attempt, in milliseconds. */
  readonly steps: readonly number[];
  /** Fraction each step is spread by, 0 to 1. */
  readonly jitter: number;
  readonly minRetryAfterMs: number;
  readonly maxRetryAfterMs: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27.5 hours. */
export const defaultRetrySchedule: RetrySchedule = {
  steps: [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR],
  jitter: 0.2,
  minRetryAfterMs: SECOND,
  maxRetryAfterMs: 10 * HOUR,
};

/**
 * A schedule from its text form, a comma-separated list of durations (`5s,5m,30m,2h,5h,10h,10h`;
 * units ms, s, m, h, d; a bare number is milliseconds). Throws on anything else.
 */
export function parseRetrySchedule(text: string, base: RetrySchedule = defaultRetrySchedule): RetrySchedule {
  const steps = text.split(',').map((part) => parseDuration(part.trim()));
  if (steps.length === 0) throw new Error('a retry schedule needs at least one step');
  return { ...base, steps };
}

const UNITS: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: 24 * HOUR };

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a duration such as 500ms, 5s, 30m, 2h or 1d`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']!);
}

/**
 * How long to wait before the next attempt, after `attemptsMade` attempts failed; null when the
 * schedule is exhausted. `retryAfterMs` is the receiver's parsed `Retry-After`, if any.
 */
export function nextDelay(
  schedule: RetrySchedule,
  attemptsMade: number,
  retryAfterMs: number | null = null,
  random: () => number = Math.random,
): number | null {
  const step = schedule.steps[attemptsMade - 1];
  if (step === undefined) return null;
  if (retryAfterMs !== null) {
    return Math.min(schedule.maxRetryAfterMs, Math.max(schedule.minRetryAfterMs, retryAfterMs));
  }
  const spread = step * schedule.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(step + spread));
}

/** Total attempts a message gets: the first plus one per step. */
export function maxAttempts(schedule: RetrySchedule): number {
  return schedule.steps.length + 1;
}

/**
 * A `Retry-After` header in milliseconds from `now`: delta-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2026 07:28:00 GMT`). Null when absent or unreadable; a date in the past reads as 0.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | null {
  const header = Array.isArray(value) ? value[0] : value;
  if (header === undefined) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds * SECOND : null;
  }
  // An HTTP date opens with its weekday; Date.parse alone would also accept "5 years".
  if (!/^[A-Za-z]{3,9},? /.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}
