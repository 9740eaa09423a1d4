import type { KeyObject } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { DisabledReason } from '../../commands/webhook.ts';
import type { RecordedEvent } from '../../events/envelope.ts';
import type { Database } from '../db/database.ts';
import type { EventLog } from '../event-log.ts';
import { sleep } from '../event-store/subscription.ts';
import type { SealedSecrets } from '../secrets/sealed-secrets.ts';
import { maxAttempts, nextDelay, type RetrySchedule } from './retry-schedule.ts';
import { signingKeys } from './secrets.ts';
import type { SendResult, WebhookSender } from './sender.ts';
import { signedHeaders } from './signature.ts';

/** Messages read per round trip, sent in batches. */
const READ_SIZE = 1000;
/** A batch ends at this many messages or after BATCH_MS, whichever first; its results are then saved. */
const BATCH_SIZE = 200;
/** …so a slow receiver's results are saved, and a disable or a URL change seen, within about a second. */
const BATCH_MS = 1000;
/** How long a loop reuses an endpoint's unsealed keys before looking again (a rotation shows within this). */
const KEYS_TTL_MS = 2000;
/** Decoded events kept briefly: an event fanned out to many endpoints is read and decoded once. */
const EVENT_CACHE_SIZE = 4096;
/** …and only for seconds, so an erased subject's data is not sent from memory. */
const EVENT_CACHE_MS = 5000;
const ERROR_CHARS = 500;

export interface DispatcherOptions {
  sender: WebhookSender;
  schedule: RetrySchedule;
  /** Where the endpoints' signing secrets are kept. */
  secrets: SealedSecrets;
  disableAfterMs: number;
  pollMs: number;
  maxConcurrentEndpoints: number;
  logger?: Logger | undefined;
  /** Appends `webhook.endpoint.disabled` (410 Gone, or failing too long). */
  disableEndpoint: (tenantId: string, endpointId: string, reason: DisabledReason, detail: string) => Promise<void>;
}

interface QueuedMessage {
  seq: number;
  message_id: string;
  event_id: string;
  event_position: number;
  event_type: string;
}

interface Outcome {
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
function retryable(result: SendResult): boolean {
  if (result.kind !== 'response') return true;
  return result.status >= 500 || result.status === 408 || result.status === 425 || result.status === 429;
}

/**
 * The dispatcher: one delivery loop per endpoint with due messages, each sending that endpoint's
 * queue strictly in order (a message waits until the one before it is delivered or given up), so
 * one slow or dead endpoint never holds up another. Each attempt is signed afresh, logged, and on
 * failure scheduled per the retry schedule (the receiver's `Retry-After` honoured). 410 Gone
 * disables the endpoint at once; so does failing without a success for `disableAfterMs`.
 *
 * An endpoint's queue is read past its cursor (`webhook_subscriptions.delivered_seq`), and the retry
 * state of the message at its head sits on the same row. A batch (BATCH_SIZE messages or BATCH_MS)
 * is saved while the next is sent: the attempt rows, the cursor moved past what was delivered or
 * given up, the head's retry state. A crash re-sends at most the batches in flight (at least once,
 * never lost).
 */
export class WebhookDispatcher {
  readonly #db: Database;
  readonly #log: EventLog;
  readonly #options: DispatcherOptions;
  readonly #controller = new AbortController();
  readonly #running = new Map<string, Promise<void>>();
  readonly #events = new Map<string, CachedPayload>();
  /** Batches waiting to be saved, and the save running (see #record). */
  #toSave: Array<{ batch: BatchJson; resolve: (saved: Saved) => void; reject: (error: unknown) => void }> = [];
  #saving: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;
  #loop: Promise<void> | undefined;

