import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { DisabledReason } from '../../commands/webhook.ts';
import type { RecordedEvent } from '../../events/envelope.ts';
import type { Database } from '../db/database.ts';
import type { EventLog } from '../event-log.ts';
import { sleep } from '../event-store/subscription.ts';
import { maxAttempts, nextDelay, type RetrySchedule } from './retry-schedule.ts';
import { signingKeys } from './secrets.ts';
import type { SendResult, WebhookSender } from './sender.ts';
import { signedHeaders } from './signature.ts';

const BATCH_SIZE = 100;
const ERROR_CHARS = 500;

export interface DispatcherOptions {
  sender: WebhookSender;
  schedule: RetrySchedule;
  masterKey: Uint8Array;
  disableAfterMs: number;
  pollMs: number;
  maxConcurrentEndpoints: number;
  logger?: Logger | undefined;
  /** Appends `webhook.endpoint.disabled` (410 Gone, or failing too long). */
  disableEndpoint: (tenantId: string, endpointId: string, reason: DisabledReason, detail: string) => Promise<void>;
}

interface QueuedMessage {
  message_id: string;
  event_id: string;
  event_position: number;
  event_type: string;
  attempts: number;
  next_attempt_at: Date;
}

interface Outcome {
  message: QueuedMessage;
  attemptedAt: Date;
  result: SendResult;
  verdict: 'delivered' | 'retry' | 'failed' | 'gone';
  nextAttemptAt: Date | null;
}

/** A status the receiver may recover from: worth the retry schedule. Other 4xx and 3xx are final. */
function retryable(result: SendResult): boolean {
  if (result.kind !== 'response') return true;
  return result.status >= 500 || result.status === 408 || result.status === 425 || result.status === 429;
}

/**
 * The dispatcher: one delivery loop per endpoint with due messages, each sending that endpoint's
 * queue strictly in order (a message waits until the one before it is delivered or given up), so
 * one slow or dead endpoint never holds up another. Each attempt is signed afresh, logged, and on
 * failure scheduled per the retry schedule (the receiver's `Retry-After` honoured). 410 Gone
 * disables the endpoint at once; so does failing without a success for `disableAfterMs`. Results
 * are saved after each batch: a crash re-sends at most that batch (at least once, never lost).
 */
export class WebhookDispatcher {
  readonly #db: Database;
  readonly #log: EventLog;
  readonly #options: DispatcherOptions;
  readonly #controller = new AbortController();
  readonly #running = new Map<string, Promise<void>>();
  #wake: (() => void) | undefined;
  #woken = false;
  #loop: Promise<void> | undefined;

  constructor(db: Database, log: EventLog, options: DispatcherOptions) {
    this.#db = db;
    this.#log = log;
    this.#options = options;
  }

  start(): void {
    this.#loop ??= this.#supervise();
  }

