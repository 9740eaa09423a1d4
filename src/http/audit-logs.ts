import { Router } from 'express';
import { z } from 'zod';
import { type AuditFilter, auditRecord, readOptions } from '../audit.ts';
import { exportAuditLog } from '../audit-export/export.ts';
import { ValidationError } from '../errors.ts';
import type { Sigid } from '../sigid.ts';
import { tenantOf } from './auth.ts';
import { streamNdjsonFrom } from './ndjson.ts';
import { parseQuery } from './validate.ts';

const filterShape = {
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  actor: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(2000).optional(),
  target: z.string().min(1).max(200).optional(),
};

export const listQuery = z.strictObject({
  ...filterShape,
  limit: z.coerce.number().int().min(1).max(200).default(50),
  order: z.enum(['desc', 'asc']).default('desc'),
  starting_after: z.string().max(100).optional(),
  ending_before: z.string().max(100).optional(),
});

export const exportQuery = z.strictObject(filterShape);

function toFilter(query: z.infer<typeof exportQuery>): AuditFilter {
  const since = query.since ? new Date(query.since) : undefined;
  const until = query.until ? new Date(query.until) : undefined;
  if (since && until && since >= until) throw new ValidationError('`since` must be before `until`.');
  return {
    since,
    until,
    actorId: query.actor,
    actions: query.action?.split(',').map((action) => action.trim()),
    targetId: query.target,
  };
}

/** Cursors are opaque to clients; inside they are a global position. */
export const encodeCursor = (position: number) => Buffer.from(`p${position}`).toString('base64url');
export function decodeCursor(cursor: string): number {
  const match = /^p(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new ValidationError('The cursor is not one this API returned.');
  return Number(match[1]);
}

/**
 * `/api/v1/audit-logs`: the tenant's own events, read straight off the event stream (no copy that
 * could drift), filtered, paged by cursor in either direction, and exported as NDJSON.
 */
export function auditLogsRouter(sigid: Sigid): Router {
  const router = Router();

  router.get('/', async (request, response) => {
    const query = parseQuery(listQuery, request);
    if (query.starting_after && query.ending_before) {
      throw new ValidationError('Send `starting_after` or `ending_before`, not both.');
    }
    const tenantId = tenantOf(response);
    const base = readOptions(tenantId, toFilter(query));
    const newestFirst = query.order === 'desc';
    // Paging towards the end of the order, or back towards its start.
    const backTowardsStart = query.ending_before !== undefined;
    const cursor =
      query.starting_after !== undefined
        ? decodeCursor(query.starting_after)
        : query.ending_before !== undefined
          ? decodeCursor(query.ending_before)
          : undefined;
    const readBackwards = newestFirst !== backTowardsStart;
    const page = await sigid.log.readAll({
      ...base,
      direction: readBackwards ? 'backwards' : 'forwards',
      ...(cursor !== undefined ? (readBackwards ? { before: cursor } : { after: cursor }) : {}),
      limit: query.limit + 1,
    });
    const more = page.events.length > query.limit;
    const events = page.events.slice(0, query.limit);
    if (backTowardsStart) events.reverse();
    const first = events[0];
    const last = events[events.length - 1];
    response.json({
      object: 'list',
      data: events.map(auditRecord),
      // has_more: whether more entries lie beyond this page in the direction it was paged.
      has_more: more,
      next_cursor: last && (backTowardsStart || more) ? encodeCursor(last.position) : null,
      previous_cursor: first && (backTowardsStart ? more : cursor !== undefined) ? encodeCursor(first.position) : null,
    });
  });

  router.get('/export', async (request, response) => {
    const filter = toFilter(parseQuery(exportQuery, request));
    const tenantId = tenantOf(response);
    await streamNdjsonFrom(request, response, (out, signal) =>
      exportAuditLog(sigid, tenantId, filter, out, { signal }),
    );
  });

  return router;
}
