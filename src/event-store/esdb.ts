import {
  type AllStreamSubscription,
  ANY,
  type AppendExpectedRevision,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  type JSONType,
  jsonEvent,
  NO_STREAM,
  type ReadPosition,
  type RecordedEvent,
  type ResolvedEvent,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  streamNameFilter,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import {
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadAllPage,
  type StoredEvent,
  type SubscribeOptions,
  WrongExpectedRevisionError,
} from './port.ts';
import { sleep, subscribeWithCatchUp } from './subscription.ts';

/**
 * The EventStoreDB adapter.
 *
 * - Global position: the event's commit position in the transaction log. Events appended through gRPC
 *   are committed implicitly, one log record each, so every event has its own commit position and
 *   $all is in that order; the log is written by one leader in commit order, so $all has no holes
 *   to wait for (no watermark needed).
 * - Tenant isolation: a stream is `{tenant}-{entity}`, so the tenant is its category and the system
 *   projection `$by_category` links it into `$ce-{tenant}`. Tenant-scoped reads and subscriptions
 *   read that stream (links resolved), never $all. Needs system projections running.
 * - Our metadata (tenant, actor, correlation, causation, schema version) is the event's JSON metadata,
 *   with `$correlationId`/`$causationId` also set for EventStoreDB's own `$bc-` projection.
 * - Needs EventStoreDB 22.10 or later: older servers do not return positions on stream reads.
 */

interface SigIdMetadata {
  tenantId: string;
  actor: StoredEvent['actor'];
  correlationId: string;
  causationId: string | null;
  version: number;
  $correlationId?: string;
  $causationId?: string;
}

/** EventStoreDB reports "no position" as 2^64 - 1. */
const NO_POSITION = BigInt(Number.MAX_SAFE_INTEGER);
const BATCH = 256;
/** How many events one filtered page may look at before it returns with just its checkpoint. */
const SCAN_WINDOW = 8192;

function toExpected(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return BigInt(expected);
  }
}

function positionOf(record: RecordedEvent | undefined): number | undefined {
  const commit = record?.position?.commit;
  return commit === undefined || commit > NO_POSITION ? undefined : Number(commit);
}

function isSigIdMetadata(value: unknown): value is SigIdMetadata {
  return typeof value === 'object' && value !== null && typeof (value as SigIdMetadata).tenantId === 'string';
}

/** A stored event from a SigID record; undefined for system events and anything SigID did not write. */
function toStored(record: RecordedEvent | undefined): StoredEvent | undefined {
  if (!record || record.streamId.startsWith('$') || record.type.startsWith('$') || !record.isJson) return undefined;
  const metadata = record.metadata;
  const position = positionOf(record);
  if (!isSigIdMetadata(metadata) || position === undefined) return undefined;
  return {
    id: record.id,
    type: record.type,
    version: metadata.version,
    stream: record.streamId,
    revision: Number(record.revision),
    position,
    tenantId: metadata.tenantId,
    actor: metadata.actor,
    correlationId: metadata.correlationId,
    causationId: metadata.causationId,
    time: record.created,
    data: record.data,
  };
}

/** A record read from a stream or from $all: the position it occupies in the global order, and our event if it is one. */
interface Scanned {
  position: number;
  event: StoredEvent | undefined;
  /** For a stream read: the revision a forwards read continues from after this record. */
  next?: bigint;
}

function scanned(resolved: ResolvedEvent): Scanned | undefined {
  const position = positionOf(resolved.event) ?? positionOf(resolved.link);
  return position === undefined ? undefined : { position, event: toStored(resolved.event) };
}

export class EsdbEventStore implements EventStore {
  readonly backend = 'esdb' as const;
  readonly #client: EventStoreDBClient;
  readonly #waiters = new Set<() => void>();
  #live: AllStreamSubscription | undefined;
  /** Where a forwards read of a stream continues after a checkpoint: `${stream}@${checkpoint}` to revision. */
  readonly #resume = new Map<string, bigint>();

