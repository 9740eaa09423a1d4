import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RecordedEvent } from '../../events/envelope.ts';
import { type AuditFilter, auditRecord, readOptions, walkTenantEvents } from '../audit.ts';
import type { Database } from '../db/database.ts';
import type { EventLog } from '../event-log.ts';
import { EVENT_COLUMNS, type EventRow, toStored } from '../event-store/postgres.ts';
import { SQL_ROW_FIELDS } from './render-plan.ts';
import { AuditRenderers, type RenderedChunk } from './renderers.ts';

/** What an export needs of SigID: the event log, and the database when the store lives in it. */
export interface AuditExportSource {
  db: Database;
  log: EventLog;
  /** The process's render workers (`sigid.auditRenderers`); without them an export starts and ends its own. */
  auditRenderers?: AuditRenderers;
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
  /**
   * Of those, how many the event log decoded on the main thread (personal data, older versions,
   * schemas the render plan does not cover); the render workers wrote the rest.
   */
  decodedInNode: number;
  /** Whether it ran to the end (false when stopped by the signal or a closed output). */
  complete: boolean;
}

/** Pages PostgreSQL reads at once, each on a session of its own. */
const PARALLEL_PAGES = 3;

/** Node-rendered events are decoded in slices this long, so a long export lets other requests in. */
const DECODE_SLICE = 256;

/**
 * Writes a tenant's audit log as NDJSON (one `auditRecord` per line, oldest first) to `out`, up to
 * the store's gap-free head as it was when the export began, waiting for `out` to drain so memory
 * stays flat. `out` is not ended: the caller owns it. The HTTP export and `sigid audit export` both
 * call this.
 *
 * On PostgreSQL and PGlite, PostgreSQL gives each page's rows as they are stored (no rendering) and
 * a worker thread (`renderers.ts`, `render-plan.ts`) writes most records, off PostgreSQL's core and
 * the main thread; events with personal data or stored at an older version are decoded by the event
 * log on the main thread (opened, upcast, validated) and written in their place in the order. On
 * EventStoreDB every record is rendered on the main thread.
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
    if (!(await write(out, chunk, options.signal))) return { records, decodedInNode: records, complete: false };
    records += events.length;
    options.onProgress?.((events[events.length - 1] as RecordedEvent).position, head);
  }
  return { records, decodedInNode: records, complete: !options.signal?.aborted };
}

/**
 * The page query's one row: the page's size, its last position, and its rows in position order
 * (`SQL_ROW_FIELDS`, `ROW`-separated), with `#<position>` in the place of a row that could not be split.
 */
interface PageRow {
  events: number;
  last_position: number | null;
  lines: string | null;
}

/** A page of the export: the events in positions `(from, to]`, at most `limit` of them, and its NDJSON. */
interface Range {
  from: number;
  to: number;
  row: Promise<PageRow | undefined>;
  chunk: Promise<RenderedChunk | undefined>;
}

