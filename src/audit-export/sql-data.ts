import type { z } from 'zod';
import type { EventCatalog } from '../../events/catalog.ts';
import type { EventDefinition } from '../../events/envelope.ts';
import { targetType } from '../audit.ts';
import { streamTarget } from '../event-store/port.ts';

/**
 * The `data` of an audit record written as SQL over a `sigid_events` row, so that PostgreSQL renders
 * it as JSON text: byte for byte what `JSON.stringify` gives for the data `EventLog.decode` returns
 * for the same row. (The rest of the record is plain columns, written in Node by `auditRecordWith`.)
 *
 * Only rows that need nothing from Node are rendered this way: an event type without personal fields
 * (those are sealed, and opened in Node with the subject's key), stored at the catalog's latest
 * version (older versions are upcast in Node), whose schema is made only of what SQL can write
 * exactly (objects with known keys, strings, booleans, enums, integers, arrays, nullable and
 * optional forms of these). The data is written in the schema's key order, as zod's parse on read
 * returns it, without jsonb's spaces; a number is rendered only when it is a safe integer stored
 * without a fraction (JSON's other number forms differ between PostgreSQL and
 * JavaScript), otherwise the row is left to Node. The expression is null for every row left to Node.
 */
export interface SqlAuditData {
  /** A text expression over a `sigid_events` row: its data as JSON, or null when Node must render it. */
  readonly expression: string;
  /** The event types rendered in SQL (at their latest version), sorted. */
  readonly types: readonly string[];
}

const rendered = new WeakMap<EventCatalog, SqlAuditData>();

/** The SQL rendering of audit-record data for this catalog (computed once per catalog). */
export function sqlAuditData(catalog: EventCatalog): SqlAuditData {
  let data = rendered.get(catalog);
  if (!data) {
    data = compileCatalog(catalog);
    rendered.set(catalog, data);
  }
  return data;
}

/** The SQL for the `data` of one event type (null for a row it cannot write exactly), or undefined when Node must render every row. */
function sqlEventData(definition: EventDefinition): string | undefined {
  if ((definition.personal?.fields.length ?? 0) > 0) return undefined;
  return compile(definition.schema, { alias: 0 })?.render('data');
}

function compileCatalog(catalog: EventCatalog): SqlAuditData {
  const branches: string[] = [];
  const types: string[] = [];
  for (const type of catalog.types()) {
    // Its name goes into the line as it is: only names JSON writes unescaped.
    if (!/^[a-z][a-z0-9_.]*$/.test(type)) continue;
    const definition = catalog.get(type);
    const data = sqlEventData(definition);
    if (!data) continue;
    types.push(type);
    branches.push(`when ${literal(type)} then (case when event_version = ${definition.version} then ${data} end)`);
  }
  return { expression: types.length === 0 ? 'null::text' : `(case event_type ${branches.join(' ')} end)`, types };
}

/** Separates a row's fields in `sqlAuditFields`, and rows in a page. */
export const FIELD = '\u001f';
export const ROW = '\u001e';
/** A null causation id among the fields. */
export const NO_CAUSATION = '\u001d';

/**
 * A `sigid_events` row as the export needs it, in one text: its id, position, time (UTC, as
 * PostgreSQL writes a timestamp), type, actor type, actor id, stream name, correlation id and causation id
 * (`NO_CAUSATION` for none) as they are, and its data already written as JSON; separated by `FIELD`.
 * Node writes the record around them (`auditLineOf`), which costs it less than PostgreSQL; PostgreSQL
 * renders only the data. Null (the row is left to Node) when the data must be rendered in Node, or
 * when a text field holds a separator (then no split could be trusted).
 */
