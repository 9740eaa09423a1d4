import type { Queryable } from '../db/database.ts';

/** Positions one step of a refresh walks at most (a longer run is followed in the next step). */
const RUN_STEP = 50_000;

/**
 * The boundary's query, from the last boundary `$1`: the snapshot's xmin and xmax, the first position
 * after the boundary, and the end of the gap-free run that starts there. The run is found by walking
 * the primary key from its first position, at most RUN_STEP positions (a longer run is followed in the
 * next step): an anti-join on "no next position" is planned as a hash of the whole table, whose cost
 * grows with every event ever appended (test/event-store.watermark.int.test.ts).
 */
export const WATERMARK_QUERY = `with snap as (select pg_current_snapshot() as s),
      first as (select min(global_position) as p from sigid_events where global_position > $1),
      run as (select global_position as p, lead(global_position) over (order by global_position) as next
              from (select global_position from sigid_events where global_position >= (select p from first)
                    order by global_position limit ${RUN_STEP}) as walked)
 select pg_snapshot_xmin(snap.s)::text as xmin, pg_snapshot_xmax(snap.s)::text as xmax,
        first.p as first,
        (select min(run.p) from run where run.next is distinct from run.p + 1) as run_end
 from snap, first`;

/**
 * The highest global position below which no event can still appear: the gap-free read boundary.
 *
 * `global_position` comes from a sequence, so a transaction can hold position 10 while position 11
 * commits first; a reader that moved its checkpoint to 11 would skip 10 for good. Readers therefore
 * stop at the first hole. A hole is either still in flight or dead (rolled back, or a sequence value
 * burnt by a failed insert). Every append takes its transaction id before its position (the stream
 * row is written first), so whoever holds a position in the hole had a transaction id below the
 * snapshot's `xmax` when the hole was seen. Once a later snapshot's `xmin` passes that `xmax`, all
 * those transactions have ended, and whatever is still missing never will appear: the hole is skipped.
 * Nothing is timed, nothing guessed.
 */
export class Watermark {
  readonly #db: Queryable;
  #safe = 0;
  #hole: { from: number; xmax: bigint } | undefined;
  #refreshing: Promise<number> | undefined;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** The boundary as last computed. */
  get position() {
    return this.#safe;
  }

  /** Recomputes the boundary; concurrent callers share one computation. */
  refresh(): Promise<number> {
    this.#refreshing ??= this.#advance().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #advance(): Promise<number> {
    for (let step = 0; step < 16; step++) {
      const { rows } = await this.#db.query<{
        xmin: string;
        xmax: string;
        first: number | null;
        run_end: number | null;
      }>(WATERMARK_QUERY, [this.#safe], 'sigid_watermark');
      const row = rows[0];
      if (!row || row.first === null || row.run_end === null) {
        this.#hole = undefined;
        return this.#safe;
      }
      if (row.first === this.#safe + 1) {
        this.#safe = row.run_end;
        this.#hole = undefined;
        continue;
      }
      const from = this.#safe + 1;
      if (this.#hole?.from === from && BigInt(row.xmin) >= this.#hole.xmax) {
        // Every transaction that could hold a position in the hole has ended: it stays empty.
        this.#safe = row.first - 1;
        this.#hole = undefined;
        continue;
      }
      if (this.#hole?.from !== from) {
        this.#hole = { from, xmax: BigInt(row.xmax) };
        continue;
      }
      return this.#safe;
    }
    return this.#safe;
  }
}