  constructor(db: Database, log: EventLog, options: DispatcherOptions) {
    this.#db = db;
    this.#log = log;
    this.#options = options;
    // Every in-flight delivery listens for shutdown on this one signal.
    setMaxListeners(0, this.#controller.signal);
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
    const { rows } = await this.#db.query<{ tenant_id: string; endpoint_id: string; next_attempt_at: Date | null }>(
      // One index probe per enabled endpoint for a message past its cursor, however long the queues are.
      `select s.tenant_id, s.endpoint_id, s.next_attempt_at
       from webhook_subscriptions s
       where s.enabled
         and exists (select 1 from webhook_messages m
                     where m.tenant_id = s.tenant_id and m.endpoint_id = s.endpoint_id and m.seq > s.delivered_seq)`,
      [],
      'sigid_webhook_due',
    );
    const now = Date.now();
    let wait = Number.POSITIVE_INFINITY;
    for (const row of rows) {
      if (this.#running.has(row.endpoint_id)) continue;
      const due = (row.next_attempt_at?.getTime() ?? now) - now;
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
    let keys: KeyObject[] = [];
    let keysAt = 0;
    // A batch's results are saved while the next batch is sent (different messages: the queue is read
    // past `afterSeq`); whatever depends on the saved state (a retry, a disable) waits for the save.
    let afterSeq = 0;
    let saving: Promise<unknown> = Promise.resolve();
    // The endpoint's row as the last read or save left it: each save says whether it is still enabled
    // (an admin may disable it, or delete it, mid-queue) and where it now points.
    let row: Saved = { enabled: false, url: '', failing_since: null };
    try {
      while (!signal.aborted) {
        const lane = await this.#readLane(tenantId, endpointId, afterSeq);
        if (!lane?.enabled) return;
        row = lane;
        const queue = lane.queue;
        if (queue.length === 0) return;
        // The row's retry state is the first message's unless this loop has delivered past the cursor
        // (its save still running): then the first message is new, never tried.
        const atHead = afterSeq <= lane.delivered_seq;
        let headAttempts = atHead ? lane.head_attempts : 0;
        if (atHead && lane.next_attempt_at && lane.next_attempt_at.getTime() > Date.now()) return;
        for (let next = 0; next < queue.length && !signal.aborted; ) {
          if (Date.now() - keysAt > KEYS_TTL_MS) {
            keys = await signingKeys(this.#options.secrets, tenantId, endpointId);
            keysAt = Date.now();
          }
          if (keys.length === 0) return;
          const url = row.url;
          const batch = queue.slice(next, next + BATCH_SIZE);
          const events = await this.#loadEvents(tenantId, batch);
          const outcomes: Outcome[] = [];
          const batchStarted = Date.now();
          for (const message of batch) {
            if (!row.enabled) break; // disabled or deleted meanwhile: not one more send
            const event = events.get(message.event_id);
            const attemptedAt = Date.now();
            let result: SendResult;
            if (!event) {
              result = { kind: 'connection_error', error: 'the event could not be read', latencyMs: 0 };
            } else {
              const headers = signedHeaders(keys, event.id, Math.floor(attemptedAt / 1000), event.body);
              result = await this.#options.sender.send(url, event.body, headers, signal);
            }
            if (signal.aborted) break; // stopping: this attempt is not recorded, so it is sent again
            const attempt = (outcomes.length === 0 ? headAttempts : 0) + 1;
            const outcome = this.#judge(message, attempt, attemptedAt, result);
            outcomes.push(outcome);
            if (outcome.verdict !== 'delivered' && outcome.verdict !== 'failed') break;
            if (Date.now() - batchStarted >= BATCH_MS) break;
          }
          headAttempts = 0;
          await saving;
          // Still enabled as of the last save? (This batch is saved either way.)
          const enabled = row.enabled;
          const last = outcomes[outcomes.length - 1];
          if (!last) return;
          saving = this.#record(tenantId, endpointId, outcomes).then((saved) => {
            row = saved;
          });
          next += outcomes.length;
          afterSeq = last.message.seq;
          if (!enabled) return;
          if (last.verdict === 'delivered') continue;
          await saving;
          if (!row.enabled) return;
          if (last.verdict === 'gone') {
            await this.#disable(
              tenantId,
              endpointId,
              'gone',
              `The receiver answered 410 Gone to message ${last.message.message_id}.`,
            );
            return;
          }
          // The save says since when the endpoint has been failing.
          const failingSince = row.failing_since ?? new Date(last.attemptedAt);
          if (Date.now() - failingSince.getTime() >= this.#options.disableAfterMs) {
            await this.#disable(
              tenantId,
              endpointId,
              'failing',
              `Every delivery failed since ${failingSince.toISOString()}; last: ${describe(last.result)}`,
            );
            return;
          }
          if (last.verdict === 'retry') return;
        }
      }
    } finally {
      await saving;
    }
  }

