/**
 * Audit export: `GET /api/v1/audit-logs/export` (NDJSON) of one tenant's N events, on a real listening
 * SigID server with the tenant's own API key, against `COPY (select ...) TO STDOUT` of the same rows
 * through psql (target ≥ 0.5×), and against the export with every record rendered in Node (the code
 * before records were rendered in SQL; what EventStoreDB still uses), served by the same process.
 *
 * During every export a client in a process of its own sends `GET /healthz` to the server every 10 ms
 * and reports the latencies' p50/p99/max: how much the export holds up the API's event loop. The
 * server's RSS is sampled every 20 ms during each export and printed at 10%, 50% and 100% of the
 * lines received: it should stay flat however long the export.
 *
 * Seeding: the tenant and its key through the API; then one `INSERT ... SELECT generate_series`
 * straight into `sigid_events` and `sigid_streams`, the tenant's N events interleaved with N/4 of
 * other tenants' events, then VACUUM ANALYZE.
 *
 * Scale: BENCH_EVENTS (default 1,000,000), BENCH_RUNS.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { apiKeyEvents } from '../events/api-key.ts';
import { EventCatalog } from '../events/catalog.ts';
import { reservationEvents } from '../events/reservation.ts';
import { subjectEvents } from '../events/subject.ts';
import { tenantEvents } from '../events/tenant.ts';
import { exportAuditLogInNode } from '../src/audit-export/export.ts';
import { loadConfig } from '../src/config.ts';
import { createApp } from '../src/http/app.ts';
import { streamNdjsonFrom } from '../src/http/ndjson.ts';
import { createSigid } from '../src/sigid.ts';
import {
  alternate,
  benchRecorded,
  describeMachine,
  envInt,
  formatRate,
  main,
  median,
  onCleanup,
  percentile,
  RUNS,
  reportMedians,
  reportRatio,
  scratchDatabase,
} from './support.ts';

const EVENTS = envInt('BENCH_EVENTS', 1_000_000);
const OTHER_EVENTS = Math.floor(EVENTS / 4);
const STREAMS = envInt('BENCH_STREAMS', 20_000);
const SEED_CHUNK = 100_000;
const OPERATOR_KEY = randomBytes(24).toString('hex');

const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;

/**
 * A `GET /healthz` every 10 ms from a process of its own (so that its own work does not sit on the
 * event loop it measures) until its stdin closes; then it prints the latencies in ms as JSON.
 */
