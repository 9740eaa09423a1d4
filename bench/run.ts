/**
 * `npm run bench`: every benchmark in turn, each in a process of its own (so that one's memory,
 * global pg type parsers or RSS figures never colour the next). `node bench/run.ts append audit`
 * runs only the benches whose file names contain one of the words. Scale with the env vars each
 * bench lists (BENCH_RUNS, BENCH_EVENTS, …); see bench/README.md.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const benches = [
  'append.bench.ts',
  'subscription.bench.ts',
  'audit-export.bench.ts',
  'webhook-signing.bench.ts',
  'webhook-dispatch.bench.ts',
  'webhook-latency.bench.ts',
  'api-key-check.bench.ts',
  'oidc-tokens.bench.ts',
  'oidc-code-flow.bench.ts',
  'password.bench.ts',
  'issuer-pool.bench.ts',
  'authorize.bench.ts',
  'resource-validation.bench.ts',
  'token-exchange.bench.ts',
];
const only = process.argv.slice(2);
const selected = benches.filter((file) => only.length === 0 || only.some((word) => file.includes(word)));

let failed = 0;
for (const file of selected) {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const started = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [path], { stdio: 'inherit' });
    child.on('close', resolve);
  });
  console.log(`\n(${file}: exit ${code}, ${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  if (code !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
