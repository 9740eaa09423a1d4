/**
 * Webhook latency: from an event's append (the moment `EventLog.append` returns, committed) to its
 * receipt by a local receiver, p50 and p99, with events appended at a steady BENCH_WEBHOOK_RATE
 * (default 200/s) for BENCH_WEBHOOK_SECONDS (default 10) through the whole path: the fan-out's
 * catch-up subscription (woken by the store's append notification), the durable queue, the
 * dispatcher, signing and the POST. Target: p99 under 1 s.
 *
 * Baseline, alternating in the same run: the floor, the appender POSTing each event itself right
 * after the append (what a synchronous, non-durable in-request webhook would cost). Median of
 * BENCH_RUNS (≥ 5) runs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { webhookEndpointAggregate } from '../commands/webhook.ts';
import { handleCommand } from '../src/command-handler.ts';
import { streamName } from '../src/event-store/port.ts';
import { newId } from '../src/ids.ts';
import { storeWebhookSecret } from '../src/webhooks/secrets.ts';
import { generateSecret } from '../src/webhooks/signature.ts';
import {
  alternate,
  type Contender,
  describeMachine,
  envInt,
  formatMs,
  main,
  median,
  onCleanup,
  percentile,
  RUNS,
  type Sample,
  webhookBenchSigid,
} from './support.ts';

const RATE = envInt('BENCH_WEBHOOK_RATE', 200);
const SECONDS = envInt('BENCH_WEBHOOK_SECONDS', 10);
const EVENTS = RATE * SECONDS;

main(async () => {
  console.log(`webhook latency: ${EVENTS} events at ${RATE}/s per run, ${RUNS} runs; ${describeMachine()}`);
  // Receipt times by key id, which each event's data carries.
  const received = new Map<string, number>();
  let onReceipt: (() => void) | undefined;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const at = performance.now();
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { data: { key_id: string } };
      if (!received.has(body.data.key_id)) received.set(body.data.key_id, at);
      response.writeHead(204).end();
      onReceipt?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;

  const sigid = await webhookBenchSigid('webhook_latency', { SIGID_WEBHOOK_POLL_MS: '1000' });
  sigid.start();

  const tenantId = newId('ten');
  const context = { tenantId, actor: { type: 'system' as const, id: 'bench' }, correlationId: 'bench' };
  const endpointId = newId('whk');
  await storeWebhookSecret(sigid.db, sigid.masterKey, {
    tenantId,
    endpointId,
    secretId: 'whsec_bench',
    secret: generateSecret(),
  });
  await handleCommand(
    sigid.log,
    webhookEndpointAggregate,
    endpointId,
    {
      type: 'create_endpoint',
      endpoint_id: endpointId,
      url: receiverUrl,
      event_types: ['api_key.*'],
      description: null,
      secret_id: 'whsec_bench',
    },
    context,
  );

  const agent = new http.Agent({ keepAlive: true });
  const post = (body: string) =>
    new Promise<void>((resolve, reject) => {
      const request = http.request(receiverUrl, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      request.on('response', (response) => {
        response.resume();
        response.on('end', resolve);
      });
      request.on('error', reject);
      request.end(body);
    });

  /** Appends EVENTS api_key.created events at RATE/s; `after` runs once each append has returned. */
  async function run(
    tenant: string,
    after: (keyId: string, appendedAt: number) => void | Promise<void>,
  ): Promise<Sample> {
    received.clear();
    const appended = new Map<string, number>();
    const started = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let index = 0; index < EVENTS; index++) {
      const due = started + (index * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const keyId = newId('key');
      inFlight.push(
        sigid.log
          .append(
            streamName(tenant, keyId),
            [{ type: 'api_key.created', data: { key_id: keyId, name: `latency ${index}` } }],
            'no_stream',
            { ...context, tenantId: tenant },
          )
          .then(async () => {
            const at = performance.now();
            appended.set(keyId, at);
            await after(keyId, at);
          }),
      );
    }
    await Promise.all(inFlight);
    const offered = EVENTS / ((performance.now() - started) / 1000);
    await new Promise<void>((resolve) => {
      const check = () => {
        if (appended.size === EVENTS && [...appended.keys()].every((keyId) => received.has(keyId))) {
          onReceipt = undefined;
          resolve();
        }
      };
      onReceipt = check;
      check();
    });
    const latencies = [...appended].map(([keyId, at]) => (received.get(keyId) as number) - at);
    return {
      rate: offered,
      p99: percentile(latencies, 99),
      extra: { p50: percentile(latencies, 50), max: Math.max(...latencies) },
    };
  }

  const contenders: Contender[] = [
    { name: 'SigID stream → webhook', run: () => run(tenantId, () => {}) },
    {
      name: 'append, then POST inline',
      // Another tenant, with no endpoint: the worker delivers none of these.
      run: () =>
        run(newId('ten'), (keyId) =>
          post(
            JSON.stringify({ type: 'api_key.created', timestamp: new Date().toISOString(), data: { key_id: keyId } }),
          ),
        ),
    },
  ];
  const samples = await alternate('latency', contenders);
  for (const [name, list] of samples) {
    const p50 = median(list.map((sample) => sample.extra?.p50 ?? Number.NaN));
    const p99 = median(list.map((sample) => sample.p99 ?? Number.NaN));
    const max = median(list.map((sample) => sample.extra?.max ?? Number.NaN));
    console.log(
      `    ${name.padEnd(30)} p50 ${formatMs(p50).padStart(9)}   p99 ${formatMs(p99).padStart(9)}   max ${formatMs(max)}`,
    );
  }
  const p99 = median((samples.get('SigID stream → webhook') ?? []).map((sample) => sample.p99 ?? Number.NaN));
  console.log(
    `RESULT webhook latency append → receipt at ${RATE} events/s: p99 ${formatMs(p99)} (target < 1 s: ${p99 < 1000 ? 'MET' : 'MISSED'})`,
  );
  agent.destroy();
});
