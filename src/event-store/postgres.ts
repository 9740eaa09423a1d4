import type { Database } from '../db/database.ts';
import {
  type AppendResult,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadAllPage,
  type StoredEvent,
  WrongExpectedRevisionError,
} from './port.ts';
import { sleep, subscribeWithCatchUp } from './subscription.ts';
import { Watermark } from './watermark.ts';

/** An event row as the store's queries select it (the audit export reads the same shape). */
export interface EventRow {
  global_position: number;
  event_id: string;
  stream_name: string;
  stream_revision: number;
  tenant_id: string;
  event_type: string;
  event_version: number;
  data: unknown;
  actor_type: StoredEvent['actor']['type'];
  actor_id: string;
  correlation_id: string;
  causation_id: string | null;
  /** Milliseconds since the epoch: far cheaper to read than a timestamp's text form. */
  recorded_ms: number;
}

/** The columns an `EventRow` is selected with. */
export const EVENT_COLUMNS = `global_position, event_id, stream_name, stream_revision, tenant_id, event_type, event_version,
  data, actor_type, actor_id, correlation_id, causation_id,
  (extract(epoch from recorded_at) * 1000)::float8 as recorded_ms`;

const NOTIFY_CHANNEL = 'sigid_events';
/** The least time between two NOTIFYs. */
const NOTIFY_COALESCE_MS = 5;
/**
 * How long an append of a type no read model or typed worker reads (token events above all) may
 * wait to be announced: readers of every type (the webhook fan-out, live event streams) in other
 * processes learn of it within this, and a stream of such appends costs ~10 NOTIFYs a second.
 */
export const NOTIFY_LAZY_MS = 100;
/** The longest list of types a NOTIFY carries (PostgreSQL's payload limit is 8000 bytes). */
const NOTIFY_TYPES_MAX = 7000;

/** An event row as the port's `StoredEvent`. */
export function toStored(row: EventRow): StoredEvent {
  return {
    id: row.event_id,
    type: row.event_type,
    version: row.event_version,
    stream: row.stream_name,
    revision: row.stream_revision,
    position: row.global_position,
    tenantId: row.tenant_id,
    actor: { type: row.actor_type, id: row.actor_id },
    correlationId: row.correlation_id,
    causationId: row.causation_id,
    time: new Date(row.recorded_ms),
    data: row.data,
  };
}

/**
 * The stream row is written before the events: it checks the expected revision, serialises writers
 * of one stream (row lock), and takes the transaction id before any position is drawn (see Watermark).
 */
function streamStatement(expected: ExpectedRevision): string {
  if (expected === 'no_stream') {
    return `insert into sigid_streams (stream_name, tenant_id, revision) values ($1, $2, $3 - 1)
            on conflict (stream_name) do nothing returning revision, pg_current_xact_id() as xid`;
  }
  if (expected === 'any') {
    return `insert into sigid_streams as s (stream_name, tenant_id, revision) values ($1, $2, $3 - 1)
            on conflict (stream_name) do update set revision = s.revision + $3
            returning s.revision, pg_current_xact_id() as xid`;
  }
  const exact = expected === 'stream_exists' ? '' : ' and revision = $4';
  return `update sigid_streams set revision = revision + $3 where stream_name = $1${exact}
          returning revision, pg_current_xact_id() as xid`;
}

/** The PostgreSQL event store; the same SQL serves the embedded PGlite backend. */
export class PostgresEventStore implements EventStore {
  readonly backend: 'postgres' | 'pglite';
  readonly #db: Database;
  readonly #watermark: Watermark;
  /** Who waits for an append, and of which types (undefined: any). */
  readonly #waiters = new Map<() => void, ReadonlySet<string> | undefined>();
  /** The types appended since the last NOTIFY went out (coalesced into the next one). */
  #pendingTypes = new Set<string>();
  #unlisten: (() => Promise<void>) | undefined;
  /** The types whose appends are announced at once (the read models' and typed workers' types). */
  readonly #promptTypes = new Set<string>();
  #pendingPrompt = false;
  #sending = false;
  #lastSent = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = 0;

  readonly #lazyMs: number;

  /** `lazyNotifyMs`: how long an append of no prompt type may wait to be announced (NOTIFY_LAZY_MS). */
  constructor(db: Database, options: { lazyNotifyMs?: number } = {}) {
    this.#db = db;
    this.#lazyMs = options.lazyNotifyMs ?? NOTIFY_LAZY_MS;
    this.backend = db.kind;
    this.#watermark = new Watermark(db);
  }

