import { sql } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import { type EmailCommand, type EmailState, emailAggregate } from '../../commands/email.ts';
import { PLATFORM_TENANT, tenantAggregate } from '../../commands/tenant.ts';
import type { EmailEvent, TenantEvent } from '../../events/catalog.ts';
import type { EmailFailureReason } from '../../events/email.ts';
import type { RecordedEvent } from '../../events/envelope.ts';
import type { EmailOutboxRow } from '../../read-models/email-outbox.ts';
import { handleCommand } from '../command-handler.ts';
import type { Database, Queryable } from '../db/database.ts';
import { build, run } from '../db/typed-query.ts';
import type { EventLog } from '../event-log.ts';
import { failpoint } from '../failpoints.ts';
import type { MasterKeyRing } from '../secrets/keyring.ts';
import { maxAttempts, nextDelay } from '../webhooks/retry-schedule.ts';
import { runWorkerLoop } from '../worker-loop.ts';
import type { EmailConfig } from './config.ts';
import { type LinkPurpose, linkUrl, signLink } from './links.ts';
import { EmailRenderer, isEmailTemplate, type RenderedEmail } from './templates.ts';
import { type EmailTransport, OutboxDirectoryTransport, type SendResult, SmtpTransport } from './transport.ts';

/** The intake's row in `projection_checkpoints`, the one checkpoint table. */
export const EMAIL_CHECKPOINT = 'email_outbox';
/** The system actor the worker records outcomes under. */
export const EMAIL_ACTOR = { type: 'system', id: 'email-worker' } as const;
/** The sender named in mail of the platform itself (accounts are platform-wide). */
const PLATFORM_NAME = 'SigID';
const INTAKE_PAGE = 500;

const queuedData = z.object({ message_id: z.string() });

type Outcome = Extract<EmailCommand, { type: 'record_sent' | 'record_failed' }>;

/**
 * The e-mail worker: sends each `email.queued` at least once, driven from the event stream.
 *
 * - **Intake**: a reader of the global order with its own checkpoint (`email_outbox` in
 *   `projection_checkpoints`) that writes one `email_outbox` row per queued message in the
 *   transaction that moves the checkpoint, so a crash never loses a message nor queues it twice.
 * - **Sending**: one lane per tenant with mail due (at most `concurrency` at once), each sending its
 *   tenant's due messages one at a time in queue order, so a tenant whose mail hangs or fails holds
 *   up no other tenant. Each attempt reads the message's stream (its recipient and parameters, null
 *   once the subject is erased), renders it, signs its link again, and sends; the outcome is an event
 *   (`email.sent`, or `email.failed` once refused for good or the retry schedule runs out), then the
 *   row goes. A transient failure leaves the row with its next attempt's time.
 * - A crash after sending and before recording sends the message again, with the same Message-ID.
 *   An attempt is counted before it starts, so a message that kills the process still runs out of
 *   attempts. Both parts run in one worker loop under one advisory lock: exactly one process sends.
 */
export class EmailWorker {
  readonly transport: EmailTransport;
  readonly #db: Database;
  readonly #log: EventLog;
  readonly #config: EmailConfig;
  readonly #keyring: MasterKeyRing;
  readonly #logger: Logger | undefined;
  readonly #renderer = new EmailRenderer();
  readonly #controller = new AbortController();
  readonly #running = new Map<string, Promise<void>>();
  #wake: (() => void) | undefined;
  #woken = false;
  #loop: Promise<void> | undefined;

  constructor(
    db: Database,
    log: EventLog,
    config: EmailConfig & { outboxDir: string },
    options: { keyring: MasterKeyRing; logger?: Logger | undefined },
  ) {
    this.#db = db;
    this.#log = log;
    this.#config = config;
    this.#keyring = options.keyring;
    this.#logger = options.logger;
    // The intake waits for `email.queued` by type, in whichever process holds the outbox's lock.
    log.store.announcePromptly?.(['email.queued']);
    this.transport = config.smtpUrl
      ? new SmtpTransport(config.smtpUrl, config.timeoutMs)
      : new OutboxDirectoryTransport(config.outboxDir);
  }

