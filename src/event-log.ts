import type { EventCatalog } from '../events/catalog.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { open, seal } from './crypto/aead.ts';
import type { SubjectKeys } from './crypto/subject-keys.ts';
import type {
  Actor,
  AppendResult,
  EventStore,
  ExpectedRevision,
  ReadAllOptions,
  StoredEvent,
} from './event-store/port.ts';
import { newUuid } from './ids.ts';

/** Who is writing and why: the metadata every event carries. */
export interface WriteContext {
  tenantId: string;
  actor: Actor;
  correlationId: string;
  causationId?: string | null;
}

export interface DomainEvent {
  type: string;
  data: unknown;
}

/** How a personal field is stored: the subject it describes and the sealed value. */
interface SealedField {
  $personal: string;
  sealed: string;
}

function isSealed(value: unknown): value is SealedField {
  return typeof value === 'object' && value !== null && '$personal' in value && 'sealed' in value;
}

const fieldContext = (tenantId: string, subjectId: string, field: string) =>
  `sigid:personal:${tenantId}:${subjectId}:${field}`;

/**
 * The typed event log over the raw store: validates every event against the catalog on the way in
 * and on the way out, upcasts old versions, and seals personal fields with the subject's key (so a
 * destroyed key reads as null everywhere).
 */
export class EventLog {
  readonly store: EventStore;
  readonly catalog: EventCatalog;
  readonly #keys: SubjectKeys;

  constructor(store: EventStore, catalog: EventCatalog, keys: SubjectKeys) {
    this.store = store;
    this.catalog = catalog;
    this.#keys = keys;
  }

  async append(
    stream: string,
    events: readonly DomainEvent[],
    expected: ExpectedRevision,
    context: WriteContext,
  ): Promise<AppendResult> {
    return this.appendEach(
      stream,
      events.map((event) => ({ ...event, context })),
      expected,
    );
  }

  /**
   * Appends events that each carry their own who and why (all of one tenant): the writes of
   * independent requests grouped into one append, such as the tokens issued at the same moment.
   */
  async appendEach(
    stream: string,
    events: ReadonlyArray<DomainEvent & { context: WriteContext }>,
    expected: ExpectedRevision,
  ): Promise<AppendResult> {
    const prepared = [];
    for (const { context, ...event } of events) {
      const definition = this.catalog.get(event.type);
      const data = definition.schema.parse(event.data) as Record<string, unknown>;
      prepared.push({
        id: newUuid(),
        type: event.type,
        version: definition.version,
        data: await this.#seal(context.tenantId, event.type, data),
        metadata: {
          tenantId: context.tenantId,
          actor: context.actor,
          correlationId: context.correlationId,
          causationId: context.causationId ?? null,
        },
      });
    }
    return this.store.append(stream, prepared, expected);
  }

  async readStream(stream: string): Promise<RecordedEvent[]> {
    return this.decodeAll(await this.store.readStream(stream));
  }

  async readAll(options: ReadAllOptions): Promise<{ events: RecordedEvent[]; checkpoint: number }> {
    const page = await this.store.readAll(options);
    return { events: await this.decodeAll(page.events), checkpoint: page.checkpoint };
  }

  async decodeAll(stored: readonly StoredEvent[]): Promise<RecordedEvent[]> {
    const decoded: RecordedEvent[] = [];
    for (const event of stored) decoded.push(await this.decode(event));
    return decoded;
  }

  /** Upcasts to the latest version, opens personal fields (null once erased) and validates. */
  async decode(event: StoredEvent): Promise<RecordedEvent> {
    const upcast = this.catalog.upcast(event.type, event.version, event.data as Record<string, unknown>);
    const opened = await this.#open(event.tenantId, event.type, upcast);
    const data = this.catalog.readSchema(event.type).parse(opened);
    return {
      type: event.type,
      data,
      id: event.id,
      stream: event.stream,
      revision: event.revision,
      position: event.position,
      version: this.catalog.get(event.type).version,
      tenantId: event.tenantId,
      actor: event.actor,
      correlationId: event.correlationId,
      causationId: event.causationId,
      time: event.time,
    };
  }

  async #seal(tenantId: string, type: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
    const personal = this.catalog.get(type).personal;
    if (!personal) return data;
    const subjectId = personal.subject(data as never);
    const key = await this.#keys.keyFor(tenantId, subjectId);
    const sealed: Record<string, unknown> = { ...data };
    for (const field of personal.fields) {
      if (data[field] === undefined || data[field] === null) continue;
      // Nothing new is written about an erased subject: the field is stored as erased.
      sealed[field] = key
        ? ({
            $personal: subjectId,
            sealed: seal(
              key,
              Buffer.from(JSON.stringify(data[field])),
              fieldContext(tenantId, subjectId, field),
            ).toString('base64url'),
          } satisfies SealedField)
        : null;
    }
    return sealed;
  }

  async #open(tenantId: string, type: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
    const personal = this.catalog.get(type).personal;
    if (!personal) return data;
    const opened: Record<string, unknown> = { ...data };
    for (const field of personal.fields) {
      const value = data[field];
      if (!isSealed(value)) continue;
      const key = await this.#keys.find(tenantId, value.$personal);
      opened[field] = key
        ? JSON.parse(
            open(
              key,
              Buffer.from(value.sealed, 'base64url'),
              fieldContext(tenantId, value.$personal, field),
            ).toString(),
          )
        : null;
    }
    return opened;
  }
}
