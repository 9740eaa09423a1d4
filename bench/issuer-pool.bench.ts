/**
 * The issuer pool's memory per tenant: BENCH_TENANTS tenants (default 1,000), each with its signing
 * keys (ES256 and RS256, next and active) and one application, then every tenant's issuer built in
 * the pool (`issuers.get(slug)`, what a tenant's first request does). Heap and RSS after a full GC, before and after; the difference divided by the tenants
 * is the pool's cost per tenant. Run with `node --expose-gc bench/issuer-pool.bench.ts`.
 */
import { createApplication } from '../services/applications.ts';
import { useCase } from '../services/context.ts';
import { ensureSigningKeys } from '../services/signing-keys.ts';
import { createTenant } from '../services/tenants.ts';
import { describeMachine, envInt, main, webhookBenchSigid } from './support.ts';

const TENANTS = envInt('BENCH_TENANTS', 1000);
const PARALLEL = 8;

function memory() {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;

main(async () => {
  if (!(globalThis as { gc?: unknown }).gc) throw new Error('run with node --expose-gc');
  console.log(`# issuer pool memory — ${describeMachine()}, ${TENANTS} tenants`);
  const sigid = await webhookBenchSigid('issuer_pool', { SIGID_WEBHOOK_WORKER: 'false' });
  sigid.start();
  const actor = { type: 'system' as const, id: 'bench' };
  const slugs: string[] = [];
  const started = performance.now();
  for (let from = 0; from < TENANTS; from += PARALLEL) {
    await Promise.all(
      Array.from({ length: Math.min(PARALLEL, TENANTS - from) }, async (_, offset) => {
        const slug = `pool-${from + offset}-${Date.now().toString(36)}`;
        const tenant = await createTenant(
          sigid,
          { name: `Pool ${from + offset}`, slug },
          useCase({ tenantId: 'platform', actor, correlationId: 'bench' }),
        );
        const context = useCase({ tenantId: tenant.tenantId, actor, correlationId: 'bench' });
        await ensureSigningKeys(sigid, tenant.tenantId, context);
        await createApplication(sigid, { kind: 'm2m', client_name: 'worker' }, context);
        slugs.push(slug);
      }),
    );
  }
  await sigid.projections.waitFor(await sigid.store.headPosition(), 300_000);
  console.log(
    `  made ${TENANTS} tenants with keys and an application in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );

  const before = memory();
  const building = performance.now();
  for (let from = 0; from < slugs.length; from += PARALLEL) {
    await Promise.all(
      slugs.slice(from, from + PARALLEL).map(async (slug) => {
        const entry = await sigid.issuers.get(slug);
        if (!entry) throw new Error(`no issuer for ${slug}`);
      }),
    );
  }
  const built = (performance.now() - building) / slugs.length;
  const after = memory();
  console.log(`  pool size ${sigid.issuers.size}; ${built.toFixed(1)} ms per issuer built`);
  console.log(`  heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)}, RSS ${mb(before.rss)} → ${mb(after.rss)}`);
  console.log(
    `RESULT issuer pool: ${kb((after.heapUsed - before.heapUsed) / TENANTS)} heap and ${kb((after.rss - before.rss) / TENANTS)} RSS per tenant's issuer (${TENANTS} loaded)`,
  );
});
