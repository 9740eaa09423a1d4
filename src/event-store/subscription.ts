import { Observable } from 'rxjs';
import type { EventStore, ReadAllPage, SubscribeOptions } from './port.ts';

export interface CatchUpOptions extends SubscribeOptions {
  batchSize?: number;
  /** How long to wait for an append notification before polling anyway (another process may append). */
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Pages of the global order from `after`, forever: catch-up first, then live. Each page carries the
 * checkpoint to store once it is handled. Ends when `signal` aborts.
 */
export async function* catchUp(store: EventStore, options: CatchUpOptions = {}): AsyncGenerator<ReadAllPage> {
  let after = options.after ?? 0;
  const limit = options.batchSize ?? 500;
  const pollMs = options.pollMs ?? 1000;
  while (!options.signal?.aborted) {
    const page = await store.readAll({
      after,
      limit,
      direction: 'forwards',
      ...(options.tenantId ? { tenantId: options.tenantId } : {}),
      ...(options.types ? { types: options.types } : {}),
    });
    if (page.checkpoint > after || page.events.length > 0) {
      after = Math.max(after, page.checkpoint);
      yield page;
    }
    if (page.events.length < limit) await store.waitForAppend(pollMs, options.signal);
  }
}

/** The live catch-up subscription as an Observable; unsubscribing stops the reads. */
export function subscribeWithCatchUp(store: EventStore, options: SubscribeOptions = {}) {
  return new Observable<import('./port.ts').StoredEvent>((subscriber) => {
    const controller = new AbortController();
    (async () => {
      for await (const page of catchUp(store, { ...options, signal: controller.signal })) {
        for (const event of page.events) {
          if (controller.signal.aborted) return;
          subscriber.next(event);
        }
      }
    })().then(
      () => subscriber.complete(),
      (error: unknown) => {
        if (!controller.signal.aborted) subscriber.error(error);
      },
    );
    return () => controller.abort();
  });
}

/** A promise that resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
