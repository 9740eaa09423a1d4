/**
 * What every benchmark shares: scratch databases, env-scaled parameters, alternating runs, medians
 * and the printed report. Benchmarks print figures; they never assert a time.
 */
import { randomBytes } from 'node:crypto';
import type { RequestListener } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, freemem, totalmem } from 'node:os';
import { sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { z } from 'zod';
import { defineEvent } from '../events/envelope.ts';
import { loadConfig } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';

/** The PostgreSQL server benchmarks create their scratch databases on. */
export const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** An integer parameter from the environment (`1_000_000` and `1e6` accepted). */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return Math.round(value);
}

/** Runs per contender; the brief asks for at least five. */
export const RUNS = envInt('BENCH_RUNS', 5);

const cleanups: Array<() => Promise<void>> = [];
let exiting = false;

/** Registers work to run at exit, on success, on failure and on Ctrl-C alike (last registered runs first). */
export function onCleanup(work: () => Promise<void>): void {
  cleanups.push(work);
}

export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const work = cleanups.pop() as () => Promise<void>;
    await work().catch((error: unknown) => console.error('cleanup failed:', error));
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (exiting) return;
    exiting = true;
    console.error(`\n${signal}: dropping benchmark databases…`);
    cleanupAll().finally(() => process.exit(130));
  });
}

/** Runs a benchmark's main function, always cleaning up, and sets the exit code. */
export function main(run: () => Promise<void>): void {
  run()
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    })
    .finally(async () => {
      await cleanupAll();
    });
}