  start(): void {
    if (this.#loop) return;
    if (this.transport instanceof OutboxDirectoryTransport) {
      this.#logger?.info({ outbox: this.transport.dir }, 'e-mail is written to .eml files (SIGID_SMTP_URL is not set)');
    }
    this.#loop = this.#run();
  }

  /** There may be work (mail queued in this process, a lane finished): look now. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    this.#wake?.();
    await this.#loop;
    await Promise.allSettled(this.#running.values());
    this.transport.close();
  }

  #run(): Promise<void> {
    return runWorkerLoop({
      db: this.#db,
      lock: 'email:outbox',
      signal: this.#controller.signal,
      lockRetryMs: this.#config.pollMs * 2,
      restartMs: this.#config.pollMs,
      logger: this.#logger,
      describe: { worker: 'e-mail' },
      work: async (signal) => {
        // The intake's checkpoint row exists from the start, as the projections' do.
        await run(
          this.#db,
          build
            .insertInto('projection_checkpoints')
            .values({ name: EMAIL_CHECKPOINT, version: 1, position: 0, updated_at: sql`now()` })
            .onConflict((oc) => oc.column('name').doNothing()),
        );
        // This process holds the lock now: a message left "sending" was being sent by one that died.
        await this.#releaseInterrupted();
        try {
          while (!signal.aborted) {
            this.#woken = false;
            const took = await this.intake();
            const wait = await this.#launchDue(signal);
            if (took || this.#woken) continue;
            await this.#sleep(Math.min(wait, this.#config.pollMs), signal);
          }
        } finally {
          await Promise.allSettled(this.#running.values());
        }
      },
    });
  }

  /** Sleeps until woken, an `email.queued` is appended (here or, through NOTIFY, elsewhere), or `ms`. */
  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    const woken = new AbortController();
    const abort = () => woken.abort();
    this.#wake = abort;
    signal.addEventListener('abort', abort, { once: true });
    try {
      await this.#log.store.waitForAppend(Math.max(0, ms), woken.signal, ['email.queued']);
    } finally {
      this.#wake = undefined;
      signal.removeEventListener('abort', abort);
    }
  }

