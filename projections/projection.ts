import type { Transaction } from 'kysely';
import type { SigidEvent } from '../events/catalog.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import type { ProjectedTableName, ProjectedTables, ReadModels } from '../read-models/database.ts';

/** A domain event as a projection may be typed by: a type and its data. */
export type DomainEvent = { type: string; data: unknown };

/** The transaction a projection writes in: it sees only projected tables, never a queue or a checkpoint. */
export type ProjectionTransaction = Transaction<ProjectedTables>;

/** The recorded event of one type of the union `E`, its `data` typed. */
export type RecordedOf<E extends DomainEvent, Type extends E['type']> = RecordedEvent<Extract<E, { type: Type }>>;

/** One handler per event type: the keys are the types handled, each handler gets its event typed. */
export type EventHandlers<E extends DomainEvent> = {
  readonly [Type in E['type']]?: (trx: ProjectionTransaction, event: RecordedOf<E, Type>) => Promise<void>;
};

/**
 * Writes a run of consecutive events of `types` at once (multi-row statements): a page of the global
 * order, in order, with the events of other types taken out by the runner beforehand.
 */
export interface PageHandler<E extends DomainEvent, Types extends E['type']> {
  readonly types: readonly Types[];
  apply(trx: ProjectionTransaction, events: ReadonlyArray<RecordedOf<E, Types>>): Promise<void>;
}

/** What a projection module declares; `defineProjection` turns it into what the runner runs. */
export interface ProjectionDefinition<E extends DomainEvent, PageTypes extends E['type']> {
  /** Its checkpoint's name. */
  readonly name: string;
  /** Bumping it rebuilds the projection from zero: its `tables` are emptied and every event replayed. */
  readonly version: number;
  /** The projected tables it owns (worker-state tables cannot be named: a rebuild empties these). */
  readonly tables: readonly ProjectedTableName[];
  /** One event at a time: a handler per event type. */
  readonly on?: EventHandlers<E>;
  /** A whole page at once, for the types a projection writes with multi-row statements. */
  readonly page?: PageHandler<E, PageTypes>;
}

/**
 * A projection as the runner runs it: it turns events into read-model rows, idempotently (an event
 * applied twice changes nothing more). `eventTypes` are the types it handles, derived from its
 * handlers; the runner reads only those and hands it a page of them at a time.
 */
export interface Projection {
  readonly name: string;
  readonly version: number;
  readonly tables: readonly ProjectedTableName[];
  readonly eventTypes: readonly string[];
  /**
   * Whether its pages commit only once flushed to disk. A projection's rows are derived and may
   * vanish with their checkpoint in a crash of PostgreSQL (they are read again); a reactor's
   * follow-ups (a revoked key's hash deleted) must never be undone once the write was answered.
   */
  readonly durable?: boolean;
  /** Applies a page of events of `eventTypes`, in global order, in the runner's transaction. */
  apply(trx: ProjectionTransaction, events: readonly RecordedEvent[]): Promise<void>;
}

/**
 * Declares a projection over the catalog's events (or over `E`, for a test's or a bench's own
 * events): `on: { 'tenant.renamed': async (trx, event) => … }` with `event.data` typed, a key that is
 * not an event type a type error; and/or `page: { types, apply(trx, events) }` for multi-row writes.
 */
export function defineProjection<E extends DomainEvent = SigidEvent, PageTypes extends E['type'] = never>(
  definition: ProjectionDefinition<E, PageTypes>,
): Projection {
  const handlers = (definition.on ?? {}) as Record<
    string,
    ((trx: ProjectionTransaction, event: RecordedEvent) => Promise<void>) | undefined
  >;
  const page = definition.page as
    | { types: readonly string[]; apply(trx: ProjectionTransaction, events: readonly RecordedEvent[]): Promise<void> }
    | undefined;
  const pageTypes = new Set<string>(page?.types ?? []);
  const eventTypes = [...new Set([...Object.keys(handlers).filter((type) => handlers[type]), ...pageTypes])];
  return {
    name: definition.name,
    version: definition.version,
    tables: definition.tables,
    eventTypes,
    async apply(trx, events) {
      let run: RecordedEvent[] = [];
      for (const event of events) {
        if (pageTypes.has(event.type)) {
          run.push(event);
          continue;
        }
        if (run.length > 0 && page) await page.apply(trx, run);
        run = [];
        await handlers[event.type]?.(trx, event);
      }
      if (run.length > 0 && page) await page.apply(trx, run);
    },
  };
}

/** The transaction a reactor writes in: the worker-state tables its follow-ups change (secrets…). */
export type ReactorTransaction = Transaction<ReadModels>;

/** What a reactor module declares: a handler per event type, each a follow-up of that event. */
export interface ReactorDefinition<E extends DomainEvent> {
  readonly name: string;
  readonly version: number;
  readonly on: {
    readonly [Type in E['type']]?: (trx: ReactorTransaction, event: RecordedOf<E, Type>) => Promise<void>;
  };
}

/**
 * Declares a reactor: the follow-ups of events outside the read models (a revoked key's hash
 * deleted, a rotated secret activated), run by the projection runner like a projection — each in the
 * transaction that moves its checkpoint, so a crash between an append and its follow-up only delays
 * the follow-up. Its pages commit durably (flushed). It owns no projected table: a rebuild empties
 * nothing and replays every event, so each follow-up must be idempotent.
 */
export function defineReactor<E extends DomainEvent = SigidEvent>(definition: ReactorDefinition<E>): Projection {
  return {
    ...defineProjection<E>({
      name: definition.name,
      version: definition.version,
      tables: [],
      // The runner's transaction sees every table; only a reactor's handlers are typed to say so.
      on: definition.on as unknown as EventHandlers<E>,
    }),
    durable: true,
  };
}