/** A fresh, empty database `sigid_bench_{label}_{random}` on the server, dropped at cleanup. */
export async function scratchDatabase(label: string): Promise<{ name: string; url: string }> {
  const name = `sigid_bench_${label}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  onCleanup(async () => {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    try {
      await cleanup.query(`drop database if exists ${name} with (force)`);
    } finally {
      await cleanup.end();
    }
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The nearest-rank percentile (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** One timed run of one contender. */
export interface Sample {
  /** Events handled per second. */
  rate: number;
  /** p99 latency of one operation in ms, when the run measured it. */
  p99?: number;
  /** Anything else worth printing for the run. */
  extra?: Record<string, number>;
}

export interface Contender {
  name: string;
  /** Untimed set-up before each timed run (e.g. resetting a checkpoint). */
  before?: () => Promise<void>;
  run: (round: number) => Promise<Sample>;
}

/**
 * Runs every contender `runs` times, alternating: round r runs them all, and the order rotates each
 * round so that no contender always goes first (or always follows the same one) while the machine drifts.
 */
export async function alternate(
  title: string,
  contenders: readonly Contender[],
  runs = RUNS,
): Promise<Map<string, Sample[]>> {
  const samples = new Map<string, Sample[]>(contenders.map((contender) => [contender.name, []]));
  for (let round = 0; round < runs; round++) {
    const order = contenders.map((_, index) => contenders[(index + round) % contenders.length] as Contender);
    const line: string[] = [];
    for (const contender of order) {
      await contender.before?.();
      const sample = await contender.run(round);
      samples.get(contender.name)?.push(sample);
      line.push(
        `${contender.name} ${formatRate(sample.rate)}${sample.p99 === undefined ? '' : ` p99 ${formatMs(sample.p99)}`}`,
      );
    }
    console.log(`  [${title}] run ${round + 1}/${runs}: ${line.join(' | ')}`);
  }
  return samples;
}

export function formatRate(rate: number): string {
  if (rate >= 100_000) return `${Math.round(rate / 1000)}k ev/s`;
  if (rate >= 10_000) return `${(rate / 1000).toFixed(1)}k ev/s`;
  return `${Math.round(rate)} ev/s`;
}

export function formatMs(ms: number): string {
  return ms >= 100 ? `${Math.round(ms)} ms` : `${ms.toFixed(ms >= 10 ? 1 : 2)} ms`;
}

export function medianRate(samples: readonly Sample[]): number {
  return median(samples.map((sample) => sample.rate));
}

export function medianP99(samples: readonly Sample[]): number | undefined {
  const values = samples.flatMap((sample) => (sample.p99 === undefined ? [] : [sample.p99]));
  return values.length === 0 ? undefined : median(values);
}

/** Prints one comparison: each contender's median figure and the ratio of `subject` to `baseline`. */
export function reportRatio(options: {
  label: string;
  samples: Map<string, Sample[]>;
  subject: string;
  baseline: string;
  /** Minimum acceptable subject/baseline ratio, if the benchmark has one. */
  target?: number;
}): { ratio: number; met: boolean | undefined } {
  const subject = medianRate(options.samples.get(options.subject) ?? []);
  const baseline = medianRate(options.samples.get(options.baseline) ?? []);
  const ratio = subject / baseline;
  const met = options.target === undefined ? undefined : ratio >= options.target;
  const verdict = options.target === undefined ? '' : ` (target ≥ ${options.target}×: ${met ? 'MET' : 'MISSED'})`;
  console.log(
    `RESULT ${options.label}: ${options.subject} ${formatRate(subject)} vs ${options.baseline} ${formatRate(baseline)} = ${ratio.toFixed(2)}×${verdict}`,
  );
  return { ratio, met };
}

/** Prints each contender's median rate and median p99 (medians over the runs). */
export function reportMedians(title: string, samples: Map<string, Sample[]>): void {
  console.log(`  ${title}: medians over ${RUNS} alternating runs`);
  for (const [name, list] of samples) {
    const p99 = medianP99(list);
    const rates = list.map((sample) => formatRate(sample.rate)).join(', ');
    console.log(
      `    ${name.padEnd(34)} ${formatRate(medianRate(list)).padStart(12)}${p99 === undefined ? '' : `   p99 ${formatMs(p99).padStart(9)}`}   (runs: ${rates})`,
    );
  }
}

/** One line saying what this run ran on. */
export function describeMachine(): string {
  return `node ${process.version}, ${cpus().length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB RAM (${Math.round(freemem() / 2 ** 30)} GiB free)`;
}

/** Runs `count` tasks on `concurrency` workers; `task(worker, index)` gets a global index. */
export async function pool(
  concurrency: number,
  count: number,
  task: (worker: number, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (true) {
        const index = next++;
        if (index >= count) return;
        await task(worker, index);
      }
    }),
  );
}

/**
 * Closes a `connectPostgres` database. Its `close()` ends the pg pool through kysely's `destroy()`,
 * which does nothing when kysely never ran a query, so a database used only through `query()` would
 * leak every connection of its pool: one kysely query first makes the close real.
 */
export async function closeDatabase(db: Database): Promise<void> {
  if (db.kind === 'postgres') await sql`select 1`.execute(db.kysely()).catch(() => {});
  await db.close();
}

/** The event the 1M-event benches seed: a profile change of a few hundred bytes. */
export const benchRecorded = defineEvent({
  type: 'bench.recorded',
  version: 1,
  description: 'A benchmark event.',
  schema: z.object({
    n: z.number(),
    user_id: z.string(),
    changes: z.object({ name: z.string(), locale: z.string() }),
    reason: z.string(),
  }),
});

/**
 * A silent SigID on a scratch database for the webhook benches, closed at cleanup. Webhooks may go
 * to 127.0.0.1 (the bench's receiver); `webhookEnv` adds SIGID_WEBHOOK_* settings.
 */
export async function webhookBenchSigid(label: string, webhookEnv: Record<string, string> = {}): Promise<Sigid> {
  const { url } = await scratchDatabase(label);
  const sigid = await createSigid(
    loadConfig(
      {},
      {
        databaseUrl: url,
        masterKey: randomBytes(32).toString('base64'),
        logLevel: 'silent',
        webhooks: loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1', ...webhookEnv }),
      },
    ),
    { logger: pino({ level: 'silent' }) },
  );
  onCleanup(() => sigid.close());
  return sigid;
}

/** Serves `app` on 127.0.0.1 (a port the system picks) until the bench ends; returns its base URL. */
export async function listen(app: RequestListener): Promise<string> {
  const server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
