import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RecordedEvent } from '../../events/envelope.ts';
import { type AuditFilter, auditRecord, readOptions, walkTenantEvents } from '../audit.ts';
import type { Database } from '../db/database.ts';
import type { EventLog } from '../event-log.ts';
import type { StoredEvent } from '../event-store/port.ts';
import { sqlAuditRecord } from './sql-record.ts';

/** What an export needs of SigID: the event log, and the database when the store lives in it. */
export interface AuditExportSource {
  db: Database;
  log: EventLog;
}

export interface AuditExportOptions {
  /** Stops the export (the client went away): nothing more is read or written. */
  signal?: AbortSignal;
  /** After each page: the position written up to and the head the export stops at (progress bars). */
  onProgress?: (position: number, head: number) => void;
  /** Events per page read (default 2,000). */
  pageSize?: number;
}

export interface AuditExportResult {
  /** Records written. */
  records: number;
  /** Of those, how many PostgreSQL rendered itself (the rest went through the event log in Node). */
  renderedInSql: number;
  /** Whether it ran to the end (false when stopped by the signal or a closed output). */
  complete: boolean;
}

/** Node-rendered events are decoded in slices this long, so a long export lets other requests in. */
const DECODE_SLICE = 256;

/**
 * Writes a tenant's audit log as NDJSON (one `auditRecord` per line, oldest first) to `out`, up to
 * the store's gap-free head as it was when the export began, waiting for `out` to drain so memory
 * stays flat. `out` is not ended: the caller owns it. The HTTP export and `sigid audit export` both
 * call this.
 *
 * On PostgreSQL and PGlite most records are rendered by PostgreSQL itself (see `sql-record.ts`);
 * events with personal data or stored at an older version are decoded in Node (opened, upcast,
 * validated) and written in their place in the order. On EventStoreDB every record is rendered in Node.
 */
export async function exportAuditLog(
  source: AuditExportSource,
  tenantId: string,
  filter: AuditFilter,
  out: Writable,
  options: AuditExportOptions = {},
): Promise<AuditExportResult> {
  return source.log.store.backend === 'esdb'
    ? exportAuditLogInNode(source.log, tenantId, filter, out, options)
    : exportAuditLogInSql(source, tenantId, filter, out, options);
}

