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

/**
 * The issuers' token events (`oauth.token.issued`, revoked, reused), each appended before the
 * request that caused it answers. Concurrent requests of one tenant share appends: while one append
 * runs, the events that arrive wait and then go together in the next one, so the number of appends
 * follows the store's speed rather than the request rate, and nobody waits for a timer.
 */
export class TokenLog {
  readonly #log: EventLog;
  readonly #waiting = new Map<string, Pending[]>();
  readonly #appending = new Set<string>();

  constructor(log: EventLog) {
    this.#log = log;
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
      for (;;) {
        const batch = this.#waiting.get(tenantId) ?? [];
        this.#waiting.delete(tenantId);
        if (batch.length === 0) return;
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
