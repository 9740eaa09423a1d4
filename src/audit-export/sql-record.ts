import type { z } from 'zod';
import type { EventCatalog } from '../../events/catalog.ts';
import type { EventDefinition } from '../../events/envelope.ts';
import { TARGET_TYPES } from '../audit.ts';

/**
 * The audit record (`auditRecord` in src/audit.ts) written as SQL over a `sigid_events` row, so that
 * PostgreSQL renders the NDJSON line itself: byte for byte what `JSON.stringify(auditRecord(event))`
 * gives for the same event.
 *
 * Only rows that need nothing from Node are rendered this way: an event type without personal fields
 * (those are sealed, and opened in Node with the subject's key), stored at the catalog's latest
 * version (older versions are upcast in Node), whose schema is made only of what SQL can write
 * exactly (objects with known keys, strings, booleans, enums, integers, arrays, nullable and
 * optional forms of these). The data is written in the schema's key order, as zod's parse on read
 * returns it, without jsonb's spaces; numbers are rendered only when they are safe integers (JSON's
 * other number forms differ between PostgreSQL and JavaScript), otherwise the row goes to Node.
 * Every other row is left for `EventLog.decode`, in the same order.
 */
export interface SqlAuditRecord {
  /** A boolean over a `sigid_events` row: whether `line` renders it. */
  readonly predicate: string;
  /** The row's NDJSON line, newline included (only for rows where `predicate` holds). */
  readonly line: string;
  /** The event types rendered in SQL (at their latest version), sorted. */
  readonly types: readonly string[];
}

const rendered = new WeakMap<EventCatalog, SqlAuditRecord>();

/** The SQL rendering of the audit record for this catalog (computed once per catalog). */
export function sqlAuditRecord(catalog: EventCatalog): SqlAuditRecord {
  let record = rendered.get(catalog);
  if (!record) {
    record = compileRecord(catalog);
    rendered.set(catalog, record);
  }
  return record;
}

/** The SQL for the `data` of one event type, or undefined when it must be rendered in Node. */
export function sqlEventData(definition: EventDefinition): { render: string; check: string } | undefined {
  if ((definition.personal?.fields.length ?? 0) > 0) return undefined;
  const compiled = compile(definition.schema, { alias: 0 });
  if (!compiled) return undefined;
  return { render: compiled.render('data'), check: compiled.check('data') ?? 'true' };
}

function compileRecord(catalog: EventCatalog): SqlAuditRecord {
  const predicates: string[] = [];
  const renders: string[] = [];
  const types: string[] = [];
  for (const type of catalog.types()) {
    const definition = catalog.get(type);
    const data = sqlEventData(definition);
    if (!data) continue;
    types.push(type);
    predicates.push(`when ${literal(type)} then event_version = ${definition.version} and ${data.check}`);
    renders.push(`when ${literal(type)} then ${data.render}`);
  }
  if (types.length === 0) return { predicate: 'false', line: 'null::text', types };
  const target = `case when strpos(stream_name, '-') = 0 then stream_name else substr(stream_name, strpos(stream_name, '-') + 1) end`;
  const targetTypes = Object.entries(TARGET_TYPES)
    .map(([prefix, name]) => `when ${literal(prefix)} then ${literal(JSON.stringify(name))}`)
    .join(' ');
  const line = `'{"id":"' || event_id::text
    || '","object":"audit_log_entry","position":' || global_position::text
    || ',"time":"' || to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    || '","action":' || to_json(event_type)::text
    || ',"actor":{"type":' || to_json(actor_type)::text || ',"id":' || to_json(actor_id)::text
    || '},"target":{"type":' || (case split_part(${target}, '_', 1) ${targetTypes}
                                  else to_json(split_part(${target}, '_', 1))::text end)
    || ',"id":' || to_json(${target})::text
    || '},"tenant_id":' || to_json(tenant_id)::text
    || ',"correlation_id":' || to_json(correlation_id)::text
    || ',"causation_id":' || coalesce(to_json(causation_id)::text, 'null')
    || ',"data":' || (case event_type ${renders.join(' ')} end) || E'}\\n'`;
  return { predicate: `(case event_type ${predicates.join(' ')} else false end)`, line, types };
}

/**
 * How one schema is written: `render(p)` gives the JSON text of the jsonb value at `p`; `check(p)`
 * is what the value must satisfy for that text to be exact (undefined: nothing to check).
 */
interface Compiled {
  render(path: string): string;
  check(path: string): string | undefined;
}

const scalar: Compiled = { render: (path) => `(${path})::text`, check: () => undefined };

/** Integers up to 2^53 are written alike by PostgreSQL (as integers) and JavaScript. */
const integer: Compiled = {
  render: (path) => `trunc((${path})::numeric)::text`,
  check: (path) =>
    `(case when jsonb_typeof(${path}) = 'number' then abs((${path})::numeric) <= 9007199254740991 and (${path})::numeric = trunc((${path})::numeric) else false end)`,
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
      return integer;
    case 'nullable': {
      const inner = def.innerType && compile(def.innerType, names);
      if (!inner) return undefined;
      return {
        render: (path) => `(case when jsonb_typeof(${path}) = 'null' then 'null' else ${inner.render(path)} end)`,
        check: (path) => {
          const check = inner.check(path);
          return check && `(jsonb_typeof(${path}) = 'null' or ${check})`;
        },
      };
    }
    case 'object':
      return compileObject(def.shape ?? {}, def.catchall, names);
    case 'array': {
      const element = def.element && compile(def.element, names);
      if (!element) return undefined;
      const alias = `a${++names.alias}`;
      return {
        render: (path) =>
          `('[' || coalesce((select string_agg(${element.render(`${alias}.e`)}, ',' order by ${alias}.o)
             from jsonb_array_elements(${path}) with ordinality as ${alias}(e, o)), '') || ']')`,
        check: (path) => {
          const check = element.check(`${alias}.e`);
          const each = check
            ? ` and not exists (select 1 from jsonb_array_elements(${path}) as ${alias}(e) where not ${check})`
            : '';
          return `(case when jsonb_typeof(${path}) = 'array' then true${each} else false end)`;
        },
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
      if (fields.length === 0) return `'{}'`;
      const parts = fields.map((field) => {
        const at = `(${path}) -> ${literal(field.key)}`;
        const part = `${literal(`${JSON.stringify(field.key)}:`)} || ${field.value.render(at)}`;
        return field.optional ? `(case when ${at} is not null then ${part} end)` : `(${part})`;
      });
      // concat_ws skips absent optional fields (null), commas and all.
      return `('{' || concat_ws(',', ${parts.join(', ')}) || '}')`;
    },
    check(path) {
      const required = fields.filter((field) => !field.optional).map((field) => field.key);
      const checks = [`jsonb_typeof(${path}) = 'object'`];
      if (required.length > 0) checks.push(`(${path}) ?& ${literal(`{${required.map(arrayItem).join(',')}}`)}::text[]`);
      for (const field of fields) {
        const at = `(${path}) -> ${literal(field.key)}`;
        const check = field.value.check(at);
        if (check) checks.push(field.optional ? `(${at} is null or ${check})` : check);
      }
      return `(${checks.join(' and ')})`;
    },
  };
}

/** A SQL string literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** An element of a text[] literal, quoted. */
function arrayItem(text: string): string {
  return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}
