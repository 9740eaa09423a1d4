/**
 * Password sign-in cost with the chosen argon2id parameters (m = 19,456 KiB, t = 2, p = 1; Node's
 * `crypto.argon2` on the thread pool): one verification alone, and 16 at once (what a burst of
 * sign-ins costs each), with the miss path (an unknown address) beside the hit, which must cost the
 * same. Median of BENCH_RUNS runs of BENCH_PASSWORD_CHECKS checks.
 */
import { hashPassword, verifyNothing, verifyPassword } from '../src/crypto/password.ts';
import { describeMachine, envInt, formatMs, main, median, percentile, RUNS } from './support.ts';

const CHECKS = envInt('BENCH_PASSWORD_CHECKS', 64);

async function timed(concurrency: number, check: () => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let left = CHECKS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const started = performance.now();
        await check();
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies;
}

main(async () => {
  console.log(`# password check (argon2id m=19456 KiB, t=2, p=1) — ${describeMachine()}, ${CHECKS} checks per run`);
  const stored = await hashPassword('correct horse battery staple');
  await verifyNothing('warm up');
  for (const concurrency of [1, 16]) {
    for (const [name, check] of [
      ['right password', () => verifyPassword(stored, 'correct horse battery staple')],
      ['wrong password', () => verifyPassword(stored, 'wrong horse battery staple')],
      ['unknown account', () => verifyNothing('correct horse battery staple')],
    ] as const) {
      const p50s: number[] = [];
      const p99s: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const latencies = await timed(concurrency, check);
        p50s.push(percentile(latencies, 50));
        p99s.push(percentile(latencies, 99));
      }
      console.log(
        `RESULT ${name}, ${concurrency} at once: p50 ${formatMs(median(p50s))}, p99 ${formatMs(median(p99s))}`,
      );
    }
  }
});
