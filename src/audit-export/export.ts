import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RecordedEvent } from '../../events/envelope.ts';
import { type AuditFilter, auditRecord, auditRecordWith, readOptions, walkTenantEvents } from '../audit.ts';
import type { Database } from '../db/database.ts';
import type { EventLog } from '../event-log.ts';
import type { StoredEvent } from '../event-store/port.ts';
import { sqlAuditData } from './sql-data.ts';

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

/** A `sigid_events` row of the page: `data_json` when PostgreSQL rendered the data, else the stored `data`. */
interface PageRow {
  global_position: number;
  event_id: string;
  stream_name: string;
  stream_revision: number;
  tenant_id: string;
  event_type: string;
  event_version: number;
  actor_type: StoredEvent['actor']['type'];
  actor_id: string;
  correlation_id: string;
  causation_id: string | null;
  recorded_ms: number;
  data_json: string | null;
  data: unknown;
}

/** What `auditRecordWith` writes before the data: `"data":0}` ends the placeholder record. */
const DATA_PLACEHOLDER_TAIL = 2;

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
  const { text, params } = pageQuery(sqlAuditData(log.catalog).expression, readOptions(tenantId, filter), limit);
  const name = `sigid_audit_export_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
  const read = (after: number) => db.query<PageRow>(text, [...params, after, head], name);

  let records = 0;
  let renderedInSql = 0;
  if (head <= 0) return { records, renderedInSql, complete: true };
  let next = read(0);
  try {
    while (!options.signal?.aborted) {
      const { rows } = await next;
      const last = rows[rows.length - 1]?.global_position ?? head;
      const more = rows.length === limit && last < head;
      // The next page is read while this one is written out.
      if (more) next = read(last);
      let chunk = '';
      let decoded = 0;
      for (const row of rows) {
        const stored = toStored(row);
        if (row.data_json !== null) {
          // The envelope as auditRecord writes it, with the data PostgreSQL wrote in its place.
          const record = JSON.stringify(auditRecordWith(stored, 0));
          chunk += `${record.slice(0, -DATA_PLACEHOLDER_TAIL)}${row.data_json}}\n`;
          renderedInSql++;
          continue;
        }
        if (++decoded % DECODE_SLICE === 0) await yieldToEventLoop();
        chunk += `${JSON.stringify(auditRecord(await log.decode(stored)))}\n`;
      }
      if (chunk !== '' && !(await write(out, chunk, options.signal))) {
        return { records, renderedInSql, complete: false };
      }
      records += rows.length;
      options.onProgress?.(last, head);
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
 * `EventStore.readAll`: each row's data as PostgreSQL rendered it, or its stored data where Node
 * must render it.
 */
function pageQuery(
  dataExpression: string,
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
    select global_position, event_id, stream_name, stream_revision, tenant_id, event_type, event_version,
           actor_type, actor_id, correlation_id, causation_id, recorded_ms, data_json,
           case when data_json is null then data end as data
    from (select *, (extract(epoch from recorded_at) * 1000)::float8 as recorded_ms, ${dataExpression} as data_json
          from sigid_events where ${where.join(' and ')}
          order by global_position limit ${Math.max(1, Math.floor(limit))}) as page
    order by global_position`;
  return { text, params };
}

function toStored(row: PageRow): StoredEvent {
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
