import { Router } from 'express';
import { z } from 'zod';
import { eventRecord, walkTenantEvents } from '../audit.ts';
import type { Sigid } from '../sigid.ts';
import { tenantOf } from './auth.ts';
import { streamNdjson } from './ndjson.ts';
import { parseQuery } from './validate.ts';

export const eventsQuery = z.strictObject({
  from_position: z.coerce.number().int().min(0).default(0),
  types: z.string().min(1).max(2000).optional(),
});

/**
 * `/api/v1/events`: the tenant's raw event stream for auditors, as NDJSON, from a global position
 * (exclusive) up to the head when the request arrived. Resume with the last position received.
 */
export function eventsRouter(sigid: Sigid): Router {
  const router = Router();
  router.get('/', async (request, response) => {
    const query = parseQuery(eventsQuery, request);
    const tenantId = tenantOf(response);
    const actions = query.types?.split(',').map((type) => type.trim());
    await streamNdjson(
      request,
      response,
      (signal) => walkTenantEvents(sigid.log, tenantId, { actions }, { after: query.from_position, signal }),
      eventRecord,
    );
  });
  return router;
}
