import type { z } from 'zod';
import type { EventCatalog } from '../../events/catalog.ts';
import type { EventDefinition } from '../../events/envelope.ts';
import { targetType } from '../audit.ts';
import { streamTarget } from '../event-store/port.ts';

/**
 * How the export writes an event's `data` off the event log: a plain, structured-cloneable
 * description of each event type's schema, made on the main thread from the catalog's zod schemas
 * and sent to the render workers (`render-worker.ts`), which cannot receive zod schemas.
 *
 * Rendered this way: event types without personal fields (those are sealed, and opened on the main
 * thread with the subject's key), stored at the catalog's latest version (older versions are upcast
 * on the main thread), whose schema is made of objects with known keys, strings, booleans, numbers,
 * enums and literals, arrays, and nullable and optional forms of these. The data is the stored JSON
 * parsed as the event log parses it, written in the schema's key order with unknown keys left out
 * (what zod's parse on read returns), by `JSON.stringify` for every scalar: byte for byte what
 * `JSON.stringify(auditRecord(event))` gives. A value that does not fit its schema (which zod would
 * refuse) is not written here either: the row goes to the event log, which reports it as the
 * Node-rendered export does.
 */
export type PlanNode =
  | { readonly k: 'string' }
  | { readonly k: 'boolean' }
  | { readonly k: 'number' }
  | { readonly k: 'oneOf'; readonly values: readonly (string | boolean | number)[] }
  | { readonly k: 'nullable'; readonly inner: PlanNode }
  | { readonly k: 'array'; readonly element: PlanNode }
  | { readonly k: 'object'; readonly fields: readonly PlanField[] };

export interface PlanField {
  readonly key: string;
  readonly optional: boolean;
  readonly value: PlanNode;
}

/** Per event type rendered off the event log: the version it must be stored at, and its data's shape. */
export type RenderPlan = Readonly<Record<string, { readonly version: number; readonly data: PlanNode }>>;

const plans = new WeakMap<EventCatalog, RenderPlan>();

/** The render plan of a catalog (made once per catalog). */
export function renderPlan(catalog: EventCatalog): RenderPlan {
  let plan = plans.get(catalog);
  if (!plan) {
    const types: Record<string, { version: number; data: PlanNode }> = {};
    for (const type of catalog.types()) {
      const definition: EventDefinition = catalog.get(type);
      if ((definition.personal?.fields.length ?? 0) > 0) continue;
      const data = planOf(definition.schema);
      if (data) types[type] = { version: definition.version, data };
    }
    plan = Object.freeze(types);
    plans.set(catalog, plan);
  }
  return plan;
}

function planOf(schema: z.ZodType): PlanNode | undefined {
  const def = schema._zod.def as unknown as {
    type: string;
    innerType?: z.ZodType;
    element?: z.ZodType;
    shape?: Record<string, z.ZodType>;
    catchall?: z.ZodType;
    entries?: Record<string, unknown>;
    values?: unknown[];
  };
  switch (def.type) {
    case 'string':
    case 'boolean':
    case 'number':
      return { k: def.type };
    case 'enum':
    case 'literal': {
      const values = def.type === 'enum' ? Object.values(def.entries ?? {}) : (def.values ?? []);
      return values.every((value) => ['string', 'boolean', 'number'].includes(typeof value))
        ? { k: 'oneOf', values: values as (string | boolean | number)[] }
        : undefined;
    }
    case 'nullable': {
      const inner = def.innerType && planOf(def.innerType);
      return inner && { k: 'nullable', inner };
    }
    case 'array': {
      const element = def.element && planOf(def.element);
      return element && { k: 'array', element };
    }
    case 'object': {
      // A loose object passes unknown keys through in their stored order: the event log's to give.
      if (def.catchall && def.catchall._zod.def.type !== 'never') return undefined;
      const fields: PlanField[] = [];
      for (const [key, field] of Object.entries(def.shape ?? {})) {
        const optional = field._zod.def.type === 'optional';
        const value = planOf(optional ? (field._zod.def as unknown as { innerType: z.ZodType }).innerType : field);
        if (!value) return undefined;
        fields.push({ key, optional, value });
      }
      return { k: 'object', fields };
    }
    default:
      // Unions, records, defaults, transforms, unknown: zod's output is the event log's to give.
      return undefined;
  }
}

/** Writes a parsed value as JSON, or gives undefined when it does not fit the schema. */
type Writer = (value: unknown) => string | undefined;

function writerOf(node: PlanNode): Writer {
  switch (node.k) {
    case 'string':
      return (value) => (typeof value === 'string' ? JSON.stringify(value) : undefined);
    case 'boolean':
      return (value) => (value === true ? 'true' : value === false ? 'false' : undefined);
    case 'number':
      // JSON.parse gives a finite number for any JSON number but one too large for a double.
      return (value) => (typeof value === 'number' && Number.isFinite(value) ? JSON.stringify(value) : undefined);
    case 'oneOf': {
      const values = new Set(node.values);
      return (value) => (values.has(value as string) ? JSON.stringify(value) : undefined);
    }
    case 'nullable': {
      const inner = writerOf(node.inner);
      return (value) => (value === null ? 'null' : inner(value));
    }
    case 'array': {
      const element = writerOf(node.element);
      return (value) => {
        if (!Array.isArray(value)) return undefined;
        let out = '[';
        for (let index = 0; index < value.length; index++) {
          const item = element(value[index]);
          if (item === undefined) return undefined;
          out += index === 0 ? item : `,${item}`;
        }
        return `${out}]`;
      };
    }
    case 'object': {
      const fields = node.fields.map((field) => ({
        key: field.key,
        prefix: `${JSON.stringify(field.key)}:`,
        optional: field.optional,
        write: writerOf(field.value),
      }));
      return (value) => {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
        let out = '{';
        let first = true;
        for (const field of fields) {
          // Read as zod reads it (`input[key]`): an absent key is undefined (or an inherited value,
          // which no field's schema accepts).
          const item = (value as Record<string, unknown>)[field.key];
          if (item === undefined) {
            if (field.optional) continue;
            return undefined;
          }
          const written = field.write(item);
          if (written === undefined) return undefined;
          out += first ? `${field.prefix}${written}` : `,${field.prefix}${written}`;
          first = false;
        }
        return `${out}}`;
      };
    }
  }
}

