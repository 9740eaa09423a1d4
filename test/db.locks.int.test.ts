import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Database } from '../src/db/database.ts';
import { startWorkerLoop } from '../src/worker-loop.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';

/**
 * Advisory locks (a projection runner's or a worker's lead) on PostgreSQL. Every runner holds its
 * lock for as long as it leads; with a session per lock, twenty of them took every pooled
 * connection and the process hung on its next query.
 */
describe.runIf(postgresReachable)('advisory locks (PostgreSQL)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let one: Database;
  let other: Database;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    one = connectPostgres(database.url, { max: 3 });
    other = connectPostgres(database.url, { max: 3 });
  });
  afterAll(async () => {
    await one?.close();
    await other?.close();
    await database?.drop();
  });

  it('holds more locks than the pool has connections, and still answers queries', async () => {
    const releases = [];
    for (let index = 0; index < 10; index += 1) {
      const release = await one.tryLock(`lock:${index}`);
      expect(release).not.toBeNull();
      releases.push(release);
    }
    const answer = await Promise.race([
      one.query<{ one: number }>('select 1 as one'),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5000)),
    ]);
    expect(answer).not.toBe('hung');
    for (const release of releases) await release?.();
  });

  it('gives a name to one holder: not twice in one process, not in another process until released', async () => {
    const release = await one.tryLock('lead:projection');
    expect(release).not.toBeNull();
    expect(await one.tryLock('lead:projection')).toBeNull();
    expect(await other.tryLock('lead:projection')).toBeNull();
    await release?.();
    const taken = await other.tryLock('lead:projection');
    expect(taken).not.toBeNull();
    expect(await one.tryLock('lead:projection')).toBeNull();
    await taken?.();
    const again = await one.tryLock('lead:projection');
    expect(again).not.toBeNull();
    await again?.();
  });

  it('frees every lock of a process that closes', async () => {
    const closing = connectPostgres(database.url, { max: 2 });
    expect(await closing.tryLock('lead:closing')).not.toBeNull();
    expect(await other.tryLock('lead:closing')).toBeNull();
    await closing.close();
    const taken = await other.tryLock('lead:closing');
    expect(taken).not.toBeNull();
    await taken?.();
  });

  /** Ends, from another session, the server session holding this database's advisory locks. */
  async function dropLockSession(on: Database) {
    const { rows } = await on.query<{ dropped: boolean }>(
      `select pg_terminate_backend(pid) as dropped from pg_locks
        where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`,
    );
    expect(rows.length).toBeGreaterThan(0);
  }

  it('tells the holder when its lock went with a dropped session, and takes locks again on a new one', async () => {
    const losing = connectPostgres(database.url, { max: 2 });
    try {
      const release = await losing.tryLock('lead:lost');
      expect(release?.lost.aborted).toBe(false);
      await dropLockSession(other);
      await expect.poll(() => release?.lost.aborted, { timeout: 5000 }).toBe(true);
      // The lock is free for another process, and this one can lead again on a session of its own.
      const taken = await other.tryLock('lead:lost');
      expect(taken).not.toBeNull();
      await taken?.();
      const again = await losing.tryLock('lead:lost');
      expect(again).not.toBeNull();
      expect(again?.lost.aborted).toBe(false);
      await release?.();
      await again?.();
    } finally {
      await losing.close();
    }
  });

  it('stops a worker whose lock was lost and runs it again once it holds the lock anew', async () => {
    const losing = connectPostgres(database.url, { max: 2 });
    let runs = 0;
    const stopped: string[] = [];
    const worker = startWorkerLoop({
      db: losing,
      lock: 'worker:lost',
      lockRetryMs: 20,
      restartMs: 20,
      describe: { worker: 'lost' },
      work: async (signal) => {
        runs += 1;
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        stopped.push(String(signal.reason));
      },
    });
    try {
      await expect.poll(() => runs, { timeout: 5000 }).toBe(1);
      await dropLockSession(other);
      await expect.poll(() => runs, { timeout: 5000 }).toBe(2);
      expect(stopped[0]).toMatch(/lock session was lost/);
    } finally {
      await worker.stop();
      await losing.close();
    }
  });

  it('survives its LISTEN and NOTIFY sessions being dropped (a server restart): listens and notifies again, and wakes its listeners', async () => {
    const restarted = connectPostgres(database.url, { max: 3 });
    try {
      const heard: string[] = [];
      await restarted.listen('sigid_restart', (payload) => heard.push(payload));
      await restarted.notify('sigid_restart', 'before');
      await expect.poll(() => heard, { timeout: 5000 }).toEqual(['before']);
      // Every session of that process goes, as in a restart; the process must not crash on the errors.
      await other.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()`,
      );
      await expect
        .poll(
          async () => {
            await restarted.notify('sigid_restart', 'after').catch(() => {});
            return heard.includes('after');
          },
          { timeout: 10_000, interval: 200 },
        )
        .toBe(true);
      // Listening again, it tells its listeners to look: a notification sent meanwhile was lost.
      expect(heard).toContain('');
    } finally {
      await restarted.close();
    }
  });
  it('answers queries on a one-connection pool while it listens, notifies and leads, and closes cleanly while its sessions are terminated', async () => {
    // A session given back twice (by close() and then by its own error handler) throws from an event
    // handler: an uncaught error that would end a real process. Vitest fails the run on one.
    for (let round = 0; round < 8; round += 1) {
      // One pooled connection: the LISTEN, NOTIFY and lock sessions are not taken from it.
      const closing = connectPostgres(database.url, { max: 1 });
      await closing.listen('sigid_closing', () => {});
      await closing.notify('sigid_closing', 'x');
      expect(await closing.tryLock(`lead:closing:${round}`)).not.toBeNull();
      expect((await closing.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
      await Promise.all([
        closing.close(),
        other.query(
          `select pg_terminate_backend(pid) from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid()`,
        ),
      ]);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  });
});
