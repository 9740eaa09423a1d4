import { tmpdir } from 'node:os';
import { join } from 'node:path';
import addressparser from 'nodemailer/lib/addressparser';
import { z } from 'zod';
import { parseRetrySchedule, type RetrySchedule } from '../webhooks/retry-schedule.ts';

/** Every e-mail setting, with its default (docs/email.md and docs/configuration.md list them). */
export interface EmailConfig {
  /** Run the e-mail worker in this process. SIGID_EMAIL_WORKER, default true. */
  worker: boolean;
  /** SIGID_SMTP_URL (`smtp://user:pass@host:587`, `smtps://…`): send through it. Unset: write `.eml` files. Never logged. */
  smtpUrl: string | undefined;
  /** SIGID_EMAIL_FROM, default `SigID <no-reply@localhost>`. */
  from: string;
  /** The domain of `from`: the right-hand side of every Message-ID. */
  fromDomain: string;
  /**
   * SIGID_EMAIL_OUTBOX_DIR: where `.eml` files go without SMTP. Undefined: `{SIGID_DATA_DIR}/outbox`,
   * or a directory of this user's under the system's temporary directory when there is no data
   * directory (in-memory, or DATABASE_URL without SIGID_DATA_DIR). See `outboxDirOf`.
   */
  outboxDir: string | undefined;
  /** SIGID_EMAIL_RETRY_SCHEDULE: delays before the 2nd, 3rd… attempt, default `30s,2m,10m,1h`. */
  retrySchedule: RetrySchedule;
  /** SIGID_SMTP_TIMEOUT_MS: the connection, greeting and socket timeouts of one attempt, default 15 000. */
  timeoutMs: number;
  /** SIGID_EMAIL_CONCURRENCY: tenants whose mail is sent at once (one message at a time each), default 8. */
  concurrency: number;
  /** SIGID_EMAIL_POLL_MS: how often the worker looks for work when not woken, default 1000. */
  pollMs: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** 30 s, 2 min, 10 min, 1 h: five attempts over about 1 h 15 min, each spread by ±20 %. */
export const defaultEmailRetrySchedule: RetrySchedule = {
  steps: [30 * SECOND, 2 * MINUTE, 10 * MINUTE, 60 * MINUTE],
  jitter: 0.2,
  minRetryAfterMs: SECOND,
  maxRetryAfterMs: 60 * MINUTE,
};

const boolean = z
  .enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'])
  .transform((value) => ['true', '1', 'on', 'yes'].includes(value));

const schedule = z.string().transform((value, context) => {
  try {
    return parseRetrySchedule(value, defaultEmailRetrySchedule);
  } catch (error) {
    context.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const schema = z.object({
  SIGID_EMAIL_WORKER: boolean.default(true),
  SIGID_SMTP_URL: z
    .string()
    .refine((value) => URL.canParse(value) && ['smtp:', 'smtps:'].includes(new URL(value).protocol), {
      // Not the value: it may carry a password.
      message: 'SIGID_SMTP_URL must be an smtp:// or smtps:// URL',
    })
    .optional(),
  SIGID_EMAIL_FROM: z.string().max(320).default('SigID <no-reply@localhost>'),
  SIGID_EMAIL_OUTBOX_DIR: z.string().optional(),
  SIGID_EMAIL_RETRY_SCHEDULE: schedule.optional(),
  SIGID_SMTP_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
  SIGID_EMAIL_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  SIGID_EMAIL_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
});

/** The e-mail settings from the environment; throws one message listing every bad one. */
export function loadEmailConfig(env: Record<string, string | undefined> = process.env): EmailConfig {
  const parsed = schema.safeParse(
    Object.fromEntries(
      Object.entries(env).filter(
        ([key, value]) => (key.startsWith('SIGID_EMAIL') || key.startsWith('SIGID_SMTP')) && value,
      ),
    ),
  );
  if (!parsed.success) {
    throw new Error(
      `invalid configuration: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
  }
  const value = parsed.data;
  return {
    worker: value.SIGID_EMAIL_WORKER,
    smtpUrl: value.SIGID_SMTP_URL,
    from: value.SIGID_EMAIL_FROM,
    fromDomain: fromDomain(value.SIGID_EMAIL_FROM),
    // With a database server and no data directory, nothing else of SigID lives on this machine's
    // disk: the files go to the temporary directory rather than a `./data` made for them alone.
    outboxDir:
      value.SIGID_EMAIL_OUTBOX_DIR ?? (env.DATABASE_URL && !env.SIGID_DATA_DIR ? temporaryOutboxDir() : undefined),
    retrySchedule: value.SIGID_EMAIL_RETRY_SCHEDULE ?? defaultEmailRetrySchedule,
    timeoutMs: value.SIGID_SMTP_TIMEOUT_MS,
    concurrency: value.SIGID_EMAIL_CONCURRENCY,
    pollMs: value.SIGID_EMAIL_POLL_MS,
  };
}

/** Where the `.eml` files go: SIGID_EMAIL_OUTBOX_DIR, else `{dataDir}/outbox`, else the temporary directory's. */
export function outboxDirOf(config: { dataDir: string | undefined; email: Pick<EmailConfig, 'outboxDir'> }): string {
  return config.email.outboxDir ?? (config.dataDir ? join(config.dataDir, 'outbox') : temporaryOutboxDir());
}

/** `{tmpdir}/sigid-{uid}/outbox`: one per user, so another user's directory is never written into. */
function temporaryOutboxDir(): string {
  return join(tmpdir(), `sigid-${process.getuid?.() ?? 'user'}`, 'outbox');
}

/** The domain of the one address in SIGID_EMAIL_FROM; throws when it holds none, or several. */
function fromDomain(from: string): string {
  const addresses = addressparser(from, { flatten: true });
  const address = addresses.length === 1 ? addresses[0]?.address : undefined;
  const at = address?.lastIndexOf('@') ?? -1;
  if (!address || at <= 0 || at === address.length - 1) {
    throw new Error(
      'invalid configuration: SIGID_EMAIL_FROM must be one address, such as `SigID <no-reply@example.com>`',
    );
  }
  return address.slice(at + 1);
}
