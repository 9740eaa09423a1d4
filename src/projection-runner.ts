import { EventEmitter } from 'node:events';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { RecordedEvent } from '../events/envelope.ts';
import type { Projection, ProjectionTransaction } from '../projections/projection.ts';
import type { ReadModels } from '../read-models/database.ts';
import type { Database } from './db/database.ts';
import { build, run } from './db/typed-query.ts';
import type { EventLog } from './event-log.ts';
import type { ReadAllPage, StoredEvent } from './event-store/port.ts';
import { runWorkerLoop } from './worker-loop.ts';

/** Events per page: a page handler writes up to this many rows per statement. */
const BATCH_SIZE = 1000;
const MAX_ATTEMPTS = 3;

export interface ProjectionStatus {
  name: string;
  version: number;
  position: number;
  lag: number;
  failures: number;
  running_here: boolean;
}

/**
 * Runs projections: each reads the global order from its checkpoint and writes its rows and its new
 * checkpoint in one transaction, so a crash never applies an event twice nor skips one. Each takes a
 * database advisory lock first, so across any number of SigID processes exactly one runs it. An
 * event that keeps failing is set aside in `projection_failures` and the projection moves on.
 */
export class ProjectionRunner {
  readonly #db: Database;
  readonly #kysely: Kysely<ReadModels>;
  readonly #log: EventLog;
  readonly #projections: readonly Projection[];
  readonly #logger: Logger | undefined;
  readonly #progress = new EventEmitter();
  /** Wakes idle loops at once: someone waits for projections whose types were not appended. */
  readonly #nudge = new EventEmitter();
  readonly #controller = new AbortController();
  readonly #loops: Promise<void>[] = [];
  readonly #owned = new Set<string>();
  readonly #pollMs: number;

  constructor(
    db: Database,
    log: EventLog,
    projections: readonly Projection[],
    options: { logger?: Logger; pollMs?: number } = {},
  ) {
    this.#db = db;
    this.#kysely = db.kysely<ReadModels>();
    this.#log = log;
    this.#projections = projections;
    this.#logger = options.logger;
    this.#pollMs = options.pollMs ?? 500;
    this.#progress.setMaxListeners(0);
    this.#nudge.setMaxListeners(0);
    // This process may hold none of the projections' locks; another that does waits for these types.
    for (const projection of projections) log.store.announcePromptly?.(projection.eventTypes);
  }

  get projections(): readonly Projection[] {
    return this.#projections;
  }