async function exportAuditLogInSql(
  source: AuditExportSource,
  tenantId: string,
  filter: AuditFilter,
  out: Writable,
  options: AuditExportOptions,
): Promise<AuditExportResult> {
  const { log, db } = source;
  // The process's workers when they render this catalog; else workers of this export's own.
  const shared = source.auditRenderers?.catalog === log.catalog ? source.auditRenderers : undefined;
  const renderers = shared ?? new AuditRenderers(log.catalog);
  const tenantJson = JSON.stringify(tenantId);
  const head = await log.store.headPosition();
  const limit = Number.isSafeInteger(options.pageSize) ? Math.max(1, options.pageSize as number) : 2000;
  const { text, params } = pageQuery(readOptions(tenantId, filter), limit);
  const name = `sigid_audit_export_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
  const read = (from: number, to: number): Range => {
    const row = db.query<PageRow>(text, [...params, from, to], name).then((result) => result.rows[0]);
    // Each page goes to a worker as soon as PostgreSQL gives it, while earlier pages are written.
    const chunk = row.then((page) => (page?.lines ? renderers.render(page.lines, tenantJson) : undefined));
    return { from, to, row, chunk };
  };
  // PostgreSQL reads pages on several sessions at once while Node writes them in order; embedded
  // there is one session, so one page is read ahead.
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
  let decodedInNode = 0;
  fill();
  try {
    while (!options.signal?.aborted) {
      const range = queue.shift();
      if (!range) return { records, decodedInNode, complete: true };
      const page = await range.row;
      const events = page?.events ?? 0;
      const last = page?.last_position ?? range.to;
      // A full page may have left the rest of its range unread: that comes next, before the others.
      if (events === limit && last < range.to) queue.unshift(read(last, range.to));
      const covered = Math.max(1, (events === limit ? last : range.to) - range.from);
      span = Math.max(limit, Math.min(limit * 1024, Math.round((limit * covered) / Math.max(1, events))));
      fill();
      const chunk = await range.chunk;
      if (chunk) {
        decodedInNode += events - chunk.rendered;
        const bytes = 'bytes' in chunk ? chunk.bytes : await fillHoles(source, tenantId, chunk);
        if (!(await write(out, bytes, options.signal))) return { records, decodedInNode, complete: false };
      }
      records += events;
      options.onProgress?.(last, head);
    }
    return { records, decodedInNode, complete: false };
  } finally {
    // An export abandoned midway (client gone) must not leave failing reads unobserved.
    for (const range of queue) range.chunk.catch(() => {});
    if (!shared) await renderers.close();
  }
}

/**
 * A page's NDJSON when some of its events are the event log's to write (personal data opened with
 * the subject's key, older versions upcast, anything the plan does not cover): each decoded by the
 * event log, as the Node-rendered export does, and written in its place between the worker's segments.
 */
async function fillHoles(
  source: AuditExportSource,
  tenantId: string,
  chunk: { segments: string[]; holes: number[] },
): Promise<string> {
  const { rows: stored } = await source.db.query<EventRow>(
    `select ${EVENT_COLUMNS} from sigid_events where tenant_id = $1 and global_position = any($2::bigint[])`,
    [tenantId, chunk.holes],
  );
  const byPosition = new Map<number, EventRow>();
  for (const row of stored) byPosition.set(Number(row.global_position), row);
  let out = chunk.segments[0] ?? '';
  for (let index = 0; index < chunk.holes.length; index++) {
    if (index > 0 && index % DECODE_SLICE === 0) await yieldToEventLoop();
    const position = chunk.holes[index] as number;
    const row = byPosition.get(position);
    if (!row) throw new Error(`the export's event at ${position} is gone`);
    out += `${JSON.stringify(auditRecord(await source.log.decode(toStored(row))))}\n${chunk.segments[index + 1] ?? ''}`;
  }
  return out;
}

/**
 * One page of the tenant's events after position `$n-1` up to `$n` (never past the head), with the
 * same filters as `EventStore.readAll`, as one row: the rows' stored columns (`SQL_ROW_FIELDS`)
 * joined in position order, with `#<position>` in the place of a row whose text holds a separator.
 * PostgreSQL writes none of the record: the workers do.
 */
function pageQuery(filter: ReturnType<typeof readOptions>, limit: number): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const where = exportConditions(filter, (value) => {
    params.push(value);
    return `$${params.length}`;
  });
  where.push(`global_position > $${params.length + 1}::bigint`, `global_position <= $${params.length + 2}::bigint`);
  const text = `
    select count(*)::int as events, max(global_position) as last_position,
           string_agg(coalesce(line, '#' || global_position::text), E'\\x1e' order by global_position) as lines
    from (select global_position, ${SQL_ROW_FIELDS} as line from sigid_events where ${where.join(' and ')}
          order by global_position limit ${limit}) as page`;
  return { text, params };
}

/** The filter's conditions, each value written by `value` (a parameter). */
function exportConditions(
  filter: ReturnType<typeof readOptions>,
  value: (value: string | string[] | Date) => string,
): string[] {
  const where = [`tenant_id = ${value(filter.tenantId as string)}`];
  if (filter.types?.length) where.push(`event_type = any(${value([...filter.types])}::text[])`);
  if (filter.actorId !== undefined) where.push(`actor_id = ${value(filter.actorId)}`);
  if (filter.stream !== undefined) where.push(`stream_name = ${value(filter.stream)}`);
  if (filter.since !== undefined) where.push(`recorded_at >= ${value(filter.since)}::timestamptz`);
  if (filter.until !== undefined) where.push(`recorded_at < ${value(filter.until)}::timestamptz`);
  return where;
}

/** Writes `chunk`, waiting for `out` to drain; false when the export must stop (aborted, or `out` closed). */
async function write(out: Writable, chunk: string | Buffer, signal: AbortSignal | undefined): Promise<boolean> {
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