  /**
   * The subscription (still enabled? which URL? the head's retry state) and the next messages past
   * its cursor (or past what this loop sent and is still saving), in one round trip. The messages
   * come as one JSON array: one JSON.parse instead of a row to parse per message.
   */
  async #readLane(tenantId: string, endpointId: string, afterSeq: number): Promise<Lane | undefined> {
    const { rows } = await this.#db.query<Lane>(
      `select s.url, s.enabled, s.failing_since, s.delivered_seq, s.head_attempts, s.next_attempt_at,
              (select coalesce(json_agg(m order by m.seq), '[]')
               from (select seq, message_id, event_id, event_position, event_type
                     from webhook_messages
                     where tenant_id = s.tenant_id and endpoint_id = s.endpoint_id
                       and seq > greatest(s.delivered_seq, $4)
                     order by seq limit $3) m) as queue
       from webhook_subscriptions s
       where s.tenant_id = $1 and s.endpoint_id = $2`,
      [tenantId, endpointId, READ_SIZE, afterSeq],
      'sigid_webhook_lane',
    );
    return rows[0];
  }

  #judge(message: QueuedMessage, attempt: number, attemptedAt: number, result: SendResult): Outcome {
    if (result.kind === 'response' && result.status >= 200 && result.status < 300) {
      return { message, attempt, attemptedAt, result, verdict: 'delivered', nextAttemptAt: null };
    }
    if (result.kind === 'response' && result.status === 410) {
      return { message, attempt, attemptedAt, result, verdict: 'gone', nextAttemptAt: null };
    }
    if (!retryable(result) || attempt >= maxAttempts(this.#options.schedule)) {
      return { message, attempt, attemptedAt, result, verdict: 'failed', nextAttemptAt: null };
    }
    const delay = nextDelay(this.#options.schedule, attempt, result.kind === 'response' ? result.retryAfterMs : null);
    if (delay === null) return { message, attempt, attemptedAt, result, verdict: 'failed', nextAttemptAt: null };
    return { message, attempt, attemptedAt, result, verdict: 'retry', nextAttemptAt: Date.now() + delay };
  }

  /**
   * The payloads of a batch's events, decoded (personal data erased since reads as null). Each event
   * is read and decoded once for every endpoint that gets it: lanes working through the same events
   * share one load (kept for EVENT_CACHE_MS).
   */
  async #loadEvents(tenantId: string, queue: QueuedMessage[]): Promise<Map<string, Payload>> {
    const now = Date.now();
    const missing: QueuedMessage[] = [];
    for (const message of queue) {
      const cached = this.#events.get(message.event_id);
      if (!cached || now - cached.at >= EVENT_CACHE_MS) missing.push(message);
    }
    if (missing.length > 0) {
      const load = this.#readPayloads(tenantId, missing);
      for (const message of missing) {
        const entry: CachedPayload = {
          at: now,
          value: undefined,
          payload: load.then((found) => {
            entry.value = found.get(message.event_id);
            return entry.value;
          }),
        };
        this.#events.set(message.event_id, entry);
      }
      while (this.#events.size > EVENT_CACHE_SIZE) this.#events.delete(this.#events.keys().next().value as string);
      load.catch(() => {
        for (const message of missing) this.#events.delete(message.event_id);
      });
    }
    const found = new Map<string, Payload>();
    for (const message of queue) {
      const cached = this.#events.get(message.event_id);
      // Loaded already (the usual case for all but the first lane): no await per message.
      const payload =
        cached?.value ??
        (await (cached?.payload ?? this.#readPayloads(tenantId, [message]).then((map) => map.get(message.event_id))));
      if (payload) found.set(message.event_id, payload);
    }
    return found;
  }

  async #readPayloads(tenantId: string, missing: QueuedMessage[]): Promise<Map<string, Payload>> {
    const found = new Map<string, Payload>();
    const wanted = new Set(missing.map((message) => message.event_id));
    const types = [...new Set(missing.map((message) => message.event_type))];
    let after = Math.min(...missing.map((message) => message.event_position)) - 1;
    const last = Math.max(...missing.map((message) => message.event_position));
    let left = wanted.size;
    while (left > 0 && after < last) {
      const page = await this.#log.store.readAll({ tenantId, types, after, before: last + 1, limit: 500 });
      for (const stored of page.events) {
        if (!wanted.has(stored.id)) continue;
        left--;
        try {
          const decoded = await this.#log.decode(stored);
          found.set(stored.id, { id: decoded.id, body: payloadOf(decoded) });
        } catch (error) {
          this.#options.logger?.error({ err: error, event_id: stored.id }, 'webhook event could not be decoded');
        }
      }
      if (page.events.length < 500) break;
      after = page.checkpoint;
    }
    return found;
  }

  /**
   * Saves a batch's outcomes: the attempt log, the cursor moved past what was delivered or given up,
   * the retry state of the message now at the head, and the endpoint's health; resolves with the
   * endpoint's row as saved. Batches of every lane that finish while a save is running are saved
   * together by the next one (one statement, one wake-up of PostgreSQL, for all of them).
   */
  #record(tenantId: string, endpointId: string, outcomes: Outcome[]): Promise<Saved> {
    const last = outcomes[outcomes.length - 1] as Outcome;
    // An endpoint is failing from its first failure after its last success.
    const lastSuccess = outcomes.findLastIndex((outcome) => outcome.verdict === 'delivered');
    // Every outcome but a last `retry` or `gone` finishes its message; those leave it at the head.
    const finished = last.verdict === 'retry' || last.verdict === 'gone' ? outcomes.length - 1 : outcomes.length;
    const batch: BatchJson = {
      tenant: tenantId,
      endpoint: endpointId,
      seq: finished > 0 ? (outcomes[finished - 1] as Outcome).message.seq : 0,
      head: finished < outcomes.length ? last.attempt : 0,
      failing: lastSuccess === outcomes.length - 1 ? null : (outcomes[lastSuccess + 1] as Outcome).attemptedAt,
      recovered: lastSuccess >= 0,
      // Short keys, times in epoch ms, absent rather than null: this JSON is built for every delivery.
      attempts: outcomes.map(({ message, attempt, attemptedAt, result, verdict, nextAttemptAt }): AttemptJson => {
        const row: AttemptJson = { m: message.message_id, a: attempt, t: attemptedAt, l: result.latencyMs };
        if (verdict === 'delivered') row.ok = true;
        if (nextAttemptAt !== null) row.n = nextAttemptAt;
        if (result.kind === 'response') {
          row.s = result.status;
          if (result.body) row.b = result.body;
        } else row.e = describe(result);
        return row;
      }),
    };
    if (finished < outcomes.length && last.nextAttemptAt !== null) batch.next = last.nextAttemptAt;
    const givenUp = outcomes.filter((outcome) => outcome.verdict === 'failed');
    if (givenUp.length > 0) batch.given = givenUp.map((outcome) => outcome.message.message_id);
    return new Promise<Saved>((resolve, reject) => {
      this.#toSave.push({ batch, resolve, reject });
      this.#saving ??= this.#saveWaiting();
    });
  }

  /** Saves every waiting batch, in one statement per round, until none waits. */
  async #saveWaiting(): Promise<void> {
    while (this.#toSave.length > 0) {
      const round = this.#toSave.splice(0);
      try {
        const saved = await this.#saveBatches(round.map((entry) => entry.batch));
        for (const entry of round) {
          // No row: the endpoint is gone (deleted with its subscription).
          entry.resolve(saved.get(entry.batch.endpoint) ?? { enabled: false, url: '', failing_since: null });
        }
      } catch (error) {
        for (const entry of round) entry.reject(error);
      }
    }
    this.#saving = undefined;
  }

  /**
   * One statement for a round of batches. The cursor and the attempts are saved together, so an
   * attempt number is never saved twice; if a crash of PostgreSQL undoes them, those batches are
   * sent again and logged then (see queryUnflushed). Message rows are not touched, but for a
   * message given up.
   */
  async #saveBatches(batches: BatchJson[]): Promise<Map<string, Saved>> {
    const { rows } = await this.#db.queryUnflushed<Saved & { endpoint_id: string }>(
      `with b as (
         select * from jsonb_to_recordset($1::jsonb)
           as b(tenant text, endpoint text, seq bigint, head int, next float8, failing float8, recovered boolean,
                given text[], attempts jsonb)
       ),
       attempts as (
         insert into webhook_attempts (tenant_id, message_id, attempt, endpoint_id, attempted_at, outcome,
                                       response_status, latency_ms, response_body, error, next_attempt_at)
         select b.tenant, u.m, u.a, b.endpoint, to_timestamp(u.t / 1000),
                case when u.ok then 'succeeded' else 'failed' end, u.s, u.l, u.b, u.e, to_timestamp(u.n / 1000)
         from b cross join lateral jsonb_to_recordset(b.attempts)
           as u(m text, a int, t float8, ok boolean, n float8, s int, l int, b text, e text)
       ),
       given_up as (
         update webhook_messages m set outcome = 'failed', finished_at = now()
         from (select b.tenant, unnest(b.given) as message_id from b where b.given is not null) g
         where m.tenant_id = g.tenant and m.message_id = g.message_id
       ),
       saved as (
         update webhook_subscriptions s
         set delivered_seq = greatest(s.delivered_seq, b.seq),
             head_attempts = b.head,
             next_attempt_at = to_timestamp(b.next / 1000),
             failing_since = case when b.failing is null then null
                                  when b.recovered then to_timestamp(b.failing / 1000)
                                  else coalesce(s.failing_since, to_timestamp(b.failing / 1000)) end
         from b
         where s.tenant_id = b.tenant and s.endpoint_id = b.endpoint
         returning s.endpoint_id, s.enabled, s.url, s.failing_since
       )
       select * from saved`,
      [JSON.stringify(batches)],
      'sigid_webhook_record',
    );
    return new Map(rows.map((row) => [row.endpoint_id, row]));
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