/** The export with every record rendered in Node: EventStoreDB's way, and what the SQL one must equal. */
export async function exportAuditLogInNode(
  log: EventLog,
  tenantId: string,
  filter: AuditFilter,
  out: Writable,
  options: AuditExportOptions = {},
): Promise<AuditExportResult> {
  const head = await log.store.headPosition();
  let records = 0;
  const walk = walkTenantEvents(log, tenantId, filter, {
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  for await (const events of walk) {
    let chunk = '';
    for (const event of events) chunk += `${JSON.stringify(auditRecord(event))}\n`;
    if (!(await write(out, chunk, options.signal))) return { records, renderedInSql: 0, complete: false };
    records += events.length;
    options.onProgress?.((events[events.length - 1] as RecordedEvent).position, head);
  }
  return { records, renderedInSql: 0, complete: !options.signal?.aborted };
}

/** A `sigid_events` row the SQL could not render, as the query hands it to Node. */
interface RawEvent {
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
  recorded_ms: number;
}

/**
 * One row per run of the page: a run of consecutive events rendered in SQL (`lines`), or one event
 * left for Node (`event`), in position order.
 */
interface RunRow {
  last_position: number;
  events: number;
  lines: string | null;
  event: RawEvent | null;
}

async function exportAuditLogInSql(
  source: AuditExportSource,
  tenantId: string,
  filter: AuditFilter,
  out: Writable,
  options: AuditExportOptions,
): Promise<AuditExportResult> {
  const { log, db } = source;
  const head = await log.store.headPosition();
  const limit = options.pageSize ?? 2000;
  const { text, params } = pageQuery(sqlAuditRecord(log.catalog), readOptions(tenantId, filter), limit);
  const name = `sigid_audit_export_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
  const read = (after: number) => db.query<RunRow>(text, [...params, after, head], name);

  let records = 0;
  let renderedInSql = 0;
  let after = 0;
  if (after >= head) return { records, renderedInSql, complete: true };
  let next = read(after);
  try {
    while (!options.signal?.aborted) {
      const { rows } = await next;
      const count = rows.reduce((sum, row) => sum + row.events, 0);
      const last = rows[rows.length - 1]?.last_position ?? head;
      const more = count === limit && last < head;
      // The next page is read while this one is written out.
      if (more) next = read(last);
      let chunk = '';
      let decoded = 0;
      for (const row of rows) {
        if (row.lines !== null) {
          chunk += row.lines;
          renderedInSql += row.events;
          continue;
        }
        if (++decoded % DECODE_SLICE === 0) await yieldToEventLoop();
        chunk += `${JSON.stringify(auditRecord(await log.decode(toStored(row.event as RawEvent))))}\n`;
      }
      if (chunk !== '' && !(await write(out, chunk, options.signal))) {
        return { records, renderedInSql, complete: false };
      }
      records += count;
      after = last;
      options.onProgress?.(after, head);
      if (!more) return { records, renderedInSql, complete: true };
    }
    return { records, renderedInSql, complete: false };
  } finally {
    // An export abandoned midway (client gone) must not leave a failing read unobserved.
    next.catch(() => {});
  }
}

/**
 * One page of the tenant's events after `$n-1` up to the head `$n`, with the same filters as
 * `EventStore.readAll`. Consecutive rows that SQL renders are joined into one `lines` string (runs
 * are counted by the rows left for Node before them), so Node handles a few strings per page
 * rather than a row per event.
 */
function pageQuery(
  record: ReturnType<typeof sqlAuditRecord>,
  filter: ReturnType<typeof readOptions>,
  limit: number,
): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const bind = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where = [`tenant_id = ${bind(filter.tenantId)}`];
  if (filter.types?.length) where.push(`event_type = any(${bind(filter.types)}::text[])`);
  if (filter.actorId !== undefined) where.push(`actor_id = ${bind(filter.actorId)}`);
  if (filter.stream !== undefined) where.push(`stream_name = ${bind(filter.stream)}`);
  if (filter.since !== undefined) where.push(`recorded_at >= ${bind(filter.since)}`);
  if (filter.until !== undefined) where.push(`recorded_at < ${bind(filter.until)}`);
  where.push(`global_position > $${params.length + 1}::bigint`, `global_position <= $${params.length + 2}::bigint`);
  const text = `
    with page as (
      select *, ${record.predicate} as in_sql
      from sigid_events where ${where.join(' and ')}
      order by global_position limit ${Math.max(1, Math.floor(limit))}
    ), runs as (
      select *, count(*) filter (where not in_sql) over (order by global_position) as run from page
    )
    select run, 1 as kind, global_position as last_position, 1 as events, null::text as lines,
           json_build_object('global_position', global_position, 'event_id', event_id, 'stream_name', stream_name,
             'stream_revision', stream_revision, 'tenant_id', tenant_id, 'event_type', event_type,
             'event_version', event_version, 'data', data, 'actor_type', actor_type, 'actor_id', actor_id,
             'correlation_id', correlation_id, 'causation_id', causation_id,
             'recorded_ms', (extract(epoch from recorded_at) * 1000)::float8) as event
    from runs where not in_sql
    union all
    select run, 2, max(global_position), count(*), string_agg(${record.line}, '' order by global_position), null
    from runs where in_sql group by run
    order by run, kind`;
  return { text, params };
}

function toStored(row: RawEvent): StoredEvent {
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

/** Writes `chunk`, waiting for `out` to drain; false when the export must stop (aborted, or `out` closed). */
async function write(out: Writable, chunk: string, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted || out.destroyed || out.writableEnded) return false;
  if (!out.write(chunk)) await drained(out, signal);
  return !(signal?.aborted || out.destroyed);
}

/** Resolves when `out` drains, closes, fails or the export is aborted, leaving no listener behind. */
function drained(out: Writable, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
    signal?.addEventListener('abort', done);
  });
}
