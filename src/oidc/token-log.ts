import { setTimeout as sleep } from 'node:timers/promises';
import type { OauthEvent } from '../../events/oauth.ts';
import type { PolicyDecisionEvent } from '../../events/policy.ts';
import type { EventLog, WriteContext } from '../event-log.ts';
import { streamName } from '../event-store/port.ts';

/** The stream a tenant's token events go to: `{tenant_id}-oauth_tokens`. */
export const TOKEN_STREAM = 'oauth_tokens';

interface Pending {
  event: OauthEvent | PolicyDecisionEvent;
  context: WriteContext;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** The shortest time between the starts of two appends of one tenant's token log (ms). */
export const TOKEN_APPEND_INTERVAL_MS = 4;

/**
 * The issuers' token events (`oauth.token.issued`, revoked, reused), each appended before the
 * request that caused it answers. Concurrent requests of one tenant share appends: while one append
 * runs, the events that arrive wait and then go together in the next one, so the number of appends
 * follows the store's speed rather than the request rate. Back-to-back appends start at most every
 * `intervalMs`: under load a batch grows rather than appends multiplying (each append costs the
 * server a round trip and the database a commit, which on a shared machine takes the CPU from the
 * requests; measured in docs/benchmarks.md), while an event arriving at an idle log is appended at once.
 */
export class TokenLog {
  readonly #log: EventLog;
  readonly #intervalMs: number;
  readonly #waiting = new Map<string, Pending[]>();
  readonly #appending = new Set<string>();

  constructor(log: EventLog, options: { intervalMs?: number } = {}) {
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? TOKEN_APPEND_INTERVAL_MS;
  }

  /** Resolves once the event is in the store (and rejects if the append failed: the token must not go out). */
  record(event: OauthEvent | PolicyDecisionEvent, context: WriteContext): Promise<void> {
    return new Promise((resolve, reject) => {
      const queue = this.#waiting.get(context.tenantId) ?? [];
      this.#waiting.set(context.tenantId, queue);
      queue.push({ event, context, resolve, reject });
      if (!this.#appending.has(context.tenantId)) void this.#drain(context.tenantId);
    });
  }

  async #drain(tenantId: string): Promise<void> {
    this.#appending.add(tenantId);
    try {
      let started = Number.NEGATIVE_INFINITY;
      for (;;) {
        // Right after an append: the rest of the interval, while more arrive for the next batch
        // (and an event arriving meanwhile joins it rather than starting an append of its own).
        const early = this.#intervalMs - (performance.now() - started);
        if (early > 0) await sleep(early);
        const batch = this.#waiting.get(tenantId);
        if (!batch?.length) return;
        this.#waiting.delete(tenantId);
        started = performance.now();
        try {
          await this.#log.appendEach(
            streamName(tenantId, TOKEN_STREAM),
            batch.map(({ event, context }) => ({ ...event, context })),
            'any',
          );
          for (const pending of batch) pending.resolve();
        } catch (error) {
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      this.#appending.delete(tenantId);
    }
  }
}
