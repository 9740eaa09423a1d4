import type { Logger } from 'pino';
import type { RecordedEvent } from '../../events/envelope.ts';
import type { EventLog } from '../event-log.ts';
import type { QueuedMessage } from './verdict.ts';

/** Decoded events kept briefly: an event fanned out to many endpoints is read and decoded once. */
const EVENT_CACHE_SIZE = 4096;
/** …and only for seconds, so an erased subject's data is not sent from memory. */
const EVENT_CACHE_MS = 5000;
/** Events read per round trip when loading a batch's payloads. */
const PAGE_SIZE = 500;

/** What a receiver gets for one event: its id (the `webhook-id`) and the JSON body, made once per event. */
export interface Payload {
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

/**
 * The payloads of queued messages' events, decoded (personal data erased since reads as null). Each
 * event is read and decoded once for every endpoint that gets it: lanes working through the same
 * events share one load, kept for EVENT_CACHE_MS, at most EVENT_CACHE_SIZE events.
 */
export class PayloadCache {
  readonly #log: EventLog;
  readonly #logger: Logger | undefined;
  readonly #events = new Map<string, CachedPayload>();

  constructor(log: EventLog, logger?: Logger) {
    this.#log = log;
    this.#logger = logger;
  }

  /** The payloads of these messages' events, by event id; an event that cannot be read is absent. */
  async load(tenantId: string, queue: readonly QueuedMessage[]): Promise<Map<string, Payload>> {
    const now = Date.now();
    const missing: QueuedMessage[] = [];
    for (const message of queue) {
      const cached = this.#events.get(message.event_id);
      if (!cached || now - cached.at >= EVENT_CACHE_MS) missing.push(message);
    }
    if (missing.length > 0) {
      const load = this.#read(tenantId, missing);
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
        (await (cached?.payload ?? this.#read(tenantId, [message]).then((map) => map.get(message.event_id))));
      if (payload) found.set(message.event_id, payload);
    }
    return found;
  }

  async #read(tenantId: string, missing: QueuedMessage[]): Promise<Map<string, Payload>> {
    const found = new Map<string, Payload>();
    const wanted = new Set(missing.map((message) => message.event_id));
    const types = [...new Set(missing.map((message) => message.event_type))];
    let after = Math.min(...missing.map((message) => message.event_position)) - 1;
    const last = Math.max(...missing.map((message) => message.event_position));
    let left = wanted.size;
    while (left > 0 && after < last) {
      const page = await this.#log.store.readAll({ tenantId, types, after, before: last + 1, limit: PAGE_SIZE });
      for (const stored of page.events) {
        if (!wanted.has(stored.id)) continue;
        left--;
        try {
          const decoded = await this.#log.decode(stored);
          found.set(stored.id, { id: decoded.id, body: payloadOf(decoded) });
        } catch (error) {
          this.#logger?.error({ err: error, event_id: stored.id }, 'webhook event could not be decoded');
        }
      }
      if (page.events.length < PAGE_SIZE) break;
      after = page.checkpoint;
    }
    return found;
  }
}

/** The Standard Webhooks body: `type`, `timestamp` (the event's time), `data` (the event's data). Never a secret. */
export function payloadOf(event: RecordedEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.time.toISOString(), data: event.data });
}
