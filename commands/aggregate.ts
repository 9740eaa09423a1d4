import type { SigidEvent } from '../events/catalog.ts';
import { streamName } from '../src/event-store/port.ts';
import type { Decider } from './decider.ts';

/**
 * An aggregate as the write side knows it: its decider, and how the stream of one instance is named.
 * Nobody builds a stream name by hand; `handleCommand` takes the aggregate and the instance's id.
 * Its events must be catalog events (the `Event` bound), so an event type missing from the catalog
 * is a type error here.
 */
export interface Aggregate<Command, State, Event extends SigidEvent> {
  /** The aggregate's name, as in the seeds: tenant, api_key, webhook_endpoint, reservation… */
  readonly name: string;
  readonly decider: Decider<Command, State, Event>;
  /** The stream of instance `id` within `tenantId` (for platform-wide aggregates, a scope). */
  stream(tenantId: string, id: string): string;
}

/** The usual aggregate: one stream per instance, `{tenant_id}-{id}`, so the tenant is its category. */
export function defineAggregate<Command, State, Event extends SigidEvent>(
  name: string,
  decider: Decider<Command, State, Event>,
  stream: (tenantId: string, id: string) => string = streamName,
): Aggregate<Command, State, Event> {
  return { name, decider, stream };
}
