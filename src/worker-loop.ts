import type { Logger } from 'pino';
import type { Database } from './db/database.ts';
import { sleep } from './event-store/subscription.ts';

export interface WorkerLoopOptions {
  db: Pick<Database, 'tryLock'>;
  /** The advisory lock that keeps this worker to one SigID process at a time. */
  lock: string;
  /** Stops the loop: the work is asked to return, the lock released. */
  signal: AbortSignal;
  /** How long to wait before trying for a lock another process holds. */
  lockRetryMs: number;
  /** How long to wait before running again after the work failed. */
  restartMs: number;
  /** After the work returns on its own: how long to wait, lock released, before the next run (a periodic job). */
  everyMs?: number;
  /** How long to wait before the first run. */
  startAfterMs?: number;
  logger?: Logger | undefined;
  /** Log fields naming this worker. */
  describe: Record<string, unknown>;
  /**
   * The work, run while this process holds the lock: a continuous worker loops until `signal` is
   * aborted; a periodic one does one round and returns. A throw is logged and the work restarted
   * after `restartMs` (the lock released and taken again in between).
   */
  work(signal: AbortSignal): Promise<void>;
}

/**
 * The one "take the advisory lock, run, release, wait and retry, stop on abort" loop every background
 * worker uses (projections, the webhook fan-out and dispatcher, delivery-log pruning, e-mail): across any
 * number of SigID processes exactly one runs each worker, and another takes over within `lockRetryMs`
 * when it stops or dies (PostgreSQL releases a dead session's lock).
 */
export async function runWorkerLoop(options: WorkerLoopOptions): Promise<void> {
  const { signal, logger } = options;
  if (options.startAfterMs) await sleep(options.startAfterMs, signal);
  while (!signal.aborted) {
    const release = await options.db.tryLock(options.lock).catch((error: unknown) => {
      logger?.error({ err: error, ...options.describe }, 'worker lock failed');
      return null;
    });
    if (!release) {
      await sleep(options.lockRetryMs, signal);
      continue;
    }
    let pause = options.everyMs ?? 0;
    // The work stops when the loop is stopped, and when the lock is lost (another process may lead now).
    const leading = AbortSignal.any([signal, release.lost]);
    try {
      await options.work(leading);
      if (release.lost.aborted && !signal.aborted) {
        logger?.warn({ ...options.describe }, 'worker lock lost; taking it again');
        pause = options.restartMs;
      }
    } catch (error) {
      if (release.lost.aborted && !signal.aborted) {
        logger?.warn({ err: error, ...options.describe }, 'worker lock lost; taking it again');
        pause = options.restartMs;
      } else if (!signal.aborted) {
        logger?.error({ err: error, ...options.describe }, 'worker stopped; restarting');
        pause = options.restartMs;
      }
    } finally {
      await release().catch(() => {});
    }
    if (pause > 0) await sleep(pause, signal);
  }
}

/** `runWorkerLoop` with its own stop switch. */
export function startWorkerLoop(options: Omit<WorkerLoopOptions, 'signal'>): { stop(): Promise<void> } {
  const controller = new AbortController();
  const loop = runWorkerLoop({ ...options, signal: controller.signal });
  return {
    async stop() {
      controller.abort();
      await loop;
    },
  };
}
