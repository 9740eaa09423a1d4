/**
 * Webhook dispatcher throughput: deliveries per second from the durable per-endpoint queue to a local
 * no-op receiver (204, keep-alive), with everything the dispatcher does per message (queue reads,
 * event read and decode, Standard Webhooks signing, SSRF-pinned POST, the attempt log and the
 * queue cursor), against a bare loop of POSTs of the same bodies and headers (signed once, up front)
 * to the same receiver at the same concurrency (one lane per endpoint). Alternating, median of
 * BENCH_RUNS (≥ 5). Target ≥ 0.8×.
 *
 * The queue is filled once (events appended, fanned out to every endpoint); before each dispatcher
 * run, untimed, the cursors go back to the start and the attempt log is emptied.
 *
 * Scale: BENCH_WEBHOOK_ENDPOINTS (lanes, default 16), BENCH_WEBHOOK_EVENTS (events, each delivered
 * to every endpoint; default 1500), BENCH_RUNS.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { webhookEndpointAggregate } from '../commands/webhook.ts';
import { handleCommand } from '../src/command-handler.ts';
import { streamName } from '../src/event-store/port.ts';
import { newId } from '../src/ids.ts';
import { WebhookDispatcher } from '../src/webhooks/dispatcher.ts';
import { WebhookFanout } from '../src/webhooks/fanout.ts';
import { storeWebhookSecret } from '../src/webhooks/secrets.ts';
import { WebhookSender } from '../src/webhooks/sender.ts';
import { generateSecret, secretKey, signedHeaders } from '../src/webhooks/signature.ts';
import { parseAllowlist } from '../src/webhooks/ssrf.ts';
import {
  alternate,
  type Contender,
  describeMachine,
  envInt,
  main,
  median,
  onCleanup,
  RUNS,
  reportMedians,
  reportRatio,
  webhookBenchSigid,
} from './support.ts';

const ENDPOINTS = envInt('BENCH_WEBHOOK_ENDPOINTS', 16);
const EVENTS = envInt('BENCH_WEBHOOK_EVENTS', 1500);
const DELIVERIES = ENDPOINTS * EVENTS;

/** The receiver: answers 204 at once and counts, resolving a waiter when the count reaches its target. */
async function noOpReceiver() {
  let count = 0;
  let waiter: { target: number; resolve: () => void } | undefined;
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(204).end();
      count++;
      if (waiter && count >= waiter.target) waiter.resolve();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    reset: () => {
      count = 0;
    },
    until: (target: number) =>
      new Promise<void>((resolve) => {
        if (count >= target) return resolve();
        waiter = { target, resolve };
      }),
  };
}

