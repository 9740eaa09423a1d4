import type { KeyObject } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { DisabledReason } from '../../commands/webhook.ts';
import type { Database } from '../db/database.ts';
import type { EventLog } from '../event-log.ts';
import { failpoint } from '../failpoints.ts';
import type { SealedSecrets } from '../secrets/sealed-secrets.ts';
import { runWorkerLoop } from '../worker-loop.ts';
import { dueEndpoints, readLane, type Saved, saveBatches, stopEndpoint } from './dispatch-queries.ts';
import { PayloadCache } from './payload-cache.ts';
import type { RetrySchedule } from './retry-schedule.ts';
import { signingKeys } from './secrets.ts';
import type { SendResult, WebhookSender } from './sender.ts';
import { signedHeaders } from './signature.ts';
import { type BatchJson, batchToSave, describeResult, judge, type Outcome } from './verdict.ts';

/** Messages read per round trip, sent in batches. */
const READ_SIZE = 1000;
/** A batch ends at this many messages or after BATCH_MS, whichever first; its results are then saved. */
const BATCH_SIZE = 200;
/** …so a slow receiver's results are saved, and a disable or a URL change seen, within about a second. */
const BATCH_MS = 1000;
/** How long a loop reuses an endpoint's unsealed keys before looking again (a rotation shows within this). */
const KEYS_TTL_MS = 2000;

export interface DispatcherOptions {
  sender: WebhookSender;
  schedule: RetrySchedule;
  /** Where the endpoints' signing secrets are kept. */
  secrets: SealedSecrets;
  disableAfterMs: number;
  pollMs: number;
  maxConcurrentEndpoints: number;
  logger?: Logger | undefined;
  /** Appends `webhook.endpoint.disabled` (410 Gone, failing too long, or no signing secret left). */
  disableEndpoint: (tenantId: string, endpointId: string, reason: DisabledReason, detail: string) => Promise<void>;
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
  readonly #options: DispatcherOptions;
  readonly #controller = new AbortController();
  readonly #running = new Map<string, Promise<void>>();
  readonly #payloads: PayloadCache;
  /** Batches waiting to be saved, and the save running (see #record). */
  #toSave: Array<{ batch: BatchJson; resolve: (saved: Saved) => void; reject: (error: unknown) => void }> = [];
  #saving: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;
  #loop: Promise<void> | undefined;

  constructor(db: Database, log: EventLog, options: DispatcherOptions) {
    this.#db = db;
    this.#options = options;
    this.#payloads = new PayloadCache(log, options.logger);
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

  #supervise(): Promise<void> {
    return runWorkerLoop({
      db: this.#db,
      lock: 'webhooks:dispatcher',
      signal: this.#controller.signal,
      lockRetryMs: this.#options.pollMs * 2,
      restartMs: this.#options.pollMs,
      logger: this.#options.logger,
      describe: { worker: 'webhook dispatcher' },
      work: async (signal) => {
        const unlisten = await this.#db.listen('sigid_webhooks', () => this.wake()).catch(() => undefined);
        try {
          while (!signal.aborted) {
            this.#woken = false;
            const wait = await this.#launchDue();
            if (this.#woken) continue;
            await this.#sleep(Math.min(wait, this.#options.pollMs));
          }
        } finally {
          await unlisten?.().catch(() => {});
          await Promise.allSettled(this.#running.values());
        }
      },
    });
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
    const rows = await dueEndpoints(this.#db);
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
        const lane = await readLane(this.#db, tenantId, endpointId, afterSeq, READ_SIZE);
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
          if (keys.length === 0) {
            // Nothing to sign with (its secrets are gone): say so rather than keep the queue waiting.
            await this.#disable(
              tenantId,
              endpointId,
              'no_signing_secret',
              'The endpoint has no usable signing secret; rotate its secret, then enable it.',
            );
            return;
          }
          const url = row.url;
          const batch = queue.slice(next, next + BATCH_SIZE);
          const events = await this.#payloads.load(tenantId, batch);
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
            const outcome = judge(this.#options.schedule, message, attempt, attemptedAt, result);
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
              `Every delivery failed since ${failingSince.toISOString()}; last: ${describeResult(last.result)}`,
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
   * Saves a batch's outcomes: the attempt log, the cursor moved past what was delivered or given up,
   * the retry state of the message now at the head, and the endpoint's health; resolves with the
   * endpoint's row as saved. Batches of every lane that finish while a save is running are saved
   * together by the next one (one statement, one wake-up of PostgreSQL, for all of them).
   */
  #record(tenantId: string, endpointId: string, outcomes: Outcome[]): Promise<Saved> {
    const batch = batchToSave(tenantId, endpointId, outcomes);
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
        const saved = await saveBatches(
          this.#db,
          round.map((entry) => entry.batch),
        );
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

  async #disable(tenantId: string, endpointId: string, reason: DisabledReason, detail: string): Promise<void> {
    // The event first: it tells the fan-out, the read model and the audit log, so a crash right after
    // it loses nothing. Then stop at once, not waiting for the fan-out to read it. (The other order
    // could leave an endpoint stopped here that the API and the audit log still show as enabled.)
    await this.#options.disableEndpoint(tenantId, endpointId, reason, detail);
    failpoint('webhook.dispatcher:after-disable');
    await stopEndpoint(this.#db, tenantId, endpointId);
    this.#options.logger?.warn({ tenant_id: tenantId, endpoint_id: endpointId, reason }, 'webhook endpoint disabled');
  }
}