  start(): void {
    for (const projection of this.#projections) this.#loops.push(this.#run(projection));
  }

  /** Stops every loop after its current batch; checkpoints are already saved with each batch. */
  async stop(): Promise<void> {
    this.#controller.abort();
    this.#progress.emit('progress');
    await Promise.allSettled(this.#loops);
  }

  /**
   * Read your writes: resolves true once every projection that handles one of `types` (every
   * projection, without `types`) has passed `position`; false on timeout. A write's types are the
   * event types it appended: a projection that reads none of them has nothing to show of it.
   */
  async waitFor(position: number, timeoutMs = 10_000, options: { types?: readonly string[] } = {}): Promise<boolean> {
    const types = options.types;
    const waitedFor = types
      ? this.#projections.filter((projection) => projection.eventTypes.some((type) => types.includes(type)))
      : this.#projections;
    if (waitedFor.length === 0) return true;
    const deadline = Date.now() + timeoutMs;
    while (true) {
      if ((await this.#lowestCheckpoint(waitedFor)) >= position) return true;
      // Waiting for every projection: the idle ones sleep until an append of their own types, so
      // wake them to move on. (A wait by type waits only for projections those types wake anyway.)
      if (!types) this.#nudge.emit('nudge');
      const left = deadline - Date.now();
      if (left <= 0) return false;
      // In-process runners announce progress; runners in other processes are polled.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#progress.off('progress', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 50));
        this.#progress.once('progress', done);
      });
    }
  }

  async status(): Promise<ProjectionStatus[]> {
    const head = await this.#log.store.headPosition();
    const rows = await this.#kysely.selectFrom('projection_checkpoints').selectAll().execute();
    const failures = await this.#kysely
      .selectFrom('projection_failures')
      .select(['projection', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('projection')
      .execute();
    return this.#projections.map((projection) => {
      const row = rows.find((candidate) => candidate.name === projection.name);
      const position = row && row.version === projection.version ? row.position : 0;
      return {
        name: projection.name,
        version: projection.version,
        position,
        lag: Math.max(0, head - position),
        failures: Number(failures.find((failure) => failure.projection === projection.name)?.count ?? 0),
        running_here: this.#owned.has(projection.name),
      };
    });
  }

  /**
   * Empties a projection's tables and sets its checkpoint back to zero; whichever process runs it
   * replays every event.
   */
  async rebuild(name: string): Promise<void> {
    const projection = this.#projections.find((candidate) => candidate.name === name);
    if (!projection) throw new Error(`unknown projection ${name}`);
    await this.#reset(projection);
  }

  /** Replays one projection to the head in this process (the CLI's rebuild); needs its lock. */
  async catchUp(name: string, onProgress?: (position: number, head: number) => void): Promise<void> {
    const projection = this.#projections.find((candidate) => candidate.name === name);
    if (!projection) throw new Error(`unknown projection ${name}`);
    const release = await this.#db.tryLock(`projection:${name}`);
    if (!release) throw new Error(`projection ${name} is running in another SigID process; rebuild it there`);
    try {
      const head = await this.#log.store.headPosition();
      let position = await this.#checkpoint(projection);
      let next: Promise<PageRead> | undefined;
      while (true) {
        const step = await this.#step(projection, position, next);
        next = step.next;
        onProgress?.(step.reached, head);
        if (step.reached >= head || step.reached === position) return;
        position = step.reached;
      }
    } finally {
      await release();
    }
  }

  #run(projection: Projection): Promise<void> {
    return runWorkerLoop({
      db: this.#db,
      lock: `projection:${projection.name}`,
      signal: this.#controller.signal,
      lockRetryMs: this.#pollMs * 4,
      restartMs: this.#pollMs,
      logger: this.#logger,
      describe: { projection: projection.name },
      work: async (signal) => {
        this.#owned.add(projection.name);
        try {
          await this.#ensureVersion(projection);
          let position = await this.#checkpoint(projection);
          let next: Promise<PageRead> | undefined;
          while (!signal.aborted) {
            const step = await this.#step(projection, position, next);
            next = step.next;
            const moved = step.reached !== position;
            position = step.reached;
            // Events of its own were handled: look for more at once. Only the checkpoint moved
            // (other types were appended): that was all there was, so wait like an idle loop
            // rather than chase a head that other writes keep moving.
            if (moved && step.handled) continue;
            // Woken only by appends of its own types, by a nudge, or after pollMs (to move its
            // checkpoint on): appends of other types cost it nothing.
            const woken = new AbortController();
            const wake = () => woken.abort();
            signal.addEventListener('abort', wake, { once: true });
            this.#nudge.once('nudge', wake);
            try {
              await this.#log.store.waitForAppend(this.#pollMs, woken.signal, projection.eventTypes);
            } finally {
              signal.removeEventListener('abort', wake);
              this.#nudge.off('nudge', wake);
            }
            // Idle: look again, so a rebuild started elsewhere (its checkpoint reset) is seen.
            position = await this.#checkpoint(projection);
          }
        } finally {
          this.#owned.delete(projection.name);
        }
      },
    });
  }

  /**
   * Handles one page; returns the checkpoint reached. After a full page (catching up) the next page
   * is read and decoded while this one is written, and returned as `next` for the following step.
   */
  async #step(
    projection: Projection,
    from: number,
    prefetched?: Promise<PageRead>,
  ): Promise<{ reached: number; next: Promise<PageRead> | undefined; handled: boolean }> {
    let read = prefetched ? await prefetched.catch(() => undefined) : undefined;
    if (!read || read.from !== from) read = await this.#read(projection, from);
    const { page, decoded } = read;
    if (page.events.length === 0 && page.checkpoint <= from) return { reached: from, next: undefined, handled: false };
    if (page.events.length === 0) {
      // Nothing of its types, only the checkpoint moves: one guarded statement, committed without
      // waiting for the WAL flush (if a crash undoes it, the same empty range is read again). Ten
      // projections idle on a write cost ten such statements, not ten durable transactions.
      const moved = await run(
        { query: (text, params) => this.#db.queryUnflushed(text, params) },
        build
          .updateTable('projection_checkpoints')
          .set({ position: page.checkpoint, updated_at: new Date() })
          .where('name', '=', projection.name)
          .where('version', '=', projection.version)
          .where('position', '=', from),
      );
      if (moved.rowCount > 0) {
        this.#progress.emit('progress');
        return { reached: page.checkpoint, next: undefined, handled: false };
      }
      // No row yet, or it moved meanwhile: the transaction below writes it or finds out.
    }
    const next = page.events.length >= BATCH_SIZE ? this.#read(projection, page.checkpoint) : undefined;
    next?.catch(() => {});
    try {
      await this.#kysely.transaction().execute(async (trx) => {
        if (!projection.durable) await commitWithoutFlush(trx);
        const events: RecordedEvent[] = [];
        for (const event of decoded) {
          if ('error' in event) throw event.error;
          events.push(event);
        }
        // The whole page in one call: a page handler writes it with multi-row statements.
        await projection.apply(projected(trx), events);
        await this.#saveCheckpoint(trx, projection, from, page.checkpoint);
      });
    } catch (error) {
      if (error instanceof CheckpointMoved) {
        return { reached: await this.#checkpoint(projection), next: undefined, handled: true };
      }
      // Something in the batch fails: go event by event, setting aside the ones that keep failing.
      for (const event of decoded) await this.#applyOne(projection, event);
      await this.#kysely.transaction().execute(async (trx) => {
        await this.#saveCheckpoint(trx, projection, null, page.checkpoint);
      });
    }
    this.#progress.emit('progress');
    return { reached: page.checkpoint, next, handled: true };
  }

  /** Reads and decodes the page after `from` of the projection's event types. */
  async #read(projection: Projection, from: number): Promise<PageRead> {
    const page = await this.#log.store.readAll({ after: from, types: projection.eventTypes, limit: BATCH_SIZE });
    return { from, page, decoded: await this.#decode(page.events) };
  }

  async #applyOne(projection: Projection, event: RecordedEvent | { error: unknown; stored: StoredEvent }) {
    const position = 'error' in event ? event.stored.position : event.position;
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      try {
        await this.#kysely.transaction().execute(async (trx) => {
          if ('error' in event) throw event.error;
          await projection.apply(projected(trx), [event]);
          await this.#saveCheckpoint(trx, projection, null, position);
        });
        return;
      } catch (error) {
        lastError = error;
      }
    }
    const stored = 'error' in event ? event.stored : event;
    this.#logger?.error(
      { err: lastError, projection: projection.name, event_id: stored.id, position },
      'event set aside: it keeps failing',
    );
    await this.#kysely
      .insertInto('projection_failures')
      .values({
        projection: projection.name,
        event_id: stored.id,
        position,
        event_type: stored.type,
        error: String(lastError instanceof Error ? lastError.message : lastError).slice(0, 2000),
        attempts: MAX_ATTEMPTS,
      })
      .onConflict((oc) => oc.columns(['projection', 'event_id']).doNothing())
      .execute();
  }

  async #decode(events: StoredEvent[]): Promise<Array<RecordedEvent | { error: unknown; stored: StoredEvent }>> {
    const decoded = [];
    for (const stored of events) {
      try {
        decoded.push(await this.#log.decode(stored));
      } catch (error) {
        decoded.push({ error, stored });
      }
    }
    return decoded;
  }

  /** Moves the checkpoint; `expected` guards against a concurrent rebuild having reset it meanwhile. */
  async #saveCheckpoint(
    trx: Kysely<ReadModels>,
    projection: Projection,
    expected: number | null,
    position: number,
  ): Promise<void> {
    if (expected !== null) {
      // The usual case, one statement: the row is where this page started.
      const moved = await trx
        .updateTable('projection_checkpoints')
        .set({ position, updated_at: new Date() })
        .where('name', '=', projection.name)
        .where('version', '=', projection.version)
        .where('position', '=', expected)
        .executeTakeFirst();
      if (moved.numUpdatedRows > 0n) return;
    }
    const current = await trx
      .selectFrom('projection_checkpoints')
      .select(['position', 'version'])
      .where('name', '=', projection.name)
      .forUpdate()
      .executeTakeFirst();
    if (current && (current.version !== projection.version || (expected !== null && current.position !== expected))) {
      throw new CheckpointMoved();
    }
    await trx
      .insertInto('projection_checkpoints')
      .values({ name: projection.name, version: projection.version, position, updated_at: new Date() })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({
          position: (eb) => eb.fn('greatest', [eb.ref('projection_checkpoints.position'), eb.val(position)]),
          updated_at: new Date(),
        }),
      )
      .execute();
  }

  async #checkpoint(projection: Projection): Promise<number> {
    const row = await this.#kysely
      .selectFrom('projection_checkpoints')
      .select(['position', 'version'])
      .where('name', '=', projection.name)
      .executeTakeFirst();
    return row && row.version === projection.version ? row.position : 0;
  }

  async #ensureVersion(projection: Projection): Promise<void> {
    const row = await this.#kysely
      .selectFrom('projection_checkpoints')
      .select('version')
      .where('name', '=', projection.name)
      .executeTakeFirst();
    if (row && row.version !== projection.version) {
      this.#logger?.info({ projection: projection.name, from: row.version, to: projection.version }, 'rebuilding');
      await this.#reset(projection);
    }
  }

  async #reset(projection: Projection): Promise<void> {
    await this.#kysely.transaction().execute(async (trx) => {
      for (const table of projection.tables) await trx.deleteFrom(table).execute();
      await trx.deleteFrom('projection_failures').where('projection', '=', projection.name).execute();
      await trx
        .insertInto('projection_checkpoints')
        .values({ name: projection.name, version: projection.version, position: 0, updated_at: new Date() })
        .onConflict((oc) => oc.column('name').doUpdateSet({ version: projection.version, position: 0 }))
        .execute();
    });
  }

  async #lowestCheckpoint(projections: readonly Projection[]): Promise<number> {
    const rows = await this.#kysely
      .selectFrom('projection_checkpoints')
      .select(['name', 'version', 'position'])
      .where(
        'name',
        'in',
        projections.map((projection) => projection.name),
      )
      .execute();
    let lowest = Number.POSITIVE_INFINITY;
    for (const projection of projections) {
      const row = rows.find((candidate) => candidate.name === projection.name);
      lowest = Math.min(lowest, row && row.version === projection.version ? row.position : 0);
    }
    return lowest;
  }
}

class CheckpointMoved extends Error {}

/** A page read for a projection, decoded (an event that cannot be decoded carries its error). */
interface PageRead {
  from: number;
  page: ReadAllPage;
  decoded: Array<RecordedEvent | { error: unknown; stored: StoredEvent }>;
}

/**
 * A projection's page commits without waiting for the WAL flush: its rows and its checkpoint are
 * derived from the events and commit or vanish together, so if a crash of PostgreSQL itself undoes
 * the last fraction of a second of them, the projection reads those events again. Saves a flush per
 * page (catching up) and per write (read your writes).
 */
async function commitWithoutFlush(trx: Transaction<ReadModels>): Promise<void> {
  await sql`set local synchronous_commit = off`.execute(trx);
}

/** The runner's transaction as a projection sees it: the projected tables only. */
function projected(trx: Transaction<ReadModels>): ProjectionTransaction {
  return trx as unknown as ProjectionTransaction;
}
