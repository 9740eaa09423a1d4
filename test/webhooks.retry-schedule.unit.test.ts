import { describe, expect, it } from 'vitest';
import {
  defaultRetrySchedule,
  maxAttempts,
  nextDelay,
  parseDuration,
  parseRetryAfter,
  parseRetrySchedule,
} from '../src/webhooks/retry-schedule.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

describe('webhook retry schedule', () => {
  it('retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h by default, then gives up after 8 attempts', () => {
    const middle = () => 0.5;
    const delays = [1, 2, 3, 4, 5, 6, 7].map((attempts) => nextDelay(defaultRetrySchedule, attempts, null, middle));
    expect(delays).toEqual([5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]);
    expect(nextDelay(defaultRetrySchedule, 8, null, middle)).toBeNull();
    expect(maxAttempts(defaultRetrySchedule)).toBe(8);
  });

  it('spreads each step by ±20 % so queued retries do not all land at once', () => {
    expect(nextDelay(defaultRetrySchedule, 2, null, () => 0)).toBe(4 * MINUTE);
    expect(nextDelay(defaultRetrySchedule, 2, null, () => 0.999999)).toBeCloseTo(6 * MINUTE, -2);
    const spread = new Set(Array.from({ length: 50 }, () => nextDelay(defaultRetrySchedule, 1)));
    expect(spread.size).toBeGreaterThan(10);
    for (const delay of spread) {
      expect(delay).toBeGreaterThanOrEqual(4 * SECOND);
      expect(delay).toBeLessThanOrEqual(6 * SECOND);
    }
  });

  it("uses the receiver's Retry-After instead of the step, within bounds", () => {
    expect(nextDelay(defaultRetrySchedule, 1, 90 * SECOND)).toBe(90 * SECOND);
    expect(nextDelay(defaultRetrySchedule, 1, 0)).toBe(SECOND);
    expect(nextDelay(defaultRetrySchedule, 1, 7 * 24 * HOUR)).toBe(10 * HOUR);
    expect(nextDelay(defaultRetrySchedule, 8, 10 * SECOND)).toBeNull();
  });

  it('reads Retry-After as delta-seconds or as an HTTP date, and ignores anything else', () => {
    const now = Date.parse('2026-11-23T12:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120 * SECOND);
    expect(parseRetryAfter('Mon, 23 Nov 2026 12:00:30 GMT', now)).toBe(30 * SECOND);
    expect(parseRetryAfter('Monday, 23-Nov-26 12:01:00 GMT', now)).toBe(60 * SECOND);
    expect(parseRetryAfter('Mon, 23 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(['7'], now)).toBe(7 * SECOND);
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
    expect(parseRetryAfter('2026', now)).toBe(2026 * SECOND);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('1.5', now)).toBeNull();
  });

  it('takes a schedule from configuration text', () => {
    expect(parseRetrySchedule('50ms,100ms, 1s,2m,1h,1d').steps).toEqual([50, 100, SECOND, 2 * MINUTE, HOUR, 24 * HOUR]);
    expect(parseDuration('250')).toBe(250);
    expect(() => parseRetrySchedule('5s,soon')).toThrow(/not a duration/);
  });
});