export function sqlAuditFields(catalog: EventCatalog): string {
  const text = `actor_type || actor_id || stream_name || correlation_id || coalesce(causation_id, '')`;
  const separators = [FIELD, ROW, NO_CAUSATION].map(
    (char) => `strpos(${text}, E'\\x${char.charCodeAt(0).toString(16)}') = 0`,
  );
  const sep = `E'\\x${FIELD.charCodeAt(0).toString(16)}'`;
  return `(case when ${separators.join(' and ')} then
    event_id::text || ${sep} || global_position::text || ${sep}
    || (recorded_at at time zone 'UTC')::text || ${sep}
    || event_type || ${sep} || actor_type || ${sep} || actor_id || ${sep} || stream_name || ${sep}
    || correlation_id || ${sep} || coalesce(causation_id, E'\\x${NO_CAUSATION.charCodeAt(0).toString(16)}') || ${sep}
    || ${sqlAuditData(catalog).expression} end)`;
}

/**
 * The NDJSON line (no newline) of a row `sqlAuditFields` gave, for the export of one tenant
 * (`tenantJson`, its id as JSON): byte for byte `JSON.stringify(auditRecord(event))` of the
 * decoded event (test/audit-export.int.test.ts compares the two on every shape).
 */
export function auditLineOf(fields: string, tenantJson: string): string {
  const [id, position, time, type, actorType, actorId, stream, correlationId, causationId, data] = fields.split(
    FIELD,
  ) as [string, string, string, string, string, string, string, string, string, string];
  const targetId = streamTarget(stream);
  const causation = causationId === NO_CAUSATION ? 'null' : JSON.stringify(causationId);
  return `{"id":"${id}","object":"audit_log_entry","position":${position},"time":"${isoTime(time)}","action":${jsonOf(type)},"actor":{"type":${jsonOf(actorType)},"id":${JSON.stringify(actorId)}},"target":{"type":${jsonOf(targetType(targetId))},"id":${JSON.stringify(targetId)}},"tenant_id":${tenantJson},"correlation_id":${JSON.stringify(correlationId)},"causation_id":${causation},"data":${data}}`;
}

/**
 * A UTC timestamp as PostgreSQL writes it in ISO DateStyle (`2026-12-03 14:04:38.123456`, the
 * fraction without trailing zeros, or none) as the record's time: ISO 8601 with milliseconds,
 * truncated as a JavaScript `Date` read from it is (`2026-12-03T14:04:38.123Z`). PostgreSQL's own
 * `to_char` costs it twice the text form, and the export is bound by PostgreSQL's CPU.
 */
