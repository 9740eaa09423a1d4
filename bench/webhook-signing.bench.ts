/**
 * Webhook signing throughput: SigID's `signedHeaders` (Standard Webhooks, node:crypto HMAC over a
 * cached KeyObject) against a bare `crypto.createHmac` with the same key over the same
 * `{id}.{timestamp}.{body}` strings, alternating, median of BENCH_RUNS (≥ 5) runs. Target ≥ 0.9×:
 * the hot path has no pure-JS SHA-256. For scale: `createHmac` handed the raw key Buffer each time
 * (OpenSSL 3 imports the key on every call, which is why SigID caches a KeyObject per secret) and
 * the `standardwebhooks` library's own pure-JS signer.
 *
 * Scale: BENCH_SIGNATURES (signatures per run), BENCH_RUNS.
 */
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { generateSecret, secretKey, signedHeaders } from '../src/webhooks/signature.ts';
import { describeMachine, envInt, formatRate, main, medianRate, RUNS, reportRatio, type Sample } from './support.ts';

const SIGNATURES = envInt('BENCH_SIGNATURES', 100_000);
/** Signing runs are short, so more alternating rounds than RUNS damp a busy machine's noise. */
const ROUNDS = Math.max(RUNS, envInt('BENCH_SIGNING_ROUNDS', 9));

/** Delivery bodies as the dispatcher sends them, from a small config change to a chunky one. */
function payloads(): Array<{ id: string; timestamp: number; body: string }> {
  const list = [];
  for (let index = 0; index < 64; index++) {
    const extra = 'x'.repeat((index % 8) * 256);
    list.push({
      id: `0193a1f0-${String(index).padStart(4, '0')}-7000-8000-${'0'.repeat(12)}`,
      timestamp: 1_795_000_000 + index,
      body: JSON.stringify({
        type: 'agent.anchor.verified',
        timestamp: new Date(1_795_000_000_000 + index).toISOString(),
        data: { agent_id: `agt_${index}`, anchor_id: `anc_${index}`, method: 'did:web', note: extra },
      }),
    });
  }
  return list;
}

main(async () => {
  console.log(`webhook signing: ${SIGNATURES} signatures per run, ${ROUNDS} runs; ${describeMachine()}`);
  const messages = payloads();
  const secret = generateSecret();
  const key = secretKey(secret);
  const keys = [key]; // the dispatcher holds each endpoint's keys, as here
  const rawKey = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const library = new Webhook(secret);
  let sink = 0;

  type Signer = { name: string; share: number; sign: (index: number) => string };
  const signers: Signer[] = [
    {
      name: 'SigID signedHeaders',
      share: 1,
      sign: (index) => {
        const message = messages[index % messages.length]!;
        return signedHeaders(keys, message.id, message.timestamp, message.body)['webhook-signature'];
      },
    },
    {
      name: 'raw crypto.createHmac',
      share: 1,
      sign: (index) => {
        const message = messages[index % messages.length]!;
        const mac = createHmac('sha256', key)
          .update(`${message.id}.${message.timestamp}.${message.body}`)
          .digest('base64');
        return `v1,${mac}`;
      },
    },
    {
      name: 'createHmac, Buffer key',
      share: 0.2,
      sign: (index) => {
        const message = messages[index % messages.length]!;
        const mac = createHmac('sha256', rawKey)
          .update(`${message.id}.${message.timestamp}.${message.body}`)
          .digest('base64');
        return `v1,${mac}`;
      },
    },
    {
      name: 'standardwebhooks (pure JS)',
      share: 0.2,
      sign: (index) => {
        const message = messages[index % messages.length]!;
        return library.sign(message.id, new Date(message.timestamp * 1000), message.body);
      },
    },
  ];

  /**
   * One run: the contenders take turns in slices of SLICE signatures (order rotating), each one's
   * time summed, so a busy machine's drift (this one shares 2 CPUs) lands on all of them alike.
   */
  const SLICE = 2_000;
  const run = (round: number) => {
    const spent = new Map<string, { ms: number; count: number }>(signers.map((s) => [s.name, { ms: 0, count: 0 }]));
    for (let slice = 0; slice * SLICE < SIGNATURES; slice++) {
      for (let turn = 0; turn < signers.length; turn++) {
        const signer = signers[(turn + slice + round) % signers.length]!;
        const count = Math.max(1, Math.round(SLICE * signer.share));
        const started = performance.now();
        for (let index = 0; index < count; index++) sink += signer.sign(slice * SLICE + index).length;
        const entry = spent.get(signer.name)!;
        entry.ms += performance.now() - started;
        entry.count += count;
      }
    }
    return spent;
  };
  run(0); // warm-up: let V8 optimise every contender before timing
  const samples = new Map<string, Sample[]>(signers.map((signer) => [signer.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const line: string[] = [];
    for (const [name, { ms, count }] of run(round)) {
      const rate = count / (ms / 1000);
      samples.get(name)!.push({ rate });
      line.push(`${name} ${Math.round(rate / 1000)}k/s`);
    }
    console.log(`  [signing] run ${round + 1}/${ROUNDS}: ${line.join(' | ')}`);
  }
  console.log(`  webhook signing: medians over ${ROUNDS} interleaved runs`);
  for (const [name, list] of samples) {
    console.log(`    ${name.padEnd(30)} ${formatRate(medianRate(list)).padStart(12)}`);
  }
  reportRatio({
    label: 'signing throughput',
    samples,
    subject: 'SigID signedHeaders',
    baseline: 'raw crypto.createHmac',
    target: 0.9,
  });
  reportRatio({
    label: 'vs pure-JS signer',
    samples,
    subject: 'SigID signedHeaders',
    baseline: 'standardwebhooks (pure JS)',
  });
  reportRatio({
    label: 'vs Buffer-keyed createHmac',
    samples,
    subject: 'SigID signedHeaders',
    baseline: 'createHmac, Buffer key',
  });
  console.log(`  (checksum ${sink})`);
});