  /** New messages are queued, or an endpoint was enabled: look for due work now. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    this.#wake?.();
    await this.#loop;
    await Promise.allSettled(this.#running.values());
  }

  async #supervise(): Promise<void> {
    const signal = this.#controller.signal;
    while (!signal.aborted) {
      const release = await this.#db.tryLock('webhooks:dispatcher').catch((error: unknown) => {
        this.#options.logger?.error({ err: error }, 'webhook dispatcher lock failed');
        return null;
      });
      if (!release) {
        await sleep(this.#options.pollMs * 2, signal);
        continue;
      }
      const unlisten = await this.#db.listen('sigid_webhooks', () => this.wake()).catch(() => undefined);
      try {
        while (!signal.aborted) {
          this.#woken = false;
          const wait = await this.#launchDue();
          if (this.#woken) continue;
          await this.#sleep(Math.min(wait, this.#options.pollMs));
        }
      } catch (error) {
        if (!signal.aborted) {
          this.#options.logger?.error({ err: error }, 'webhook dispatcher stopped; restarting');
          await sleep(this.#options.pollMs, signal);
        }
      } finally {
        await unlisten?.().catch(() => {});
        await Promise.allSettled(this.#running.values());
        await release();
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    }).finally(() => {
      this.#wake = undefined;
    });
  }

  /** Starts a loop for every enabled endpoint whose next message is due; returns ms until the next one is. */
  async #launchDue(): Promise<number> {
    const { rows } = await this.#db.query<{ tenant_id: string; endpoint_id: string; next_attempt_at: Date }>(
      `select q.tenant_id, q.endpoint_id, q.next_attempt_at
       from (select distinct on (endpoint_id) tenant_id, endpoint_id, next_attempt_at
             from webhook_messages where status = 'pending' order by endpoint_id, seq) q
       join webhook_subscriptions s on s.tenant_id = q.tenant_id and s.endpoint_id = q.endpoint_id and s.enabled`,
    );
    const now = Date.now();
    let wait = Number.POSITIVE_INFINITY;
    for (const row of rows) {
      if (this.#running.has(row.endpoint_id)) continue;
      const due = row.next_attempt_at.getTime() - now;
      if (due > 0) {
        wait = Math.min(wait, due);
        continue;
      }
      if (this.#running.size >= this.#options.maxConcurrentEndpoints) break;
      const loop = this.#deliverEndpoint(row.tenant_id, row.endpoint_id)
        .catch((error: unknown) => {
          this.#options.logger?.error({ err: error, endpoint_id: row.endpoint_id }, 'webhook endpoint loop failed');
        })
        .finally(() => {
          this.#running.delete(row.endpoint_id);
          this.wake();
        });
      this.#running.set(row.endpoint_id, loop);
    }
    return wait;
  }

  /** Delivers one endpoint's due messages in order until its queue is empty, a retry must wait, or it is disabled. */
  async #deliverEndpoint(tenantId: string, endpointId: string): Promise<void> {
    const signal = this.#controller.signal;
    let keys: KeyObject[] | undefined;
    while (!signal.aborted) {
      const { rows: subscriptions } = await this.#db.query<{
        url: string;
        enabled: boolean;
        failing_since: Date | null;
      }>('select url, enabled, failing_since from webhook_subscriptions where tenant_id = $1 and endpoint_id = $2', [
        tenantId,
        endpointId,
      ]);
      const subscription = subscriptions[0];
      if (!subscription?.enabled) return;
      const { rows: queue } = await this.#db.query<QueuedMessage>(
        `select message_id, event_id, event_position, event_type, attempts, next_attempt_at from webhook_messages
         where endpoint_id = $1 and status = 'pending' order by seq limit $2`,
        [endpointId, BATCH_SIZE],
      );
      const head = queue[0];
      if (!head || head.next_attempt_at.getTime() > Date.now()) return;
      keys = await signingKeys(this.#db, this.#options.masterKey, tenantId, endpointId);
      if (keys.length === 0) return;
      const events = await this.#loadEvents(tenantId, queue);
      const outcomes: Outcome[] = [];
      for (const message of queue) {
        if (message.next_attempt_at.getTime() > Date.now()) break;
        const event = events.get(message.event_id);
        const attemptedAt = new Date();
        let result: SendResult;
        if (!event) {
          result = { kind: 'connection_error', error: 'the event could not be read', latencyMs: 0 };
        } else {
          const body = JSON.stringify({ type: event.type, timestamp: event.time.toISOString(), data: event.data });
          const headers = signedHeaders(keys, event.id, Math.floor(attemptedAt.getTime() / 1000), body);
          result = await this.#options.sender.send(subscription.url, { ...headers }, body);
        }
        if (signal.aborted) break; // stopping: this attempt is not recorded, so it is sent again
        const outcome = this.#judge(message, attemptedAt, result);
        outcomes.push(outcome);
        if (outcome.verdict !== 'delivered' && outcome.verdict !== 'failed') break;
      }
      await this.#record(tenantId, endpointId, outcomes);
      const last = outcomes[outcomes.length - 1];
      if (last?.verdict === 'gone') {
        await this.#disable(
          tenantId,
          endpointId,
          'gone',
          `The receiver answered 410 Gone to message ${last.message.message_id}.`,
        );
        return;
      }
      if (last && last.verdict !== 'delivered') {
        const recovered = outcomes.some((outcome) => outcome.verdict === 'delivered');
        const failingSince = recovered
          ? last.attemptedAt
          : (subscription.failing_since ?? (outcomes[0] as Outcome).attemptedAt);
        if (Date.now() - failingSince.getTime() >= this.#options.disableAfterMs) {
          await this.#disable(
            tenantId,
            endpointId,
            'failing',
            `Every delivery failed since ${failingSince.toISOString()}; last: ${describe(last.result)}`,
          );
          return;
        }
      }
      if (last?.verdict === 'retry') return;
    }
  }

  #judge(message: QueuedMessage, attemptedAt: Date, result: SendResult): Outcome {
    const attempts = message.attempts + 1;
    if (result.kind === 'response' && result.status >= 200 && result.status < 300) {
      return { message, attemptedAt, result, verdict: 'delivered', nextAttemptAt: null };
    }
    if (result.kind === 'response' && result.status === 410) {
      return { message, attemptedAt, result, verdict: 'gone', nextAttemptAt: attemptedAt };
    }
    if (!retryable(result) || attempts >= maxAttempts(this.#options.schedule)) {
      return { message, attemptedAt, result, verdict: 'failed', nextAttemptAt: null };
    }
    const delay = nextDelay(this.#options.schedule, attempts, result.kind === 'response' ? result.retryAfterMs : null);
    if (delay === null) return { message, attemptedAt, result, verdict: 'failed', nextAttemptAt: null };
    return { message, attemptedAt, result, verdict: 'retry', nextAttemptAt: new Date(Date.now() + delay) };
  }

  /** The events of a batch of messages, decoded (personal data erased since reads as null). */
  async #loadEvents(tenantId: string, queue: QueuedMessage[]): Promise<Map<string, RecordedEvent>> {
    const wanted = new Set(queue.map((message) => message.event_id));
    const positions = queue.map((message) => message.event_position);
    const types = [...new Set(queue.map((message) => message.event_type))];
    const found = new Map<string, RecordedEvent>();
    let after = Math.min(...positions) - 1;
    const last = Math.max(...positions);
    while (found.size < wanted.size && after < last) {
      const page = await this.#log.store.readAll({ tenantId, types, after, before: last + 1, limit: 500 });
      for (const stored of page.events) {
        if (!wanted.has(stored.id)) continue;
        try {
          found.set(stored.id, await this.#log.decode(stored));
        } catch (error) {
          this.#options.logger?.error({ err: error, event_id: stored.id }, 'webhook event could not be decoded');
        }
      }
      if (page.events.length < 500) break;
      after = page.checkpoint;
    }
    return found;
  }

  async #record(tenantId: string, endpointId: string, outcomes: Outcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    const anySuccess = outcomes.some((outcome) => outcome.verdict === 'delivered');
    const last = outcomes[outcomes.length - 1] as Outcome;
    await this.#db.transaction(async (tx) => {
      await tx.query(
        `with u as (
           select * from unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int[], $7::text[])
             as u(message_id, verdict, attempted_at, next_attempt_at, response_status, error)
         )
         update webhook_messages m set
           attempts = m.attempts + 1,
           status = case u.verdict when 'delivered' then 'delivered' when 'failed' then 'failed' else 'pending' end,
           next_attempt_at = coalesce(u.next_attempt_at, m.next_attempt_at),
           last_attempt_at = u.attempted_at,
           last_response_status = u.response_status,
           last_error = u.error,
           finished_at = case when u.verdict in ('delivered', 'failed') then u.attempted_at else null end
         from u where m.tenant_id = $1 and m.message_id = u.message_id`,
        [
          tenantId,
          outcomes.map((outcome) => outcome.message.message_id),
          outcomes.map((outcome) => outcome.verdict),
          outcomes.map((outcome) => outcome.attemptedAt),
          outcomes.map((outcome) => outcome.nextAttemptAt),
          outcomes.map((outcome) => (outcome.result.kind === 'response' ? outcome.result.status : null)),
          outcomes.map((outcome) => (outcome.result.kind === 'response' ? null : describe(outcome.result))),
        ],
      );
      await tx.query(
        `insert into webhook_attempts (tenant_id, message_id, attempt, endpoint_id, attempted_at, outcome,
                                       response_status, latency_ms, response_body, error, next_attempt_at)
         select $1, u.message_id, u.attempt, $2, u.attempted_at, u.outcome, u.response_status, u.latency_ms,
                u.response_body, u.error, u.next_attempt_at
         from unnest($3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::int[], $8::int[], $9::text[],
                     $10::text[], $11::timestamptz[])
           as u(message_id, attempt, attempted_at, outcome, response_status, latency_ms, response_body, error,
                next_attempt_at)
         on conflict (tenant_id, message_id, attempt) do nothing`,
        [
          tenantId,
          endpointId,
          outcomes.map((outcome) => outcome.message.message_id),
          outcomes.map((outcome) => outcome.message.attempts + 1),
          outcomes.map((outcome) => outcome.attemptedAt),
          outcomes.map((outcome) => (outcome.verdict === 'delivered' ? 'succeeded' : 'failed')),
          outcomes.map((outcome) => (outcome.result.kind === 'response' ? outcome.result.status : null)),
          outcomes.map((outcome) => outcome.result.latencyMs),
          outcomes.map((outcome) => (outcome.result.kind === 'response' ? outcome.result.body : null)),
          outcomes.map((outcome) => (outcome.result.kind === 'response' ? null : describe(outcome.result))),
          outcomes.map((outcome) => outcome.nextAttemptAt),
        ],
      );
      // An endpoint is failing from its first failure after its last success.
      await tx.query(
        `update webhook_subscriptions set failing_since = case when $3 then null else coalesce(failing_since, $4) end
         where tenant_id = $1 and endpoint_id = $2`,
        [
          tenantId,
          endpointId,
          last.verdict === 'delivered',
          anySuccess ? last.attemptedAt : (outcomes[0] as Outcome).attemptedAt,
        ],
      );
    });
  }

  async #disable(tenantId: string, endpointId: string, reason: DisabledReason, detail: string): Promise<void> {
    // Stop at once; the event appended next says the same to the fan-out, the read model and the audit log.
    await this.#db.query('update webhook_subscriptions set enabled = false where tenant_id = $1 and endpoint_id = $2', [
      tenantId,
      endpointId,
    ]);
    this.#options.logger?.warn({ tenant_id: tenantId, endpoint_id: endpointId, reason }, 'webhook endpoint disabled');
    await this.#options.disableEndpoint(tenantId, endpointId, reason, detail);
  }
}

function describe(result: SendResult): string {
  if (result.kind === 'response') return `HTTP ${result.status}`;
  return `${result.kind}: ${result.error}`.slice(0, ERROR_CHARS);
}