/** One lane's batch as `#saveBatches` sends it: the endpoint's new cursor and head state, and its attempts. */
interface BatchJson {
  tenant: string;
  endpoint: string;
  /** The cursor: the last message finished. */
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

/** One attempt for the attempt log, as `#saveBatches` sends it (see the column list there). */
interface AttemptJson {
  m: string;
  a: number;
  t: number;
  l: number;
  ok?: true;
  n?: number;
  s?: number;
  b?: string;
  e?: string;
}

/** An endpoint's row as the lane reads it, with the next messages past its cursor. */
interface Lane extends Saved {
  delivered_seq: number;
  head_attempts: number;
  next_attempt_at: Date | null;
  queue: QueuedMessage[];
}

/** An endpoint's row as a batch's save leaves it. */
interface Saved {
  enabled: boolean;
  url: string;
  failing_since: Date | null;
}

/** What a receiver gets for one event: its id (the `webhook-id`) and the JSON body, made once per event. */
interface Payload {
  id: string;
  /** Encoded once per event, then signed and sent as is to every endpoint. */
  body: string;
}

/** A payload being loaded, or loaded (`value`, so a lane need not await each message). */
interface CachedPayload {
  payload: Promise<Payload | undefined>;
  value: Payload | undefined;
  at: number;
}

/** The Standard Webhooks body: `type`, `timestamp` (the event's time), `data` (the event's data). Never a secret. */
function payloadOf(event: RecordedEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.time.toISOString(), data: event.data });
}

function describe(result: SendResult): string {
  if (result.kind === 'response') return `HTTP ${result.status}`;
  return `${result.kind}: ${result.error}`.slice(0, ERROR_CHARS);
}