  /** Where the intake has read up to. */
  async checkpoint(): Promise<number> {
    return readCheckpoint(this.#db, false);
  }

  /**
   * Moves one page of `email.queued` into the outbox, with the checkpoint; true when it took
   * messages (there may be more), false when there was nothing new or only other events passed
   * (the checkpoint moved on; the loop then sleeps rather than chase a head other writes keep moving).
   */
  async intake(): Promise<boolean> {
    const from = await this.checkpoint();
    const page = await this.#log.store.readAll({
      after: from,
      types: ['email.queued'],
      limit: INTAKE_PAGE,
      direction: 'forwards',
    });
    if (page.events.length === 0 && page.checkpoint <= from) return false;
    const rows = page.events.map((event) => ({
      tenant_id: event.tenantId,
      message_id: queuedData.parse(event.data).message_id,
      stream: event.stream,
      event_position: event.position,
      queued_at: event.time,
    }));
    await this.#db.transaction(async (tx) => {
      if ((await readCheckpoint(tx, true)) !== from)
        throw new Error('the e-mail checkpoint moved: another worker runs');
      if (rows.length > 0) {
        await run(
          tx,
          build
            .insertInto('email_outbox')
            .columns(['tenant_id', 'message_id', 'stream', 'event_position', 'queued_at', 'next_attempt_at'])
            .expression(
              sql`select u.tenant_id, u.message_id, u.stream, u.event_position, u.queued_at, u.queued_at
                  from unnest(${rows.map((row) => row.tenant_id)}::text[],
                              ${rows.map((row) => row.message_id)}::text[],
                              ${rows.map((row) => row.stream)}::text[],
                              ${rows.map((row) => row.event_position)}::bigint[],
                              ${rows.map((row) => row.queued_at.toISOString())}::timestamptz[])
                         with ordinality as u(tenant_id, message_id, stream, event_position, queued_at, ord)
                  order by u.ord`,
            )
            .onConflict((oc) => oc.columns(['tenant_id', 'message_id']).doNothing()),
        );
      }
      await run(
        tx,
        build
          .insertInto('projection_checkpoints')
          .values({ name: EMAIL_CHECKPOINT, version: 1, position: page.checkpoint, updated_at: sql`now()` })
          .onConflict((oc) => oc.column('name').doUpdateSet({ position: page.checkpoint, updated_at: sql`now()` })),
      );
    });
    return rows.length > 0;
  }

  /** Messages "sending" with no lane of this process on them are due again (their attempt is counted). */
  async #releaseInterrupted(): Promise<void> {
    await run(
      this.#db,
      build
        .updateTable('email_outbox')
        .set({ sending_since: null, next_attempt_at: new Date() })
        .where('sending_since', 'is not', null)
        .where((eb) =>
          this.#running.size === 0
            ? eb.lit(true)
            : eb('tenant_id', '<>', sql<string>`all(${[...this.#running.keys()]}::text[])`),
        ),
    );
  }

  /** Starts a lane for each tenant with mail due (oldest first, up to `concurrency`); returns ms until the next is due. */
  async #launchDue(signal: AbortSignal): Promise<number> {
    const { rows } = await run(
      this.#db,
      build
        .selectFrom('email_outbox')
        .distinctOn('tenant_id')
        .select(['tenant_id', 'next_attempt_at'])
        .where('sending_since', 'is', null)
        .orderBy('tenant_id')
        .orderBy('next_attempt_at'),
    );
    const now = Date.now();
    let wait = Number.POSITIVE_INFINITY;
    rows.sort((a, b) => new Date(a.next_attempt_at).getTime() - new Date(b.next_attempt_at).getTime());
    for (const row of rows) {
      if (this.#running.has(row.tenant_id)) continue;
      const due = new Date(row.next_attempt_at).getTime() - now;
      if (due > 0) {
        wait = Math.min(wait, due);
        continue;
      }
      if (this.#running.size >= this.#config.concurrency) break;
      const lane = this.#lane(row.tenant_id, signal)
        .catch((error: unknown) => {
          this.#logger?.error({ err: error, tenant_id: row.tenant_id }, 'e-mail lane failed');
        })
        .finally(() => {
          this.#running.delete(row.tenant_id);
          this.wake();
        });
      this.#running.set(row.tenant_id, lane);
    }
    return wait;
  }

  /** Sends one tenant's due messages, one at a time in queue order, until none is due. */
  async #lane(tenantId: string, signal: AbortSignal): Promise<void> {
    const tenants = new Map<string, { name: string; deleted: boolean }>();
    while (!signal.aborted) {
      const { rows } = await run(
        this.#db,
        build
          .selectFrom('email_outbox')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('sending_since', 'is', null)
          .where('next_attempt_at', '<=', new Date())
          .orderBy('seq')
          .limit(1),
      );
      const row = rows[0];
      if (!row) return;
      try {
        await this.#attempt(row as EmailOutboxRow, tenants);
      } catch (error) {
        // The store or the database failed, not the mail: look again after a pause.
        await run(
          this.#db,
          build
            .updateTable('email_outbox')
            .set({ sending_since: null, next_attempt_at: new Date(Date.now() + this.#config.pollMs) })
            .where('tenant_id', '=', row.tenant_id)
            .where('message_id', '=', row.message_id),
        ).catch(() => {});
        throw error;
      }
    }
  }

  /** One attempt at one message: read, give up or render, send, record. */
  async #attempt(row: EmailOutboxRow, tenants: Map<string, { name: string; deleted: boolean }>): Promise<void> {
    const history = (await this.#log.readStream(row.stream)) as unknown as RecordedEvent<EmailEvent>[];
    const queued = history.find((event) => event.type === 'email.queued');
    const state = history.reduce(
      (current, event) => emailAggregate.decider.evolve(current, event),
      emailAggregate.decider.initialState(),
    );
    if (!queued || state.status !== 'queued') {
      // Recorded already (a crash came between the record and the row's removal).
      await this.#finish(row);
      return;
    }
    const attempt = row.attempts + 1;
    const giveUp = (
      reason: EmailFailureReason,
      codes = { smtp_code: null as number | null, error_code: null as string | null },
    ) => this.#giveUp(row, queued, { type: 'record_failed', attempts: row.attempts, reason, ...codes });
    if (attempt > maxAttempts(this.#config.retrySchedule)) {
      // Its last attempt was cut short by a crash.
      const smtpCode = smtpCodeOf(row.last_error);
      return giveUp('unavailable', { smtp_code: smtpCode, error_code: smtpCode === null ? row.last_error : null });
    }
    // Nothing to send any more: said so without trying.
    if (state.to === null || state.params === null) return giveUp('recipient_erased');
    const tenant = await this.#tenant(row.tenant_id, tenants);
    if (tenant.deleted) return giveUp('tenant_deleted');
    if (state.link && new Date(state.link.expires_at).getTime() <= Date.now()) return giveUp('link_expired');
    const content = this.#render(row.tenant_id, state, tenant.name);
    if (!content) return giveUp('render_failed');

    // Counted before it starts: a message that kills the process still runs out of attempts.
    await run(
      this.#db,
      build
        .updateTable('email_outbox')
        .set({ attempts: attempt, sending_since: new Date() })
        .where('tenant_id', '=', row.tenant_id)
        .where('message_id', '=', row.message_id),
    );
    const result = await this.transport.send({
      messageId: state.message_id,
      from: this.#config.from,
      domain: this.#config.fromDomain,
      to: state.to,
      queuedAt: queued.time,
      content,
    });
    const described = { tenant_id: row.tenant_id, message_id: row.message_id, template: state.template, attempt };
    if (result.ok) {
      failpoint('email.send:after-send');
      await this.#record(row, queued, { type: 'record_sent', attempts: attempt, transport: this.transport.kind });
      await this.#finish(row);
      // The file's name, never the recipient, the link or its token.
      if (result.file) this.#logger?.info({ ...described, file: result.file }, 'e-mail written to the outbox');
      else this.#logger?.info(described, 'e-mail sent');
      return;
    }
    const delay = result.permanent ? null : nextDelay(this.#config.retrySchedule, attempt);
    const codes = { smtp_code: result.smtpCode, error_code: result.errorCode };
    this.#logger?.warn({ ...described, ...codes, permanent: result.permanent }, 'e-mail attempt failed');
    if (delay === null) {
      const reason = result.permanent ? 'rejected' : 'unavailable';
      return this.#giveUp(row, queued, { type: 'record_failed', attempts: attempt, reason, ...codes });
    }
    await run(
      this.#db,
      build
        .updateTable('email_outbox')
        .set({
          sending_since: null,
          next_attempt_at: new Date(Date.now() + delay),
          last_error: errorOf(result),
        })
        .where('tenant_id', '=', row.tenant_id)
        .where('message_id', '=', row.message_id),
    );
  }

  /** Renders the message with its link's token made again; null when it cannot be rendered. */
  #render(
    tenantId: string,
    state: Exclude<EmailState, { status: 'absent' }>,
    tenantName: string,
  ): RenderedEmail | null {
    try {
      if (!isEmailTemplate(state.template)) return null;
      const link = state.link
        ? {
            url: linkUrl(
              state.link.url,
              signLink(this.#keyring, {
                linkId: state.link.link_id,
                tenantId,
                purpose: state.link.purpose as LinkPurpose,
                subject: state.subject_id,
                expiresAt: new Date(state.link.expires_at),
              }),
            ),
            expiresAt: new Date(state.link.expires_at),
          }
        : null;
      return this.#renderer.render(state.template, { tenantName, params: state.params ?? {}, link });
    } catch (error) {
      // The message (and so the error) may hold personal data: only what failed is logged.
      this.#logger?.error(
        { message_id: state.message_id, template: state.template, err_name: (error as Error)?.name },
        'e-mail did not render',
      );
      return null;
    }
  }

  /** The tenant's name from its stream (not the read model, which may lag the mail it sends). */
  async #tenant(tenantId: string, cache: Map<string, { name: string; deleted: boolean }>) {
    const cached = cache.get(tenantId);
    if (cached) return cached;
    let tenant = { name: PLATFORM_NAME, deleted: false };
    if (tenantId !== PLATFORM_TENANT) {
      const history = (await this.#log.readStream(
        tenantAggregate.stream(tenantId, tenantId),
      )) as unknown as RecordedEvent<TenantEvent>[];
      const state = history.reduce(
        (current, event) => tenantAggregate.decider.evolve(current, event),
        tenantAggregate.decider.initialState(),
      );
      tenant =
        state.status === 'absent' || state.status === 'deleted'
          ? { name: '', deleted: true }
          : { name: state.name, deleted: false };
    }
    cache.set(tenantId, tenant);
    return tenant;
  }

  async #giveUp(row: EmailOutboxRow, queued: RecordedEvent, outcome: Outcome): Promise<void> {
    await this.#record(row, queued, outcome);
    await this.#finish(row);
    if (outcome.type === 'record_failed') {
      this.#logger?.warn(
        { tenant_id: row.tenant_id, message_id: row.message_id, reason: outcome.reason, attempts: outcome.attempts },
        'e-mail given up',
      );
    }
  }

  /** The outcome as an event on the message's stream, caused by its `email.queued` and under its correlation id. */
  async #record(row: EmailOutboxRow, queued: RecordedEvent, outcome: Outcome): Promise<void> {
    await handleCommand(this.#log, emailAggregate, row.message_id, outcome, {
      tenantId: row.tenant_id,
      actor: EMAIL_ACTOR,
      correlationId: queued.correlationId,
      causationId: queued.id,
    });
  }

  async #finish(row: EmailOutboxRow): Promise<void> {
    await run(
      this.#db,
      build.deleteFrom('email_outbox').where('tenant_id', '=', row.tenant_id).where('message_id', '=', row.message_id),
    );
  }
}

/** `smtp:451` or a transport code such as `ECONNREFUSED`. */
function errorOf(result: Extract<SendResult, { ok: false }>): string | null {
  if (result.smtpCode !== null) return `smtp:${result.smtpCode}`;
  return result.errorCode;
}

function smtpCodeOf(lastError: string | null): number | null {
  const match = lastError ? /^smtp:(\d{3})$/.exec(lastError) : null;
  return match ? Number(match[1]) : null;
}

async function readCheckpoint(on: Queryable, forUpdate: boolean): Promise<number> {
  const query = build.selectFrom('projection_checkpoints').select('position').where('name', '=', EMAIL_CHECKPOINT);
  const { rows } = await run(on, forUpdate ? query.forUpdate() : query);
  return rows[0]?.position ?? 0;
}