main(async () => {
  console.log(
    `webhook dispatch: ${ENDPOINTS} endpoints × ${EVENTS} events = ${DELIVERIES} deliveries per run, ${RUNS} runs; ${describeMachine()}`,
  );
  const receiver = await noOpReceiver();
  const sigid = await webhookBenchSigid('webhooks', { SIGID_WEBHOOK_WORKER: 'false' });

  // One tenant, ENDPOINTS endpoints subscribed to api_key.*, EVENTS api_key.created events.
  const tenantId = newId('ten');
  const context = { tenantId, actor: { type: 'system' as const, id: 'bench' }, correlationId: 'bench' };
  for (let index = 0; index < ENDPOINTS; index++) {
    const endpointId = newId('whk');
    const secretId = `whsec_bench_${index}`;
    await storeWebhookSecret(sigid.db, sigid.masterKey, { tenantId, endpointId, secretId, secret: generateSecret() });
    await handleCommand(
      sigid.log,
      webhookEndpointAggregate,
      endpointId,
      {
        type: 'create_endpoint',
        endpoint_id: endpointId,
        url: `${receiver.origin}/hooks/${index}`,
        event_types: ['api_key.*'],
        description: null,
        secret_id: secretId,
      },
      context,
    );
  }
  for (let index = 0; index < EVENTS; index++) {
    const keyId = newId('key');
    await sigid.log.append(
      streamName(tenantId, keyId),
      [{ type: 'api_key.created', data: { key_id: keyId, name: `Deploy key ${index} for the billing service` } }],
      'no_stream',
      context,
    );
  }
  const fanout = new WebhookFanout(sigid.db, sigid.log, { pollMs: 100, onEnqueued: () => {} });
  while (await fanout.step()) {}
  const { rows } = await sigid.db.query<{ count: number }>('select count(*)::int as count from webhook_messages');
  if (rows[0]?.count !== DELIVERIES) throw new Error(`expected ${DELIVERIES} queued messages, found ${rows[0]?.count}`);

  // The bodies the dispatcher sends, for the baseline to send the same bytes.
  const events = (await sigid.log.readAll({ tenantId, types: ['api_key.created'], limit: EVENTS + 10 })).events;
  const bodies = events.map((event) =>
    JSON.stringify({ type: event.type, timestamp: event.time.toISOString(), data: event.data }),
  );
  // …and the same headers, signed once up front: the baseline sends the very bytes, minus the work.
  const key = secretKey(generateSecret());
  const baselineHeaders = events.map((event, index) => ({
    ...signedHeaders([key], event.id, Math.floor(Date.now() / 1000), bodies[index] as string),
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(bodies[index] as string)),
    'user-agent': 'SigID-Webhooks/1',
  }));

  const allowlist = parseAllowlist('127.0.0.1');
  const contenders: Contender[] = [
    {
      name: 'SigID dispatcher',
      async before() {
        await sigid.db.query('truncate webhook_attempts');
        await sigid.db.query(
          'update webhook_subscriptions set delivered_seq = 0, head_attempts = 0, next_attempt_at = null, failing_since = null',
        );
        await sigid.db.query('vacuum analyze webhook_subscriptions');
        receiver.reset();
      },
      async run() {
        const sender = new WebhookSender({ allowlist });
        const dispatcher = new WebhookDispatcher(sigid.db, sigid.log, {
          sender,
          schedule: sigid.config.webhooks.retrySchedule,
          masterKey: sigid.masterKey,
          disableAfterMs: 3_600_000,
          pollMs: sigid.config.webhooks.pollMs,
          maxConcurrentEndpoints: ENDPOINTS,
          disableEndpoint: async () => {},
        });
        const started = performance.now();
        const cpu = process.cpuUsage();
        dispatcher.start();
        await receiver.until(DELIVERIES);
        const seconds = (performance.now() - started) / 1000;
        const used = process.cpuUsage(cpu);
        await dispatcher.stop();
        sender.close();
        return { rate: DELIVERIES / seconds, extra: { cpu: (used.user + used.system) / DELIVERIES } };
      },
    },
    {
      name: 'bare POST loop',
      before: async () => receiver.reset(),
      async run() {
        const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });
        const post = (path: string, index: number) =>
          new Promise<void>((resolve, reject) => {
            const request = http.request(`${receiver.origin}${path}`, {
              method: 'POST',
              agent,
              headers: baselineHeaders[index],
            });
            request.on('response', (response) => {
              response.resume();
              response.on('end', resolve);
            });
            request.on('error', reject);
            request.end(bodies[index]);
          });
        const started = performance.now();
        const cpu = process.cpuUsage();
        await Promise.all(
          Array.from({ length: ENDPOINTS }, async (_, lane) => {
            for (let index = 0; index < bodies.length; index++) await post(`/hooks/${lane}`, index);
          }),
        );
        const seconds = (performance.now() - started) / 1000;
        const used = process.cpuUsage(cpu);
        agent.destroy();
        return { rate: DELIVERIES / seconds, extra: { cpu: (used.user + used.system) / DELIVERIES } };
      },
    },
  ];
  // Warm-up, untimed: JIT, connection pools and keep-alive sockets, for both alike.
  for (const contender of contenders) {
    await contender.before?.();
    await contender.run(0);
  }
  const samples = await alternate('dispatch', contenders);
  reportMedians('webhook dispatch (deliveries/s)', samples);
  // CPU time of this process per delivery (receiver included, the same for both): less sensitive
  // than rates to what else the machine is running.
  for (const [name, list] of samples) {
    console.log(
      `    ${name.padEnd(34)} ${median(list.map((sample) => sample.extra?.cpu ?? 0)).toFixed(0)} µs CPU per delivery`,
    );
  }
  reportRatio({
    label: 'dispatcher deliveries/s',
    samples,
    subject: 'SigID dispatcher',
    baseline: 'bare POST loop',
    target: 0.8,
  });
});
