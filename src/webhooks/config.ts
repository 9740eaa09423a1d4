import { z } from 'zod';
import { defaultRetrySchedule, parseDuration, parseRetrySchedule, type RetrySchedule } from './retry-schedule.ts';
import { type Allowlist, parseAllowlist, type Resolver } from './ssrf.ts';

/** Every webhook setting, with its default (docs/webhooks.md and docs/configuration.md list them). */
export interface WebhookConfig {
  /** Run the delivery worker (fan-out and dispatcher) in this process. SIGID_WEBHOOK_WORKER, default true. */
  worker: boolean;
  /** SIGID_WEBHOOK_ALLOWLIST: hosts and CIDRs SigID may deliver to despite the SSRF rules. Empty by default. */
  allowlist: Allowlist;
  /** SIGID_WEBHOOK_RETRY_SCHEDULE, default `5s,5m,30m,2h,5h,10h,10h`. */
  retrySchedule: RetrySchedule;
  /** SIGID_WEBHOOK_TIMEOUT_MS: deadline of one delivery attempt, default 15 000. */
  timeoutMs: number;
  /** SIGID_WEBHOOK_CONNECT_TIMEOUT_MS, default 10 000. */
  connectTimeoutMs: number;
  /** SIGID_WEBHOOK_DISABLE_AFTER: an endpoint failing without a success for this long is disabled. Default 5d. */
  disableAfterMs: number;
  /** SIGID_WEBHOOK_SECRET_OVERLAP: how long a rotated-out secret still signs, default 24h. */
  secretOverlapMs: number;
  /** SIGID_WEBHOOK_RETENTION: how long finished messages and their attempts stay in the delivery log, default 30d. */
  retentionMs: number;
  /** SIGID_WEBHOOK_POLL_MS: how often the worker looks for work when not woken, default 1000. */
  pollMs: number;
  /** SIGID_WEBHOOK_MAX_CONCURRENT_ENDPOINTS: endpoints delivered to at once, default 256. */
  maxConcurrentEndpoints: number;
  /** How host names are resolved (the system resolver unless a test stands in for a customer's DNS). */
  resolve?: Resolver;
}

const boolean = z
  .enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'])
  .transform((value) => ['true', '1', 'on', 'yes'].includes(value));
const duration = z.string().transform((value, context) => {
  try {
    return parseDuration(value.trim());
  } catch (error) {
    context.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const schema = z.object({
  SIGID_WEBHOOK_WORKER: boolean.default(true),
  SIGID_WEBHOOK_ALLOWLIST: z.string().default(''),
  SIGID_WEBHOOK_RETRY_SCHEDULE: z.string().optional(),
  SIGID_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
  SIGID_WEBHOOK_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  SIGID_WEBHOOK_DISABLE_AFTER: duration.default(5 * 24 * 3600 * 1000),
  SIGID_WEBHOOK_SECRET_OVERLAP: duration.default(24 * 3600 * 1000),
  SIGID_WEBHOOK_RETENTION: duration.default(30 * 24 * 3600 * 1000),
  SIGID_WEBHOOK_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
  SIGID_WEBHOOK_MAX_CONCURRENT_ENDPOINTS: z.coerce.number().int().min(1).max(10_000).default(256),
});

/** The webhook settings from the environment; throws one message listing every bad one. */
export function loadWebhookConfig(env: Record<string, string | undefined> = process.env): WebhookConfig {
  const parsed = schema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([key, value]) => key.startsWith('SIGID_WEBHOOK') && value)),
  );
  if (!parsed.success) {
    throw new Error(
      `invalid configuration: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
  }
  const value = parsed.data;
  return {
    worker: value.SIGID_WEBHOOK_WORKER,
    allowlist: parseAllowlist(value.SIGID_WEBHOOK_ALLOWLIST),
    retrySchedule: value.SIGID_WEBHOOK_RETRY_SCHEDULE
      ? parseRetrySchedule(value.SIGID_WEBHOOK_RETRY_SCHEDULE)
      : defaultRetrySchedule,
    timeoutMs: value.SIGID_WEBHOOK_TIMEOUT_MS,
    connectTimeoutMs: value.SIGID_WEBHOOK_CONNECT_TIMEOUT_MS,
    disableAfterMs: value.SIGID_WEBHOOK_DISABLE_AFTER,
    secretOverlapMs: value.SIGID_WEBHOOK_SECRET_OVERLAP,
    retentionMs: value.SIGID_WEBHOOK_RETENTION,
    pollMs: value.SIGID_WEBHOOK_POLL_MS,
    maxConcurrentEndpoints: value.SIGID_WEBHOOK_MAX_CONCURRENT_ENDPOINTS,
  };
}