const HEALTHZ_PROBE = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const latencies = [];
let stopping = false;
process.stdin.on('end', () => { stopping = true; });
process.stdin.resume();
function probe() {
  if (stopping) { process.stdout.write(JSON.stringify(latencies)); return; }
  const started = performance.now();
  http.get(process.argv[1], { agent }, (response) => {
    response.resume();
    response.on('end', () => {
      latencies.push(performance.now() - started);
      setTimeout(probe, Math.max(0, 10 - (performance.now() - started)));
    });
  }).on('error', (error) => { console.error(error); process.exit(1); });
}
probe();`;

/** Starts the healthz probe; `stop()` resolves to its latencies. */
function probeHealthz(url: string): { stop: () => Promise<number[]> } {
  const child = spawn(process.execPath, ['-e', HEALTHZ_PROBE, url], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    async stop() {
      child.stdin.end();
      await exited;
      return JSON.parse(output) as number[];
    },
  };
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

main(async () => {
  console.log(
    `# audit export benchmark — ${describeMachine()}, ${RUNS} alternating runs per contender, medians quoted`,
  );
  const { url, name } = await scratchDatabase('audit');
  console.log(`  scratch database ${name}`);
  const config = loadConfig(
    {},
    {
      port: 0,
      databaseUrl: url,
      dataDir: undefined,
      operatorKey: OPERATOR_KEY,
      masterKey: randomBytes(32).toString('base64'),
      logLevel: 'silent',
    },
  );
  const sigid = await createSigid(config, {
    logger: pino({ level: 'silent' }),
    catalog: new EventCatalog([
      ...tenantEvents,
      ...apiKeyEvents,
      ...subjectEvents,
      ...reservationEvents,
      benchRecorded,
    ]),
  });
  onCleanup(() => sigid.close());
  sigid.start();
  const server = createApp(sigid).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const created = await fetch(`${base}/api/v1/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Audited', slug: `bench-${randomBytes(3).toString('hex')}` }),
  });
  if (created.status !== 201) throw new Error(`creating the tenant: ${created.status} ${await created.text()}`);
  const { tenant, api_key: apiKey } = (await created.json()) as { tenant: { id: string }; api_key: { key: string } };

  // Seed: the tenant's events, every fifth event of the store another tenant's.
  const started = performance.now();
  const total = EVENTS + OTHER_EVENTS;
  for (let from = 0; from < total; from += SEED_CHUNK) {
    const to = Math.min(total, from + SEED_CHUNK) - 1;
    await sigid.db.query(
      `insert into sigid_events (event_id, stream_name, stream_revision, tenant_id, event_type, event_version, data,
                                 actor_type, actor_id, correlation_id, causation_id, recorded_at)
       select gen_random_uuid(), t.tenant || '-usr_bench_' || (i % $2), i / $2, t.tenant, 'bench.recorded', 1,
              jsonb_build_object('n', i, 'user_id', 'usr_bench_' || (i % $2),
                                 'changes', jsonb_build_object('name', 'User ' || i, 'locale', 'en-GB'),
                                 'reason', 'profile updated through the admin API'),
              'api_key', 'key_bench', gen_random_uuid()::text, null, now() - make_interval(secs => ($4 - i) / 1000.0)
       from generate_series($1::bigint, $5::bigint) as i,
            lateral (select case when i % 5 = 4 and $6 > 0 then 'tnt_other_' || (i % 7) else $3 end as tenant) as t`,
      [from, STREAMS, tenant.id, total, to, OTHER_EVENTS],
    );
    process.stdout.write(`\r  seeding: ${to + 1}/${total} events`);
  }
  await sigid.db.query(
    `insert into sigid_streams (stream_name, tenant_id, revision)
     select stream_name, min(tenant_id), max(stream_revision) from sigid_events where event_type = 'bench.recorded'
     group by stream_name`,
  );
  await sigid.db.query('vacuum analyze');
  const { rows } = await sigid.db.query<{ count: number }>(
    'select count(*)::int8 as count from sigid_events where tenant_id = $1',
    [tenant.id],
  );
  const lines = rows[0]?.count ?? 0;
  console.log(
    `\r  seeded ${total} events (${lines} of the exported tenant, the rest of 7 others) in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  // The projections read past the seeded events (none is theirs) before anything is timed.
  if (!(await sigid.projections.waitFor(await sigid.store.headPosition(), 300_000))) {
    throw new Error('projections did not settle');
  }
  // So does the webhook fan-out: nothing but the export may be running while it is timed.
  const head = await sigid.store.headPosition();
  const settleBy = Date.now() + 300_000;
  while ((await sigid.webhooks.fanout.checkpoint()) < head) {
    if (Date.now() > settleBy) throw new Error('the webhook fan-out did not settle');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const copy = {
    name: 'COPY TO STDOUT (psql)',
    async run() {
      const t0 = performance.now();
      const child = spawn(
        'psql',
        [
          url,
          '-X',
          '-q',
          '-c',
          `copy (select global_position, event_id, stream_name, stream_revision, tenant_id, event_type, event_version,
                        data, actor_type, actor_id, correlation_id, causation_id, recorded_at
                 from sigid_events where tenant_id = '${tenant.id}' order by global_position) to stdout`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let count = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) count++;
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      if (code !== 0 || count !== lines) throw new Error(`psql exited ${code} after ${count}/${lines} rows`);
      return { rate: count / ((performance.now() - t0) / 1000) };
    },
  };

  // The export as it was before records were rendered in SQL, on a port of its own in the same process.
  const nodeApp = express();
  nodeApp.get('/export', (request, response) =>
    streamNdjsonFrom(request, response, (out, signal) =>
      exportAuditLogInNode(sigid.log, tenant.id, {}, out, { signal }),
    ),
  );
  const nodeServer = nodeApp.listen(0, '127.0.0.1');
  await new Promise((resolve) => nodeServer.once('listening', resolve));
  onCleanup(() => new Promise<void>((resolve) => nodeServer.close(() => resolve())));
  const nodeBase = `http://127.0.0.1:${(nodeServer.address() as AddressInfo).port}`;

  const rssTable: string[] = [];
  const healthz = new Map<string, number[][]>();
  /** An export through curl (a process of its own, as psql is for the baseline), with RSS and healthz. */
  const exporter = (name: string, url: string, headers: string[]) => ({
    name,
    async run(round: number) {
      global.gc?.();
      const before = process.memoryUsage.rss();
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage.rss());
      }, 20);
      const marks: string[] = [];
      const checkpoints = [0.1, 0.5, 1];
      const probe = probeHealthz(`${base}/healthz`);
      try {
        const t0 = performance.now();
        const child = spawn('curl', ['-sSfN', ...headers, url], { stdio: ['ignore', 'pipe', 'inherit'] });
        let count = 0;
        for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
          for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) count++;
          while (checkpoints.length > 0 && count >= (checkpoints[0] as number) * lines) {
            const rss = process.memoryUsage.rss();
            peak = Math.max(peak, rss);
            marks.push(
              `${Math.round((checkpoints.shift() as number) * 100)}%: RSS ${mb(rss)} (peak so far ${mb(peak)})`,
            );
          }
        }
        const code = await new Promise<number | null>((resolve) => {
          if (child.exitCode !== null) resolve(child.exitCode);
          else child.on('close', resolve);
        });
        if (code !== 0) throw new Error(`curl exited ${code}`);
        const seconds = (performance.now() - t0) / 1000;
        if (count !== lines) throw new Error(`export gave ${count} lines, expected ${lines}`);
        const latencies = await probe.stop();
        healthz.set(name, [...(healthz.get(name) ?? []), latencies]);
        rssTable.push(`${name} run ${round + 1}: before ${mb(before)}; ${marks.join('; ')}; peak ${mb(peak)}`);
        return { rate: count / seconds, p99: percentile(latencies, 99), extra: { peakRss: peak } };
      } finally {
        clearInterval(sampler);
        await probe.stop().catch(() => []);
      }
    },
  });
  const sqlExporter = exporter('SigID GET /api/v1/audit-logs/export', `${base}/api/v1/audit-logs/export`, [
    '-H',
    `authorization: Bearer ${apiKey.key}`,
  ]);
  const nodeExporter = exporter('export rendered in Node (before)', `${nodeBase}/export`, []);

  // Untimed warm-up: caches, plans, JIT.
  await copy.run();
  const idle = probeHealthz(`${base}/healthz`);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const idleLatencies = await idle.stop();

  console.log(`\n## Exporting ${lines} events of one tenant (the store holds ${total})`);
  const samples = await alternate('audit export', [sqlExporter, copy, nodeExporter]);
  reportMedians('exported events/s (p99: GET /healthz during the export)', samples);
  console.log('  server process RSS during each export (the client is curl, in its own process):');
  for (const line of rssTable) console.log(`    ${line}`);
  for (const contender of [sqlExporter, nodeExporter]) {
    const peaks = (samples.get(contender.name) ?? []).map((sample) => sample.extra?.peakRss ?? 0);
    console.log(`  peak RSS over all exports, ${contender.name}: ${mb(Math.max(...peaks))}`);
  }
  console.log('  GET /healthz every 10 ms from another process:');
  console.log(
    `    idle (3 s, no export): p50 ${ms(percentile(idleLatencies, 50))}, p99 ${ms(percentile(idleLatencies, 99))}, max ${ms(Math.max(...idleLatencies))}`,
  );
  for (const [name, runs] of healthz) {
    const per = runs.map((latencies) => `${ms(percentile(latencies, 99))}`).join(', ');
    console.log(
      `    during ${name}: median p50 ${ms(median(runs.map((l) => percentile(l, 50))))}, median p99 ${ms(median(runs.map((l) => percentile(l, 99))))} (p99 per run: ${per}), max ${ms(Math.max(...runs.flat()))}`,
    );
  }
  reportRatio({
    label: 'audit export vs COPY TO STDOUT',
    samples,
    subject: sqlExporter.name,
    baseline: copy.name,
    target: 0.5,
  });
  reportRatio({
    label: 'export rendered in Node (before) vs COPY TO STDOUT',
    samples,
    subject: nodeExporter.name,
    baseline: copy.name,
  });
  console.log(`  (${formatRate(lines)} = one export per second)`);
});