function isoTime(text: string): string {
  // ISO DateStyle is what node-postgres reads timestamps in too; anything else is refused, not guessed.
  if (text.length < 19 || text.charCodeAt(10) !== 32 || text.charCodeAt(4) !== 45) {
    throw new Error(`the database writes timestamps in another DateStyle than ISO: ${text}`);
  }
  const fraction = text.length > 20 ? text.slice(20, 23).padEnd(3, '0') : '000';
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${fraction}Z`;
}

/** JSON strings of the few values an export repeats on every line (event, actor and target types). */
const repeated = new Map<string, string>();

/** `JSON.stringify(value)` for such a value, written once per process (at most 1,000 kept). */
function jsonOf(value: string): string {
  let json = repeated.get(value);
  if (json === undefined) {
    json = JSON.stringify(value);
    if (repeated.size < 1000) repeated.set(value, json);
  }
  return json;
}

/**
 * How one schema is written: `render(p)` gives the JSON text of the jsonb value at `p`, or SQL null
 * when that text would not be exact (a number JSON would write otherwise, a required key missing, an
 * array or object of the wrong kind). The null runs up through every `||` to the row's text, and
 * the row goes to Node: checking and writing are one expression, so PostgreSQL reads each field once.
 */
interface Compiled {
  render(path: string): string;
}

const scalar: Compiled = { render: (path) => `(${path})::text` };

/**
 * A number is written only when it is a safe integer stored without a fraction (`5`, not `5.0`):
 * PostgreSQL and JavaScript then write the same digits. Any other number (a fraction, digits no
 * double keeps) leaves the row to Node.
 */
const number: Compiled = {
  // jsonb writes a number's numeric as plain digits (never an exponent), a fraction with its point; a
  // string's text is quoted, and `null`, `true` or an object are not digits. So digits and a sign are
  // an integer, below 2^53 when 15 characters at most (the usual case, decided on the text alone);
  // a longer one is compared as a numeric.
  render: (path) =>
    `(case when (${path})::text ~ '[^0-9-]' then null when length((${path})::text) <= 15 then (${path})::text
       when length((${path})::text) <= 17 and abs((${path})::numeric) <= 9007199254740991 then (${path})::text end)`,
};

function compile(schema: z.ZodType, names: { alias: number }): Compiled | undefined {
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
      return scalar;
    case 'enum':
      return Object.values(def.entries ?? {}).every((value) => typeof value === 'string') ? scalar : undefined;
    case 'literal':
      return (def.values ?? []).every((value) => typeof value === 'string' || typeof value === 'boolean')
        ? scalar
        : undefined;
    case 'number':
      return number;
    case 'nullable': {
      const inner = def.innerType && compile(def.innerType, names);
      if (!inner) return undefined;
      // A string's or a boolean's text is already `null` for JSON null.
      if (inner === scalar) return scalar;
      return {
        render: (path) => `(case when jsonb_typeof(${path}) = 'null' then 'null' else ${inner.render(path)} end)`,
      };
    }
    case 'object':
      return compileObject(def.shape ?? {}, def.catchall, names);
    case 'array': {
      const element = def.element && compile(def.element, names);
      if (!element) return undefined;
      const alias = `a${++names.alias}`;
      return {
        // string_agg skips nulls: an element that cannot be written (count(r) < count(*)) nulls the array.
        render: (path) =>
          `(case when jsonb_typeof(${path}) = 'array' then (select case when count(*) = count(${alias}.r)
             then '[' || coalesce(string_agg(${alias}.r, ',' order by ${alias}.o), '') || ']' end
             from (select ${element.render(`${alias}e.e`)} as r, ${alias}e.o
                   from jsonb_array_elements(${path}) with ordinality as ${alias}e(e, o)) as ${alias}) end)`,
      };
    }
    default:
      // Anything else (unions, records, defaults, transforms, unknown): zod's output is Node's to give.
      return undefined;
  }
}

function compileObject(
  shape: Record<string, z.ZodType>,
  catchall: z.ZodType | undefined,
  names: { alias: number },
): Compiled | undefined {
  // A loose object passes unknown keys through in their stored order.
  if (catchall && catchall._zod.def.type !== 'never') return undefined;
  const fields: Array<{ key: string; optional: boolean; value: Compiled }> = [];
  for (const [key, field] of Object.entries(shape)) {
    const optional = field._zod.def.type === 'optional';
    const value = compile(optional ? (field._zod.def as unknown as { innerType: z.ZodType }).innerType : field, names);
    if (!value) return undefined;
    fields.push({ key, optional, value });
  }
  return {
    render(path) {
      if (fields.length === 0) return `(case when jsonb_typeof(${path}) = 'object' then '{}' end)`;
      // Each field is written with a leading comma (a required first one without): a required one
      // missing is null, and so is the object; an optional one missing is nothing; one present is
      // written, or null.
      const leadingRequired = !(fields[0] as (typeof fields)[number]).optional;
      const parts = fields.map((field, index) => {
        const at = `(${path}) -> ${literal(field.key)}`;
        const comma = index === 0 && leadingRequired ? '' : ',';
        const part = `${literal(`${comma}${JSON.stringify(field.key)}:`)} || ${field.value.render(at)}`;
        return field.optional ? `(case when ${at} is null then '' else ${part} end)` : `(${part})`;
      });
      // Optional fields first: whatever they wrote starts with a comma, cut here.
      const body = leadingRequired ? parts.join(' || ') : `substr(${parts.join(' || ')}, 2)`;
      const whole = `('{' || ${body} || '}')`;
      // An object with no required field must still be an object (a missing key of a string is null too).
      return fields.some((field) => !field.optional)
        ? whole
        : `(case when jsonb_typeof(${path}) = 'object' then ${whole} end)`;
    },
  };
}

/** A SQL string literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
