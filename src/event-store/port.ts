import type { Observable } from 'rxjs';

/**
 * The event-store port: what SigID needs of a store, and all it may use. Three adapters implement it
 * (PostgreSQL, embedded PGlite through the same SQL, EventStoreDB); `test/event-store.contract.int.test.ts`
 * is the contract each passes.
 *
 * Streams are named `{tenant_id}-{entity_id}` (see `streamName`), so the tenant is the stream's
 * category: EventStoreDB's `$ce-{tenant_id}` and PostgreSQL's `(tenant_id, global_position)` index
 * both give a tenant's events without touching another tenant's.
 */

/** What the writer expects the stream to be at: absent, at an exact revision, present at all, or anything. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

/** Who can act: an operator, a tenant's API key, a person, an agent, an OAuth client, SigID itself. */
export const actorTypes = ['operator', 'api_key', 'user', 'agent', 'application', 'system'] as const;
export type ActorType = (typeof actorTypes)[number];

export interface Actor {
  type: ActorType;
  id: string;
}

/** Who and why: on every event, and what the audit log shows. */
export interface EventMetadata {
  tenantId: string;
  actor: Actor;
  correlationId: string;
  causationId: string | null;
}

export interface EventToAppend {
  /** A UUID chosen by the writer; appending the same id to the same stream again is a no-op. */
  id: string;
  type: string;
  version: number;
  /** Already-encoded JSON data: validated, personal fields encrypted (see `src/event-log.ts`). */
  data: unknown;
  metadata: EventMetadata;
}

export interface StoredEvent extends EventMetadata {
  id: string;
  type: string;
  version: number;
  stream: string;
  /** 0-based revision within the stream. */
  revision: number;
  /** Position in the store's global order; strictly increasing, not necessarily contiguous. */
  position: number;
  time: Date;
  data: unknown;
}

export interface AppendResult {
  /** Revision of the stream's last event after the append. */
  nextRevision: number;
  /** Global position of the last appended event. */
  position: number;
}

export interface ReadAllOptions {
  /** Exclusive lower bound (forwards) or upper bound (backwards) on position. */
  after?: number;
  before?: number;
  tenantId?: string;
  types?: readonly string[];
  actorId?: string;
  stream?: string;
  since?: Date;
  until?: Date;
  direction?: 'forwards' | 'backwards';
  limit?: number;
}

export interface ReadAllPage {
  events: StoredEvent[];
  /**
   * Forwards: every event matching the filter at or below this position has been returned by this
   * page or an earlier one, so a reader that continues from here skips nothing. It can exceed the
   * last event's position when the filter skipped events.
   */
  checkpoint: number;
}

export interface SubscribeOptions {
  /** Deliver events after this position (exclusive); 0 for everything. */
  after?: number;
  tenantId?: string;
  types?: readonly string[];
}

export interface EventStore {
  readonly backend: 'postgres' | 'pglite' | 'esdb';
  append(stream: string, events: EventToAppend[], expected: ExpectedRevision): Promise<AppendResult>;
  readStream(stream: string, options?: { fromRevision?: number }): Promise<StoredEvent[]>;
  /** One page of the global order; only events that can no longer be preceded by another commit. */
  readAll(options?: ReadAllOptions): Promise<ReadAllPage>;
  /** Position of the latest event that readAll can return (for lag figures). */
  headPosition(): Promise<number>;
  /** Catch up from `after`, then stay live: every matching event exactly once, in position order. */
  subscribe(options?: SubscribeOptions): Observable<StoredEvent>;
  /**
   * Resolves on the next append anywhere (or after `timeoutMs`): subscribers wait on this when caught
   * up. With `types`, an append of none of them may let the waiter sleep on (a store that cannot
   * tell the types wakes it anyway).
   */
  waitForAppend(timeoutMs: number, signal?: AbortSignal, types?: readonly string[]): Promise<void>;
  /**
   * Someone (in this process or another running the same code) waits for appends of these types
   * by type: announce them to other processes at once. Appends of other types may be announced a
   * little later (a store that announces everything at once, or pushes, ignores this).
   */
  announcePromptly?(types: readonly string[]): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends Error {
  readonly stream: string;
  readonly expected: ExpectedRevision;
  readonly actual: number | 'no_stream';

  constructor(stream: string, expected: ExpectedRevision, actual: number | 'no_stream') {
    super(`stream ${stream} is at ${actual}, expected ${expected}`);
    this.name = 'WrongExpectedRevisionError';
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/** The stream of one entity of one tenant. */
export function streamName(tenantId: string, entityId: string): string {
  return `${tenantId}-${entityId}`;
}

/** The entity a stream belongs to: the audit log's "target". */
export function streamTarget(stream: string): string {
  const dash = stream.indexOf('-');
  return dash === -1 ? stream : stream.slice(dash + 1);
}
