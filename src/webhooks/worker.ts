import type { Logger } from 'pino';
import { type DisabledReason, webhookEndpointAggregate } from '../../commands/webhook.ts';
import { handleCommand } from '../command-handler.ts';
import type { Database } from '../db/database.ts';
import type { EventLog } from '../event-log.ts';
import { newId } from '../ids.ts';
import type { WebhookConfig } from './config.ts';
import { WebhookDispatcher } from './dispatcher.ts';
import { WebhookFanout } from './fanout.ts';
import { pruneDeliveryLogEvery } from './retention.ts';
import { WebhookSender } from './sender.ts';

/** The system actor SigID's own webhook decisions (auto-disable) are recorded under. */
export const DISPATCHER_ACTOR = { type: 'system', id: 'webhook-dispatcher' } as const;

/**
 * Webhook delivery straight off the event stream: the fan-out (stream → per-endpoint queue, with
 * its own checkpoint) and the dispatcher (queue → receivers). Each takes an advisory lock, so any
 * number of SigID processes can run it and exactly one does the work; a restarted process picks up
 * from the checkpoint and the queue, losing nothing.
 */
export class WebhookWorker {
  readonly fanout: WebhookFanout;
  readonly dispatcher: WebhookDispatcher;
  readonly sender: WebhookSender;
  readonly #db: Database;
  readonly #retentionMs: number;
  readonly #logger: Logger | undefined;
  #pruning: { stop: () => Promise<void> } | undefined;
  #started = false;

  constructor(db: Database, log: EventLog, config: WebhookConfig, options: { masterKey: Uint8Array; logger?: Logger }) {
    this.#db = db;
    this.sender = new WebhookSender({
      allowlist: config.allowlist,
      timeoutMs: config.timeoutMs,
      connectTimeoutMs: config.connectTimeoutMs,
      ...(config.resolve ? { resolve: config.resolve } : {}),
    });
    this.dispatcher = new WebhookDispatcher(db, log, {
      sender: this.sender,
      schedule: config.retrySchedule,
      masterKey: options.masterKey,
      disableAfterMs: config.disableAfterMs,
      pollMs: config.pollMs,
      maxConcurrentEndpoints: config.maxConcurrentEndpoints,
      logger: options.logger,
      async disableEndpoint(tenantId: string, endpointId: string, reason: DisabledReason, detail: string) {
        await handleCommand(
          log,
          webhookEndpointAggregate,
          endpointId,
          { type: 'disable_endpoint', reason, detail },
          { tenantId, actor: DISPATCHER_ACTOR, correlationId: newId('req') },
        );
      },
    });
    this.#retentionMs = config.retentionMs;
    this.#logger = options.logger;
    this.fanout = new WebhookFanout(db, log, {
      logger: options.logger,
      pollMs: config.pollMs,
      // In this process at once; in another (the dispatcher may run elsewhere) through NOTIFY.
      onEnqueued: () => {
        this.notify().catch(() => {});
      },
    });
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.fanout.start();
    this.dispatcher.start();
    this.#pruning = pruneDeliveryLogEvery(this.#db, {
      retentionMs: this.#retentionMs,
      everyMs: 3_600_000,
      logger: this.#logger,
    });
  }

  /** Tells the dispatcher (in this process or another) that there is work: a replay, an enabled endpoint. */
  async notify(): Promise<void> {
    this.dispatcher.wake();
    await this.#db.notify('sigid_webhooks', '').catch(() => {});
  }

  async stop(): Promise<void> {
    await Promise.all([this.fanout.stop(), this.dispatcher.stop(), this.#pruning?.stop()]);
    this.sender.close();
  }
}
