import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const CLI = join(ROOT, 'src', 'cli.ts');

/** A `sigid serve` child process on the project's Node 24, for tests that kill it mid-write. */
export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code, or the signal's name when killed. */
  exited: Promise<number | string | null>;
  output(): string;
  kill(): Promise<void>;
}

/**
 * Starts `sigid serve` against `env` (DATABASE_URL, SIGID_MASTER_KEY, SIGID_OPERATOR_KEY,
 * SIGID_FAILPOINTS…) on a port the system picks (PORT=0, read back from its "SigID is serving"
 * line, so no other process can take it between choosing and binding); resolves once /healthz
 * answers.
 */
export async function startServerProcess(env: Record<string, string | undefined>): Promise<ServerProcess> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('SIGID_') && name !== 'DATABASE_URL'),
  );
  const child = spawn(NODE, [CLI, 'serve'], {
    cwd: ROOT,
    env: { ...inherited, LOG_LEVEL: 'info', ...env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  const deadline = Date.now() + 90_000;
  let url: string | undefined;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sigid serve exited before serving:\n${output}`);
    }
    url ??= /"url":"(http:\/\/127\.0\.0\.1:\d+)".*"msg":"SigID is serving"/.exec(output)?.[1];
    const healthy =
      url !== undefined &&
      (await fetch(`${url}/healthz`).then(
        (response) => response.ok,
        () => false,
      ));
    if (healthy) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sigid serve did not start in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url: url as string,
    child,
    exited,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
