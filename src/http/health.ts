import { Router } from 'express';
import type { Sigid } from '../sigid.ts';
import { noQuery, parseQuery } from './validate.ts';

/** `/healthz`: the process is up. `/readyz`: it can serve — event store, database, projections caught up. */
export function healthRouter(sigid: Sigid): Router {
  const router = Router();
  router.get('/healthz', (request, response) => {
    parseQuery(noQuery, request);
    response.json({ status: 'ok' });
  });
  router.get('/readyz', async (request, response) => {
    parseQuery(noQuery, request);
    const checks: Record<string, { ok: boolean; detail?: string; lag?: number }> = {};
    const check = async (name: string, probe: () => Promise<Partial<(typeof checks)[string]> | undefined>) => {
      try {
        checks[name] = { ok: true, ...(await probe()) };
      } catch {
        checks[name] = { ok: false, detail: `${name} is unreachable` };
      }
    };
    await check('database', async () => {
      await sigid.db.query('select 1');
      return undefined;
    });
    await check('event_store', async () => {
      await sigid.store.ping();
      return undefined;
    });
    await check('projections', async () => {
      const statuses = await sigid.projections.status();
      const lag = Math.max(0, ...statuses.map((status) => status.lag));
      return lag <= sigid.config.readyMaxLag
        ? { lag }
        : { ok: false, lag, detail: `projections are ${lag} events behind` };
    });
    const ready = Object.values(checks).every((entry) => entry.ok);
    response.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  });
  return router;
}
