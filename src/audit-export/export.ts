import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RecordedEvent } from '../../events/envelope.ts';
import { type AuditFilter, auditRecord, readOptions, walkTenantEvents } from '../audit.ts';
import type { Database } from '../db/database.ts';
import type { EventLog } from '../event-log.ts';
import { EVENT_COLUMNS, type EventRow, toStored } from '../event-store/postgres.ts';
import { auditLineOf, ROW, sqlAuditFields } from './sql-data.ts';

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

/** Pages PostgreSQL renders at once, each on a session of its own. */
const PARALLEL_PAGES = 3;

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

/**
 * The page query's one row: the page's size, its last position, and its lines in position order,
 * PostgreSQL's rendered and, for each event left to Node, `#<position>` in its place.
 */
interface PageRow {
  events: number;
  last_position: number | null;
  left_to_node: number;
  lines: string | null;
}

/** A page of the export: the events in positions `(from, to]`, at most `limit` of them. */
interface Range {
  from: number;
  to: number;
  row: Promise<PageRow | undefined>;
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
  const limit = Number.isSafeInteger(options.pageSize) ? Math.max(1, options.pageSize as number) : 2000;
  const { text, params } = pageQuery(log.catalog, readOptions(tenantId, filter), limit);
  const name = `sigid_audit_export_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
  const read = (from: number, to: number): Range => ({
    from,
    to,
    row: db.query<PageRow>(text, [...params, from, to], name).then((result) => result.rows[0]),
  });
  // PostgreSQL renders pages on several sessions at once (one core each) while Node writes them in
  // order; embedded there is one session, so one page is read ahead.
  const ahead = db.kind === 'postgres' ? PARALLEL_PAGES : 1;
  const queue: Range[] = [];
  let issuedTo = 0;
  // Positions per page, adapted to how densely the tenant's (filtered) events lie in the store.
  let span = limit;
  const fill = () => {
    while (queue.length < ahead && issuedTo < head) {
      const to = Math.min(head, issuedTo + span);
      queue.push(read(issuedTo, to));
      issuedTo = to;
    }
  };

  let records = 0;
  let renderedInSql = 0;
  fill();
  try {
    while (!options.signal?.aborted) {
      const range = queue.shift();
      if (!range) return { records, renderedInSql, complete: true };
      const page = await range.row;
      const events = page?.events ?? 0;
      const last = page?.last_position ?? range.to;
      // A full page may have left the rest of its range unread: that comes next, before the others.
      if (events === limit && last < range.to) queue.unshift(read(last, range.to));
      const covered = Math.max(1, (events === limit ? last : range.to) - range.from);
      span = Math.max(limit, Math.min(limit * 1024, Math.round((limit * covered) / Math.max(1, events))));
      fill();
      const left = page?.left_to_node ?? 0;
      renderedInSql += events - left;
      const chunk = page?.lines ? await renderPage(source, tenantId, page.lines, left > 0) : '';
      if (chunk !== '' && !(await write(out, chunk, options.signal))) {
        return { records, renderedInSql, complete: false };
      }
      records += events;
      options.onProgress?.(last, head);
    }
    return { records, renderedInSql, complete: false };
  } finally {
    // An export abandoned midway (client gone) must not leave failing reads unobserved.
    for (const range of queue) range.row.catch(() => {});
  }
}

/**
 * A page's NDJSON: each row PostgreSQL gave as fields written as its record (`auditLineOf`), and each
 * `#<position>` placeholder replaced by the record Node renders for that event (opened, upcast,
 * validated by the event log), in its place.
 */
async function renderPage(
  source: AuditExportSource,
  tenantId: string,
  rows: string,
  leftToNode: boolean,
): Promise<string> {
  const tenantJson = JSON.stringify(tenantId);
  const lines = rows.split(ROW);
  const byPosition = new Map<number, EventRow>();
  if (leftToNode) {
    const positions = lines.filter((line) => line.startsWith('#')).map((line) => Number(line.slice(1)));
    const { rows: stored } = await source.db.query<EventRow>(
      `select ${EVENT_COLUMNS} from sigid_events where tenant_id = $1 and global_position = any($2::bigint[])`,
      [tenantId, positions],
    );
    for (const row of stored) byPosition.set(Number(row.global_position), row);
  }
  let decoded = 0;
  let out = '';
  for (const line of lines) {
    if (!line.startsWith('#')) {
      out += `${auditLineOf(line, tenantJson)}\n`;
      continue;
    }
    if (++decoded % DECODE_SLICE === 0) await yieldToEventLoop();
    const row = byPosition.get(Number(line.slice(1)));
    if (!row) throw new Error(`the export's event at ${line.slice(1)} is gone`);
    out += `${JSON.stringify(auditRecord(await source.log.decode(toStored(row))))}\n`;
  }
  return out;
}

/**
 * One page of the tenant's events after position `$n-1` up to `$n` (never past the head), with the
 * same filters as `EventStore.readAll`, as one row: the lines PostgreSQL rendered joined in position
 * order, with `#<position>` in the place of each event it left to Node. (A line PostgreSQL renders
 * starts with `{`.) Nothing but the line and the position leaves the scan.
 */
function pageQuery(
  catalog: EventLog['catalog'],
  filter: ReturnType<typeof readOptions>,
  limit: number,
): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const { line, where } = exportSelection(catalog, filter, (value) => {
    params.push(value);
    return `$${params.length}`;
  });
  where.push(`global_position > $${params.length + 1}::bigint`, `global_position <= $${params.length + 2}::bigint`);
  const text = `
    select count(*)::int as events, max(global_position) as last_position,
           (count(*) filter (where line is null))::int as left_to_node,
           string_agg(coalesce(line, '#' || global_position::text), E'\\x1e' order by global_position) as lines
    from (select global_position, ${line} as line from sigid_events where ${where.join(' and ')}
          order by global_position limit ${limit}) as page`;
  return { text, params };
}

/** The rendered line and the filter's conditions, each value written by `value` (a parameter or a literal). */
function exportSelection(
  catalog: EventLog['catalog'],
  filter: ReturnType<typeof readOptions>,
  value: (value: string | string[] | Date) => string,
): { line: string; where: string[] } {
  const where = [`tenant_id = ${value(filter.tenantId as string)}`];
  const line = sqlAuditFields(catalog);
  if (filter.types?.length) where.push(`event_type = any(${value([...filter.types])}::text[])`);
  if (filter.actorId !== undefined) where.push(`actor_id = ${value(filter.actorId)}`);
  if (filter.stream !== undefined) where.push(`stream_name = ${value(filter.stream)}`);
  if (filter.since !== undefined) where.push(`recorded_at >= ${value(filter.since)}::timestamptz`);
  if (filter.until !== undefined) where.push(`recorded_at < ${value(filter.until)}::timestamptz`);
  return { line, where };
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
