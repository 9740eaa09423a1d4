import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { acquireDataDirLock } from './data-dir-lock.ts';
import { Mutex } from './mutex.ts';
import { PGliteDialect } from './pglite-dialect.ts';

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** Anything that runs a parameterised SQL statement: the database itself or an open transaction. */
export interface Queryable {
  /**
   * `prepare` names a statement that runs often with the same text: PostgreSQL then parses and plans
   * it once per connection. (Embedded, it is ignored.)
   */
  query<R = Record<string, unknown>>(text: string, params?: unknown[], prepare?: string): Promise<QueryResult<R>>;
}

/**
 * One PostgreSQL, reached either over the network (`pg`) or embedded (PGlite).
 * The event store, the read models and the secrets tables all live behind this.
 */
export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * `query`, committed without waiting for the WAL flush (`synchronous_commit = off`): a crash of
   * PostgreSQL itself (not of SigID) may undo the last fraction of a second of such writes, never
   * half of one. Only for writes that are made again when undone, such as the webhook delivery
   * record: a delivery whose record is lost is sent again (at least once) and logged then.
   */
  queryUnflushed<R = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    prepare?: string,
  ): Promise<QueryResult<R>>;
  /** Calls `onNotify` for every NOTIFY on `channel`; returns a function that stops listening. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  /**
   * A session-level advisory lock held until the returned release runs; null when another session
   * holds it. The release's `lost` signal aborts when the lock went without a release (the session
   * holding it dropped: another process may hold it now), so the holder stops its work.
   */
  tryLock(name: string): Promise<LockRelease | null>;
  kysely<DB>(): Kysely<DB>;
  close(): Promise<void>;
}

/** Releases an advisory lock; `lost` aborts if the lock went without it. */
export type LockRelease = (() => Promise<void>) & { readonly lost: AbortSignal };

const lockRelease = (release: () => Promise<void>, lost: AbortSignal): LockRelease => Object.assign(release, { lost });

const INT8_OID = 20;
const NUMERIC_OID = 1700;

function lockKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