  constructor(client: EventStoreDBClient) {
    this.#client = client;
  }

  async append(stream: string, events: EventToAppend[], expected: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) throw new Error('append needs at least one event');
    const tenantId = events[0]?.metadata.tenantId as string;
    if (events.some((event) => event.metadata.tenantId !== tenantId)) {
      throw new Error('all events of one append belong to one tenant');
    }
    // The tenant is the stream's category: that is what puts the event in `$ce-{tenant}`.
    if (!stream.startsWith(`${tenantId}-`)) throw new Error(`stream ${stream} is not a stream of tenant ${tenantId}`);
    const data = events.map((event) => {
      const { metadata } = event;
      const meta: SigIdMetadata = {
        tenantId: metadata.tenantId,
        actor: metadata.actor,
        correlationId: metadata.correlationId,
        causationId: metadata.causationId,
        version: event.version,
        $correlationId: metadata.correlationId,
        ...(metadata.causationId ? { $causationId: metadata.causationId } : {}),
      };
      return jsonEvent({ id: event.id, type: event.type, data: event.data as JSONType, metadata: meta });
    });
    try {
      const result = await this.#client.appendToStream(stream, data, { expectedRevision: toExpected(expected) });
      const commit = result.position?.commit;
      const position =
        commit !== undefined && commit <= NO_POSITION
          ? Number(commit)
          : // An idempotent retry is answered without a position: look up where the events landed.
            await this.#positionAt(stream, result.nextExpectedRevision);
      return { nextRevision: Number(result.nextExpectedRevision), position };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        const actual = error.actualVersion;
        throw new WrongExpectedRevisionError(stream, expected, actual === NO_STREAM ? 'no_stream' : Number(actual));
      }
      throw error;
    }
  }

  async #positionAt(stream: string, revision: bigint): Promise<number> {
    const record = await this.#recordAt(stream, revision);
    if (record?.position === undefined) throw new Error(`no position for ${stream}@${revision}`);
    return record.position;
  }

  async readStream(stream: string, options: { fromRevision?: number } = {}): Promise<StoredEvent[]> {
    const events: StoredEvent[] = [];
    try {
      for await (const resolved of this.#client.readStream(stream, {
        fromRevision: BigInt(options.fromRevision ?? 0),
        direction: FORWARDS,
      })) {
        const event = toStored(resolved.event);
        if (event) events.push(event);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
    return events;
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllPage> {
    const backwards = options.direction === 'backwards';
    const limit = Math.max(1, Math.min(options.limit ?? 500, 10_000));
    const after = options.after ?? 0;
    const before = options.before ?? Number.POSITIVE_INFINITY;
    const types = options.types?.length ? new Set(options.types) : undefined;
    const matches = (event: StoredEvent) =>
      (options.tenantId === undefined || event.tenantId === options.tenantId) &&
      (types === undefined || types.has(event.type)) &&
      (options.actorId === undefined || event.actor.id === options.actorId) &&
      (options.stream === undefined || event.stream === options.stream) &&
      (options.since === undefined || event.time >= options.since) &&
      (options.until === undefined || event.time < options.until);

    // One stream when asked for one (it belongs to one tenant), the tenant's category stream when
    // tenant-scoped, $all otherwise.
    let source: AsyncIterable<Scanned>;
    let stream: string | undefined;
    if (options.stream !== undefined) {
      if (options.tenantId !== undefined && !options.stream.startsWith(`${options.tenantId}-`)) {
        return { events: [], checkpoint: backwards ? 0 : after };
      }
      stream = options.stream;
      source = this.#scanStream(stream, false, backwards, after, before);
    } else if (options.tenantId !== undefined) {
      stream = `$ce-${options.tenantId}`;
      source = this.#scanStream(stream, true, backwards, after, before);
    } else {
      source = this.#scanAll(backwards, after, before);
    }

    const events: StoredEvent[] = [];
    const window = Math.max(SCAN_WINDOW, limit * 8);
    let lastScanned: Scanned | undefined;
    let seen = 0;
    for await (const record of source) {
      if (backwards ? record.position >= before : record.position <= after) continue;
      if (backwards ? record.position <= after : record.position >= before) break;
      lastScanned = record;
      seen++;
      if (record.event && matches(record.event)) {
        events.push(record.event);
        if (events.length === limit) break;
      }
      if (seen >= window) break;
    }
    if (backwards) return { events, checkpoint: events[events.length - 1]?.position ?? 0 };
    // Everything up to the last record looked at has been looked at: a filtered page still advances.
    const checkpoint = Math.max(after, lastScanned?.position ?? after);
    if (stream !== undefined && lastScanned?.next !== undefined)
      this.#remember(`${stream}@${checkpoint}`, lastScanned.next);
    return { events, checkpoint };
  }

  /** $all in order, from just after (or before) a position; system records included, for the checkpoint. */
  async *#scanAll(backwards: boolean, after: number, before: number): AsyncGenerator<Scanned> {
    let from: ReadPosition =
      backwards && Number.isFinite(before)
        ? { commit: BigInt(before), prepare: BigInt(before) }
        : !backwards && after > 0
          ? { commit: BigInt(after), prepare: BigInt(after) }
          : backwards
            ? END
            : START;
    let last: number | undefined;
    for (;;) {
      let count = 0;
      for await (const resolved of this.#client.readAll({
        fromPosition: from,
        direction: backwards ? BACKWARDS : FORWARDS,
        maxCount: BATCH,
      })) {
        count++;
        const event = resolved.event;
        if (!event) continue;
        from = event.position;
        const position = positionOf(event);
        if (position === undefined) continue;
        // Reads are inclusive of their starting position: skip what the previous batch returned.
        if (last !== undefined && (backwards ? position >= last : position <= last)) continue;
        last = position;
        yield { position, event: toStored(event) };
      }
      if (count < BATCH) return;
    }
  }

  /**
   * A stream in global order (a tenant's `$ce-` stream or one entity stream): its revisions grow with
   * the positions of its events, so the revision to start from is found by binary search (or remembered
   * from the page that ended at this checkpoint).
   */
  async *#scanStream(
    stream: string,
    links: boolean,
    backwards: boolean,
    after: number,
    before: number,
  ): AsyncGenerator<Scanned> {
    const last = await this.#lastRevision(stream, links);
    if (last === undefined) return;
    let revision: bigint;
    const remembered = backwards ? undefined : this.#resume.get(`${stream}@${after}`);
    if (remembered !== undefined) {
      revision = remembered;
    } else if (backwards) {
      revision = Number.isFinite(before) ? await this.#search(stream, links, last, before, true) : last;
    } else {
      revision = after > 0 ? await this.#search(stream, links, last, after, false) : 0n;
    }
    if (revision < 0n || revision > last + 1n) return;
    for (;;) {
      let count = 0;
      let next = revision;
      for await (const resolved of this.#readStreamSafe(stream, {
        fromRevision: revision,
        direction: backwards ? BACKWARDS : FORWARDS,
        maxCount: BATCH,
        resolveLinkTos: links,
      })) {
        count++;
        const own = (links ? resolved.link : resolved.event) ?? resolved.event;
        if (own) next = backwards ? own.revision - 1n : own.revision + 1n;
        const record = scanned(resolved);
        if (!record) continue;
        yield { ...record, next };
      }
      if (count < BATCH || next < 0n) return;
      revision = next;
    }
  }

  #remember(key: string, revision: bigint) {
    this.#resume.set(key, revision);
    if (this.#resume.size > 10_000) {
      const oldest = this.#resume.keys().next().value;
      if (oldest !== undefined) this.#resume.delete(oldest);
    }
  }

  /**
   * Forwards: the first revision whose event lies after `position`. Backwards: the last revision whose
   * event lies before it. Returns last + 1 (or -1) when there is none.
   */
  async #search(stream: string, links: boolean, last: bigint, position: number, backwards: boolean): Promise<bigint> {
    let low = 0n;
    let high = last;
    let found = backwards ? -1n : last + 1n;
    while (low <= high) {
      const middle = (low + high) / 2n;
      const at = (await this.#recordAt(stream, middle, links))?.position;
      // A link whose event is gone (deleted stream) answers with the link's own, slightly later, position.
      const past = at !== undefined && (backwards ? at >= position : at > position);
      if (backwards ? !past : past) {
        found = middle;
        if (backwards) low = middle + 1n;
        else high = middle - 1n;
      } else if (backwards) {
        high = middle - 1n;
      } else {
        low = middle + 1n;
      }
    }
    return found;
  }

  async #recordAt(stream: string, revision: bigint, links = false): Promise<Scanned | undefined> {
    for await (const resolved of this.#readStreamSafe(stream, {
      fromRevision: revision,
      maxCount: 1,
      resolveLinkTos: links,
    })) {
      return scanned(resolved);
    }
    return undefined;
  }

  async #lastRevision(stream: string, links: boolean): Promise<bigint | undefined> {
    for await (const resolved of this.#readStreamSafe(stream, {
      fromRevision: END,
      direction: BACKWARDS,
      maxCount: 1,
      resolveLinkTos: links,
    })) {
      return ((links ? resolved.link : undefined) ?? resolved.event)?.revision;
    }
    return undefined;
  }

  async *#readStreamSafe(
    stream: string,
    options: Parameters<EventStoreDBClient['readStream']>[1],
  ): AsyncGenerator<ResolvedEvent> {
    try {
      yield* this.#client.readStream(stream, options);
    } catch (error) {
      if (error instanceof StreamNotFoundError) return;
      throw error;
    }
  }

  async headPosition(): Promise<number> {
    for await (const resolved of this.#client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1 })) {
      return positionOf(resolved.event) ?? 0;
    }
    return 0;
  }

  subscribe(options: SubscribeOptions = {}) {
    return subscribeWithCatchUp(this, options);
  }

  /**
   * Woken by one live subscription to $all per process: SigID's own streams and the `$ce-` links
   * (a tenant subscriber's events show up there a moment after they reach $all).
   */
  waitForAppend(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    this.#listen();
    const controller = new AbortController();
    const wake = () => controller.abort();
    this.#waiters.add(wake);
    signal?.addEventListener('abort', wake, { once: true });
    return sleep(timeoutMs, controller.signal).finally(() => {
      this.#waiters.delete(wake);
      signal?.removeEventListener('abort', wake);
    });
  }

  #listen() {
    if (this.#live) return;
    const live = this.#client.subscribeToAll({
      fromPosition: END,
      filter: streamNameFilter({ regex: '^[^$]|^\\$ce-' }),
    });
    this.#live = live;
    live.on('data', () => {
      for (const wake of [...this.#waiters]) wake();
    });
    // Dropped (server restart): waiters fall back to their timeout, the next wait subscribes again.
    const drop = () => {
      if (this.#live === live) this.#live = undefined;
    };
    live.on('error', drop);
    live.on('close', drop);
  }

  async ping(): Promise<void> {
    await this.headPosition();
  }

  async close(): Promise<void> {
    const live = this.#live;
    this.#live = undefined;
    await live?.unsubscribe().catch(() => {});
    for (const wake of this.#waiters) wake();
    await this.#client.dispose();
  }
}

/** Connects to EventStoreDB (`esdb://host:2113?tls=false`) and checks it answers. */
export async function connectEventStoreDb(url: string): Promise<EventStore> {
  const store = new EsdbEventStore(EventStoreDBClient.connectionString(url));
  await store.ping();
  return store;
}