/** Separates a row's fields in the page query's rows, and rows in a page. */
export const FIELD = '\u001f';
export const ROW = '\u001e';
/** A null causation id among the fields. */
export const NO_CAUSATION = '\u001d';

/**
 * A `sigid_events` row as the export needs it, in one text: its id, position, time (ISO 8601 with
 * milliseconds, UTC), type, version, actor type, actor id, stream name, correlation id, causation id
 * (`NO_CAUSATION` for none), and its data as PostgreSQL writes jsonb, separated by `FIELD`. Only
 * columns as they are stored: PostgreSQL writes nothing of the record. Null when a text field holds
 * a separator (then no split could be trusted): the row goes to the event log whole.
 */
export const SQL_ROW_FIELDS = (() => {
  const text = `actor_type || actor_id || stream_name || correlation_id || coalesce(causation_id, '')`;
  const code = (char: string) => `E'\\x${char.charCodeAt(0).toString(16)}'`;
  const separators = [FIELD, ROW, NO_CAUSATION].map((char) => `strpos(${text}, ${code(char)}) = 0`);
  const sep = code(FIELD);
  return `(case when ${separators.join(' and ')} then
    event_id::text || ${sep} || global_position::text || ${sep}
    || to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ${sep}
    || event_type || ${sep} || event_version::text || ${sep} || actor_type || ${sep} || actor_id || ${sep}
    || stream_name || ${sep} || correlation_id || ${sep} || coalesce(causation_id, ${code(NO_CAUSATION)}) || ${sep}
    || data::text end)`;
})();

/**
 * A page rendered: its NDJSON in `segments`, with the event at `holes[i]` (a position) to be written
 * by the event log between `segments[i]` and `segments[i + 1]`; one segment when there is no hole.
 */
export interface RenderedPage {
  segments: string[];
  holes: number[];
  /** Records written here (the page's rows less its holes). */
  rendered: number;
}

/** Renders pages of one catalog's events (the worker's side; also usable on the main thread). */
export class PageRenderer {
  readonly #types = new Map<string, { version: string; json: string; write: Writer }>();
  /** `"target":{"type":…,"id":` by target prefix, and actor types as JSON: few distinct values, written once. */
  readonly #targets = new Map<string, string>();
  readonly #actorTypes = new Map<string, string>();

  constructor(plan: RenderPlan) {
    for (const [type, { version, data }] of Object.entries(plan)) {
      this.#types.set(type, { version: String(version), json: JSON.stringify(type), write: writerOf(data) });
    }
  }

  /**
   * The NDJSON of a page's rows (`ROW`-separated; a row the query left to the event log is
   * `#<position>`), for the export of one tenant (`tenantJson`, its id as JSON).
   */
  render(rows: string, tenantJson: string): RenderedPage {
    const segments: string[] = [];
    const holes: number[] = [];
    let out = '';
    let rendered = 0;
    let start = 0;
    while (start <= rows.length) {
      let end = rows.indexOf(ROW, start);
      if (end === -1) end = rows.length;
      const row = rows.slice(start, end);
      start = end + 1;
      const line = row.startsWith('#') ? undefined : this.#line(row, tenantJson);
      if (line === undefined) {
        segments.push(out);
        out = '';
        holes.push(Number(row.startsWith('#') ? row.slice(1) : row.split(FIELD)[1]));
      } else {
        out += line;
        rendered++;
      }
    }
    segments.push(out);
    return { segments, holes, rendered };
  }

  /** One row's NDJSON line with its newline, or undefined when the event log must write it. */
  #line(row: string, tenantJson: string): string | undefined {
    const fields = row.split(FIELD);
    if (fields.length !== 11) return undefined;
    const [id, position, time, type, version, actorType, actorId, stream, correlationId, causationId, data] =
      fields as [string, string, string, string, string, string, string, string, string, string, string];
    const renders = this.#types.get(type);
    if (!renders || renders.version !== version) return undefined;
    const written = renders.write(JSON.parse(data));
    if (written === undefined) return undefined;
    const targetId = streamTarget(stream);
    const underscore = targetId.indexOf('_');
    const prefix = underscore === -1 ? targetId : targetId.slice(0, underscore);
    let target = this.#targets.get(prefix);
    if (target === undefined) {
      target = `"target":{"type":${JSON.stringify(targetType(targetId))},"id":`;
      if (this.#targets.size < 1000) this.#targets.set(prefix, target);
    }
    let actor = this.#actorTypes.get(actorType);
    if (actor === undefined) {
      actor = `"actor":{"type":${JSON.stringify(actorType)},"id":`;
      if (this.#actorTypes.size < 1000) this.#actorTypes.set(actorType, actor);
    }
    const causation = causationId === NO_CAUSATION ? 'null' : JSON.stringify(causationId);
    return `{"id":"${id}","object":"audit_log_entry","position":${position},"time":"${time}","action":${renders.json},${actor}${JSON.stringify(actorId)}},${target}${JSON.stringify(targetId)}},"tenant_id":${tenantJson},"correlation_id":${JSON.stringify(correlationId)},"causation_id":${causation},"data":${written}}\n`;
  }
}
