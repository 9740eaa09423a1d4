import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `test/support/<script>` as a SigID process of its own (the project's Node, no webhook worker,
 * none of this process's `SIGID_*` settings) with `env`, until it exits: resolves to the signal that
 * ended it (`SIGKILL` from a failpoint) or its exit code. The kill tests' child, written once.
 */
export function runChild(script: string, env: Record<string, string>): Promise<string | number | null> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('SIGID_') && name !== 'DATABASE_URL'),
  );
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'node'), [join(ROOT, 'test', 'support', script)], {
    cwd: ROOT,
    env: { ...inherited, SIGID_WEBHOOK_WORKER: 'false', ...env },
    stdio: 'ignore',
  });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
}