/** Positions, revisions and counts are int8; they stay well under 2^53, so read them as numbers. */
const parseInt8 = (value: string) => Number(value);

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function connectPostgres(connectionString: string, options: { max?: number } = {}): Database {
  const pool = new pg.Pool({ connectionString, max: options.max ?? 20, types });
  // An idle client that errors (server restart) must not crash the process.
  pool.on('error', () => {});
  let unflushedPool: pg.Pool | undefined;
  const dialect = new PostgresDialect({ pool });
  const db = new Kysely<unknown>({ dialect });
  let listener: Promise<pg.Client> | undefined;
  let notifier: Promise<pg.Client> | undefined;
  let lockSession: Promise<{ client: pg.Client; lost: AbortController }> | undefined;
  const held = new Set<string>();
  const handlers = new Map<string, Set<(payload: string) => void>>();
  let closed = false;

  /**
   * The LISTEN, NOTIFY and advisory-lock sessions are connections of their own, outside the pool: held
   * for the life of the process, taken from the pool they would leave `max - 3` for queries (none with
   * a small pool, and the next query would wait forever). Each is ended once, however many of its
   * 'error' and 'end' events, failed queries and close() reach it.
   */
  const ended = new WeakSet<pg.Client>();
  const endOnce = (client: pg.Client) => {
    if (ended.has(client)) return;
    ended.add(client);
    client.end().catch(() => {});
  };
  /**
   * A query on one of those sessions, after the ones already sent on it: pg queues a query sent while
   * another runs, but deprecates it (pg 9 will refuse), and appends notify, workers lock, and
   * subscribers listen at the same time.
   */
  const turns = new WeakMap<pg.Client, Promise<unknown>>();
  const inTurn = <R extends pg.QueryResultRow>(
    client: pg.Client,
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> => {
    const next = (turns.get(client) ?? Promise.resolve()).then(() => client.query<R>(text, values));
    turns.set(
      client,
      next.catch(() => {}),
    );
    return next;
  };
  const dedicated = async (options?: string): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString, types, options });
    // An error no handler of the caller's sees (a failed connect, one before its handlers are on) is not uncaught.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      endOnce(client);
      throw error;
    }
    return client;
  };

  /**
   * The session LISTENing for every channel of this process. When it drops (a server restart), a new
   * one is opened and listens again, retried every half second: until then waiters poll, as they do
   * for appends by other processes. Once it listens again, every handler is called with an empty
   * payload: anything may have been missed meanwhile, so whoever waits looks.
   */
  const openListener = async (reopened = false): Promise<pg.Client> => {
    const client = await dedicated().catch((error: unknown) => {
      listener = undefined;
      throw error;
    });
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      endOnce(client);
      listener = undefined;
      const reopen = () => {
        if (closed || listener) return;
        listener = openListener(true);
        listener.catch(() => setTimeout(reopen, 500).unref());
      };
      if (!closed) setTimeout(reopen, 100).unref();
    };
    client.on('error', drop);
    client.on('end', drop);
    client.on('notification', (message) => {
      for (const handler of handlers.get(message.channel) ?? []) handler(message.payload ?? '');
    });
    try {
      for (const channel of handlers.keys()) await inTurn(client, `listen ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      drop();
      throw error;
    }
    if (reopened) for (const channelHandlers of handlers.values()) for (const handler of channelHandlers) handler('');
    return client;
  };

  const queryOn =
    (on: () => pg.Pool) =>
    async <R>(text: string, params?: unknown[], prepare?: string): Promise<QueryResult<R>> => {
      const result = await on().query(
        prepare ? { name: prepare, text, values: params as unknown[] } : { text, values: params as unknown[] },
      );
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    };

  return {
    kind: 'postgres',
    query: queryOn(() => pool),
    // A few sessions of their own, each set to commit without waiting for the flush.
    queryUnflushed: queryOn(() => {
      if (!unflushedPool) {
        unflushedPool = new pg.Pool({ connectionString, max: 4, types, options: '-c synchronous_commit=off' });
        unflushedPool.on('error', () => {});
      }
      return unflushedPool;
    }),
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const tx: Queryable = {
          async query<R>(text: string, params?: unknown[], prepare?: string) {
            const result = await client.query(
              prepare ? { name: prepare, text, values: params as unknown[] } : { text, values: params as unknown[] },
            );
            return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
          },
        };
        const value = await work(tx);
        await client.query('commit');
        return value;
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async listen(channel, onNotify) {
      listener ??= openListener();
      const client = await listener;
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await inTurn(client, `listen ${pg.escapeIdentifier(channel)}`);
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    // NOTIFY commits a transaction of its own; on a dedicated session that does not wait for the WAL
    // flush, so announcing an append does not cost a second durable commit.
    async notify(channel, payload) {
      // Committed without waiting for the WAL flush (set for the session as it connects).
      notifier ??= dedicated('-c synchronous_commit=off').then((client) => {
        // A dropped session (a server restart) is replaced on the next notify, not fatal to the process.
        const drop = () => {
          if (notifier === pending) notifier = undefined;
          endOnce(client);
        };
        const pending = notifier;
        client.on('error', drop);
        client.on('end', drop);
        return client;
      });
      const pending = notifier;
      try {
        const client = await pending;
        await inTurn(client, 'select pg_notify($1, $2)', [channel, payload]);
      } catch (error) {
        if (notifier === pending) notifier = undefined;
        pending.then(endOnce, () => {});
        throw error;
      }
    },
    // Every advisory lock of this process is held on one session of its own, outside the pool: a
    // session per lock (a projection runner or worker each holds one for as long as it leads) would
    // take a pooled connection each, and with twenty of them nothing else could get one. Advisory
    // locks are re-entrant per session, so `held` keeps one caller of this process per name.
    async tryLock(name) {
      if (held.has(name)) return null;
      held.add(name);
      try {
        lockSession ??= dedicated().then(
          (client) => {
            // The session's locks die with it: every holder is told, and the next tryLock opens a new one.
            const lost = new AbortController();
            const drop = () => {
              if (lost.signal.aborted) return;
              lost.abort(new Error('the advisory lock session was lost'));
              held.clear();
              lockSession = undefined;
              endOnce(client);
            };
            client.on('error', drop);
            client.on('end', drop);
            return { client, lost };
          },
          (error: unknown) => {
            lockSession = undefined;
            throw error;
          },
        );
        const { client, lost } = await lockSession;
        const key = lockKey(name);
        const result = await inTurn<{ locked: boolean }>(client, 'select pg_try_advisory_lock($1::bigint) as locked', [
          key,
        ]);
        if (!result.rows[0]?.locked) {
          held.delete(name);
          return null;
        }
        let released = false;
        return lockRelease(async () => {
          if (released) return;
          released = true;
          if (lost.signal.aborted) return;
          await inTurn(client, 'select pg_advisory_unlock($1::bigint)', [key]).catch(() => {});
          held.delete(name);
        }, lost.signal);
      } catch (error) {
        held.delete(name);
        throw error;
      }
    },
    kysely<DB>() {
      return db as unknown as Kysely<DB>;
    },
    async close() {
      closed = true;
      const listening = await listener?.catch(() => undefined);
      listener = undefined;
      listening?.removeAllListeners('end');
      if (listening) endOnce(listening);
      const notifying = await notifier?.catch(() => undefined);
      if (notifying) endOnce(notifying);
      notifier = undefined;
      // Unlock before the session goes: a closed socket frees its locks only once the server's backend
      // has noticed, and another process trying the lock just after close() must find it free.
      const locks = await lockSession?.catch(() => undefined);
      lockSession = undefined;
      if (locks && !locks.lost.signal.aborted) {
        await inTurn(locks.client, 'select pg_advisory_unlock_all()').catch(() => {});
        locks.client.removeAllListeners('end');
        endOnce(locks.client);
      }
      held.clear();
      await db.destroy();
      // kysely ends the pool only if it ran a query itself.
      if (!pool.ended) await pool.end();
      await unflushedPool?.end();
    },
  };
}

/**
 * Embedded PostgreSQL (PGlite) in `dataDir`, or in memory when `dataDir` is undefined.
 * PGlite has one connection: every statement and transaction takes one mutex, so a transaction never
 * interleaves with another caller's statements, and a lock file keeps a second process out of the data dir.
 */
export async function openEmbedded(dataDir: string | undefined): Promise<Database> {
  let releaseDirLock: (() => void) | undefined;
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    releaseDirLock = acquireDataDirLock(dataDir);
  }
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dataDir ? `${dataDir}/pgdata` : undefined, {
      parsers: { [INT8_OID]: parseInt8, [NUMERIC_OID]: parseInt8 },
    });
  } catch (error) {
    releaseDirLock?.();
    throw error;
  }
  const mutex = new Mutex();
  const handlers = new Map<string, Set<(payload: string) => void>>();
  const unlisteners: Array<() => Promise<void>> = [];

  const direct = async <R>(text: string, params?: unknown[]): Promise<QueryResult<R>> => {
    const result = await pglite.query<R>(text, params);
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
  };
  const db = new Kysely<unknown>({ dialect: new PGliteDialect(pglite, mutex) });

  return {
    kind: 'pglite',
    query: (text, params) => mutex.run(() => direct(text, params)),
    // One in-process database, one durability.
    queryUnflushed: (text, params) => mutex.run(() => direct(text, params)),
    transaction(work) {
      return mutex.run(async () => {
        await pglite.exec('begin');
        try {
          const value = await work({ query: direct });
          await pglite.exec('commit');
          return value;
        } catch (error) {
          await pglite.exec('rollback').catch(() => {});
          throw error;
        }
      });
    },
    async listen(channel, onNotify) {
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        const handlersForChannel = set;
        const unlisten = await mutex.run(() =>
          pglite.listen(channel, (payload) => {
            for (const handler of handlersForChannel) handler(payload);
          }),
        );
        unlisteners.push(unlisten);
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    async notify(channel, payload) {
      await mutex.run(() => direct('select pg_notify($1, $2)', [channel, payload]));
    },
    // One process owns the data directory (lock file), so in-process locks are all that is needed.
    async tryLock(name) {
      if (embeddedLocks.has(pglite, name)) return null;
      embeddedLocks.add(pglite, name);
      // In-process locks go only by their release.
      return lockRelease(async () => embeddedLocks.delete(pglite, name), new AbortController().signal);
    },
    kysely<DB>() {
      return db as unknown as Kysely<DB>;
    },
    async close() {
      await mutex.run(async () => {
        for (const unlisten of unlisteners) await unlisten().catch(() => {});
      });
      await db.destroy();
      await pglite.close();
      releaseDirLock?.();
    },
  };
}

const embeddedLocks = {
  held: new WeakMap<PGlite, Set<string>>(),
  has(owner: PGlite, name: string) {
    return this.held.get(owner)?.has(name) ?? false;
  },
  add(owner: PGlite, name: string) {
    const set = this.held.get(owner) ?? new Set();
    set.add(name);
    this.held.set(owner, set);
  },
  delete(owner: PGlite, name: string) {
    this.held.get(owner)?.delete(name);
  },
};
