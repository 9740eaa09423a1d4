import { matchesEventType } from '../../events/webhook.ts';
import type { EventStore } from '../event-store/port.ts';

/** Most events one replay request queues; the answer says where to continue from. */
export const REPLAY_LIMIT = 10_000;

/** An event a replay queues again. */
export interface ReplayedEvent {
  id: string;
  position: number;
  type: string;
}

/** What a replay request asks for, as its event records it. */
export interface ReplayRequest {
  tenantId: string;
  eventTypes: readonly string[];
  since: Date | null;
  afterPosition: number | null;
  /** The request's own position: it replays what came before it. */
  before: number;
}

/**
 * The events a replay request queues: every event of its tenant before the request that the
 * subscription it records matches, since its time or after its position, at most REPLAY_LIMIT, in
 * stream order. A function of the request's event alone (the events before it never change), so the
 * request's answer and the fan-out that queues them agree. It reads on until every position below
 * the request is final (a concurrent commit below it may still be landing when the request asks).
 */
export async function replaySelection(
  store: EventStore,
  request: ReplayRequest,
): Promise<{ events: ReplayedEvent[]; truncated: boolean }> {
  const events: ReplayedEvent[] = [];
  const deadline = Date.now() + 30_000;
  let after = request.afterPosition ?? 0;
  while (after < request.before - 1 && events.length < REPLAY_LIMIT) {
    const page = await store.readAll({
      tenantId: request.tenantId,
      after,
      before: request.before,
      limit: 1000,
      ...(request.since ? { since: request.since } : {}),
    });
    for (const event of page.events) {
      if (events.length < REPLAY_LIMIT && matchesEventType(request.eventTypes, event.type)) {
        events.push({ id: event.id, position: event.position, type: event.type });
      }
    }
    if (page.checkpoint <= after) {
      if (Date.now() > deadline) throw new Error(`the event store is not final below ${request.before}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    after = page.checkpoint;
  }
  return { events, truncated: events.length >= REPLAY_LIMIT };
}