  /** Starts listening for appends made by other processes. */
  async start(): Promise<this> {
    this.#unlisten = await this.#db.listen(NOTIFY_CHANNEL, (payload) =>
      this.#wake(payload ? payload.split(',') : undefined),
    );
    return this;
  }

  async append(stream: string, events: EventToAppend[], expected: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) throw new Error('append needs at least one event');
    const tenantId = events[0]?.metadata.tenantId as string;
    if (events.some((event) => event.metadata.tenantId !== tenantId)) {
      throw new Error('all events of one append belong to one tenant');
    }
    // The events as one JSON array (their data nested, not strings in a text[]): one parameter for
    // the client to send and the server to parse, with no per-element array escaping.
    const batch = JSON.stringify(
      events.map((event) => ({
        id: event.id,
        type: event.type,
        version: event.version,
        data: event.data,
        actor_type: event.metadata.actor.type,
        actor_id: event.metadata.actor.id,
        correlation_id: event.metadata.correlationId,
        causation_id: event.metadata.causationId,
      })),
    );
    const params: unknown[] = [stream, tenantId, events.length, typeof expected === 'number' ? expected : null, batch];
    const sql = `with s as (${streamStatement(expected)}),
      e as (
        insert into sigid_events (event_id, stream_name, stream_revision, tenant_id, event_type, event_version, data,
                                  actor_type, actor_id, correlation_id, causation_id)
        select u.id, $1, s.revision - $3 + u.ord, $2, u.type, u.version, u.data,
               u.actor_type, u.actor_id, u.correlation_id, u.causation_id
        from s, rows from (jsonb_to_recordset($5::jsonb) as (id uuid, type text, version int, data jsonb,
                           actor_type text, actor_id text, correlation_id text, causation_id text))
                with ordinality as u(id, type, version, data, actor_type, actor_id, correlation_id, causation_id, ord)
        order by u.ord
        returning global_position, stream_revision)
      select max(global_position) as position, max(stream_revision) as revision, $4::bigint as expected from e`;
    try {
      const { rows } = await this.#db.query<{ position: number | null; revision: number | null }>(
        sql,
        params,
        `sigid_append_${typeof expected === 'number' ? 'exact' : expected}`,
      );
      const row = rows[0];
      if (row?.position == null || row.revision == null) return await this.#conflict(stream, events, expected);
      this.#announce(events);
      return { nextRevision: row.revision, position: row.position };
    } catch (error) {
      if ((error as { code?: string }).code === '23505') return await this.#conflict(stream, events, expected);
      throw error;
    }
  }

  /** A rejected append is either a retry of one that already landed (idempotent) or a real conflict. */
  async #conflict(stream: string, events: EventToAppend[], expected: ExpectedRevision): Promise<AppendResult> {
    const { rows } = await this.#db.query<{
      event_id: string;
      stream_name: string;
      stream_revision: number;
      global_position: number;
    }>(
      `select event_id, stream_name, stream_revision, global_position from sigid_events
       where event_id = any($1::uuid[]) order by global_position`,
      [events.map((event) => event.id)],
    );
    const landed =
      rows.length === events.length &&
      rows.every((row, index) => row.stream_name === stream && row.event_id === events[index]?.id);
    if (landed) {
      const last = rows[rows.length - 1] as (typeof rows)[number];
      return { nextRevision: last.stream_revision, position: last.global_position };
    }
    const current = await this.#db.query<{ revision: number }>(
      'select revision from sigid_streams where stream_name = $1',
      [stream],
    );
    throw new WrongExpectedRevisionError(stream, expected, current.rows[0]?.revision ?? 'no_stream');
  }

  async readStream(stream: string, options: { fromRevision?: number } = {}): Promise<StoredEvent[]> {
    const { rows } = await this.#db.query<EventRow>(
      `select ${EVENT_COLUMNS} from sigid_events where stream_name = $1 and stream_revision >= $2 order by stream_revision`,
      [stream, options.fromRevision ?? 0],
      'sigid_read_stream',
    );
    return rows.map(toStored);
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllPage> {
    // A read bounded below what is already known to be final needs no new boundary.
    const known = this.#watermark.position;
    const boundary =
      options.before !== undefined && options.before - 1 <= known ? known : await this.#watermark.refresh();
    const backwards = options.direction === 'backwards';
    const limit = Math.max(1, Math.min(options.limit ?? 500, 10_000));
    const where: string[] = [];
    const params: unknown[] = [];
    const bind = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    where.push(`global_position <= ${bind(boundary)}`);
    if (options.after !== undefined) where.push(`global_position > ${bind(options.after)}`);
    if (options.before !== undefined) where.push(`global_position < ${bind(options.before)}`);
    if (options.tenantId !== undefined) where.push(`tenant_id = ${bind(options.tenantId)}`);
    if (options.types?.length) where.push(`event_type = any(${bind(options.types)}::text[])`);
    if (options.actorId !== undefined) where.push(`actor_id = ${bind(options.actorId)}`);
    if (options.stream !== undefined) where.push(`stream_name = ${bind(options.stream)}`);
    if (options.since !== undefined) where.push(`recorded_at >= ${bind(options.since)}`);
    if (options.until !== undefined) where.push(`recorded_at < ${bind(options.until)}`);
    const order = backwards ? 'desc' : 'asc';
    const { rows } = await this.#db.query<EventRow>(
      `select ${EVENT_COLUMNS} from sigid_events where ${where.join(' and ')} order by global_position ${order} limit ${limit}`,
      params,
    );
    const events = rows.map(toStored);
    const full = events.length === limit;
    const checkpoint = backwards
      ? (events[events.length - 1]?.position ?? 0)
      : full
        ? (events[events.length - 1]?.position ?? boundary)
        : // A `before` bound leaves what lies at or past it unread: the checkpoint must not claim it.
          Math.min(Math.max(boundary, options.after ?? 0), (options.before ?? Number.POSITIVE_INFINITY) - 1);
    return { events, checkpoint };
  }

  async headPosition(): Promise<number> {
    return this.#watermark.refresh();
  }

  subscribe(options = {}) {
    return subscribeWithCatchUp(this, options);
  }

  waitForAppend(timeoutMs: number, signal?: AbortSignal, types?: readonly string[]): Promise<void> {
    const controller = new AbortController();
    const wake = () => controller.abort();
    this.#waiters.set(wake, types ? new Set(types) : undefined);
    signal?.addEventListener('abort', wake, { once: true });
    return sleep(timeoutMs, controller.signal).finally(() => {
      this.#waiters.delete(wake);
      signal?.removeEventListener('abort', wake);
    });
  }

  async ping(): Promise<void> {
    await this.#db.query('select 1 from sigid_streams limit 1');
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#unlisten?.();
    for (const wake of this.#waiters.keys()) wake();
  }

  /** Wakes whoever waits for one of `types` (every waiter when the types are not known). */
  #wake(types?: readonly string[]) {
    for (const [wake, wanted] of [...this.#waiters]) {
      if (!types || !wanted || types.some((type) => wanted.has(type))) wake();
    }
  }

  /**
   * Appends of these types are announced to other processes at once (within NOTIFY_COALESCE_MS):
   * someone there waits for them by type (a projection, the e-mail intake). Every process registers
   * the same types (it constructs the same projections and workers), whichever of them holds the locks.
   */
  announcePromptly(types: readonly string[]): void {
    for (const type of types) this.#promptTypes.add(type);
  }

  /**
   * Wakes local subscribers at once and other processes through NOTIFY, sent after the commit (a NOTIFY
   * inside the append transaction would serialise every commit on the notification queue) and coalesced:
   * at most one every NOTIFY_COALESCE_MS when a prompt type is among the appended ones, else one
   * within NOTIFY_LAZY_MS. A NOTIFY costs the database more than a small append, so a stream of token
   * events must not send one each.
   */
  #announce(events: readonly EventToAppend[]) {
    const types = [...new Set(events.map((event) => event.type))];
    this.#wake(types);
    // Embedded, the data-dir lock means no other process can be listening.
    if (this.backend === 'pglite') return;
    for (const type of types) this.#pendingTypes.add(type);
    if (types.some((type) => this.#promptTypes.has(type))) this.#pendingPrompt = true;
    this.#scheduleNotify();
  }

  /** Sets the next NOTIFY's time (sooner when a prompt type waits); one is sent at a time. */
  #scheduleNotify() {
    if (this.#sending || this.#pendingTypes.size === 0) return;
    const now = Date.now();
    const at = this.#pendingPrompt
      ? Math.max(now, this.#lastSent + NOTIFY_COALESCE_MS)
      : Math.max(now + this.#lazyMs, this.#lastSent + NOTIFY_COALESCE_MS);
    if (this.#timer && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#sendNotify(), at - now);
    this.#timer.unref();
  }

  /**
   * One NOTIFY of the types appended since the last (so a waiter for other types sleeps on), or of
   * nothing — wake everyone — when they would not fit a NOTIFY payload.
   */
  #sendNotify() {
    this.#timer = undefined;
    const listed = [...this.#pendingTypes].join(',');
    this.#pendingTypes = new Set();
    this.#pendingPrompt = false;
    this.#sending = true;
    this.#db
      .notify(NOTIFY_CHANNEL, listed.length <= NOTIFY_TYPES_MAX ? listed : '')
      .catch(() => {})
      .finally(() => {
        this.#sending = false;
        this.#lastSent = Date.now();
        this.#scheduleNotify();
      });
  }
}
