/**
 * The API key check that runs on every tenant request: SigID's `verifyApiKey` (one kysely query
 * joining the sealed hash to its `api_keys` row, so a revoked key is refused by the event log, then
 * an AES-256-GCM open and a constant-time compare) against the check before the sealed-secrets
 * store (its `api_key_secrets` table, re-created here: one indexed `SELECT` of the bare hash by key
 * id, a SHA-256 and a compare; and the same as a prepared statement, for scale), over the same keys, 16 concurrent callers, alternating, median of BENCH_RUNS (≥ 5) runs. PostgreSQL.
 *
 * Scale: BENCH_API_KEY_CHECKS (checks per run), BENCH_API_KEYS (keys to pick from), BENCH_RUNS.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { issueApiKey } from '../services/api-keys.ts';
import { useCase } from '../services/context.ts';
import { createTenant } from '../services/tenants.ts';
import { parseKey, verifyApiKey } from '../src/credentials.ts';
import { newId } from '../src/ids.ts';
import {
  alternate,
  describeMachine,
  envInt,
  main,
  percentile,
  pool,
  reportMedians,
  reportRatio,
  type Sample,
  webhookBenchSigid,
} from './support.ts';

const CHECKS = envInt('BENCH_API_KEY_CHECKS', 20_000);
const KEYS = envInt('BENCH_API_KEYS', 200);
const CONCURRENCY = 16;

main(async () => {
  console.log(
    `API key check: ${CHECKS} checks per run over ${KEYS} keys, ${CONCURRENCY} callers; ${describeMachine()}`,
  );
  const sigid = await webhookBenchSigid('api_key_check', { SIGID_WEBHOOK_WORKER: 'false' });
  sigid.start();
  const actor = { type: 'system' as const, id: 'bench' };
  const tenant = await createTenant(
    sigid,
    { name: 'Bench', slug: 'bench-keys' },
    useCase({ tenantId: '', actor, correlationId: newId('req') }),
  );
  const tokens = [tenant.token];
  for (let index = 1; index < KEYS; index++) {
    const issued = await issueApiKey(
      sigid,
      `key ${index}`,
      useCase({ tenantId: tenant.tenantId, actor, correlationId: newId('req') }),
    );
    tokens.push(issued.token);
  }
  await sigid.projections.waitFor(await sigid.store.headPosition(), 60_000);
  const parsed = tokens.map((token) => {
    const key = parseKey(token);
    if (!key) throw new Error('unparseable key');
    return key;
  });

  // The table and query of the check before the store (`api_key_secrets`), with the same keys.
  const hash = (secret: string) => createHash('sha256').update(secret).digest();
  await sigid.db.query(
    'create table bench_api_key_secrets (key_id text primary key, tenant_id text not null, secret_hash bytea not null)',
  );
  for (const key of parsed) {
    await sigid.db.query('insert into bench_api_key_secrets values ($1, $2, $3)', [
      key.keyId,
      tenant.tenantId,
      hash(key.secret),
    ]);
  }
  await sigid.db.query('vacuum analyze bench_api_key_secrets');
  await sigid.db.query('vacuum analyze sealed_secrets');
  await sigid.db.query('vacuum analyze api_keys');

  const timed = async (check: (index: number) => Promise<boolean>): Promise<Sample> => {
    const latencies: number[] = [];
    const started = performance.now();
    await pool(CONCURRENCY, CHECKS, async (_worker, index) => {
      const at = performance.now();
      if (!(await check(index))) throw new Error('a valid key was refused');
      latencies.push(performance.now() - at);
    });
    return { rate: CHECKS / ((performance.now() - started) / 1000), p99: percentile(latencies, 99) };
  };

  const samples = await alternate('api key check', [
    {
      name: 'SigID verifyApiKey',
      run: () =>
        timed(async (index) => (await verifyApiKey(sigid.secrets, parsed[index % parsed.length]!)) === tenant.tenantId),
    },
    {
      name: 'bare SELECT of the hash',
      run: () =>
        timed(async (index) => {
          const key = parsed[index % parsed.length]!;
          const { rows } = await sigid.db.query<{ tenant_id: string; secret_hash: Uint8Array }>(
            'select tenant_id, secret_hash from bench_api_key_secrets where key_id = $1',
            [key.keyId],
          );
          const row = rows[0];
          const candidate = hash(key.secret);
          return row !== undefined && timingSafeEqual(Buffer.from(row.secret_hash), candidate);
        }),
    },
    {
      name: 'bare SELECT, prepared',
      run: () =>
        timed(async (index) => {
          const key = parsed[index % parsed.length]!;
          const { rows } = await sigid.db.query<{ tenant_id: string; secret_hash: Uint8Array }>(
            'select tenant_id, secret_hash from bench_api_key_secrets where key_id = $1',
            [key.keyId],
            'bench_bare_check',
          );
          const row = rows[0];
          return row !== undefined && timingSafeEqual(Buffer.from(row.secret_hash), hash(key.secret));
        }),
    },
  ]);
  reportMedians('api key check', samples);
  reportRatio({ label: 'API key check', samples, subject: 'SigID verifyApiKey', baseline: 'bare SELECT of the hash' });
});
