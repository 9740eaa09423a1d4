/**
 * Where a resource server remembers the DPoP proofs it accepted (their `jti`), for as long as a
 * proof is young enough to be accepted. One process: the in-memory cache below. Several processes
 * behind one URL must share one (a table with a unique key, Redis `SET NX PX`), or a proof could be
 * replayed against another process within the window.
 */
export interface ReplayCache {
  /** True the first time `key` is seen before `expiresAtMs`; false for a replay. */
  firstUse(key: string, expiresAtMs: number): boolean | Promise<boolean>;
}

/** A bounded in-memory replay cache: expired entries are dropped as time passes, the oldest first when full. */
export class MemoryReplayCache implements ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  constructor(max = 100_000) {
    this.#max = max;
  }

  firstUse(key: string, expiresAtMs: number, now = Date.now()): boolean {
    const known = this.#seen.get(key);
    if (known !== undefined && known > now) return false;
    // Insertion order is expiry order within one window: drop from the front while expired or full.
    for (const [oldKey, expiry] of this.#seen) {
      if (expiry > now && this.#seen.size < this.#max) break;
      this.#seen.delete(oldKey);
    }
    this.#seen.delete(key);
    this.#seen.set(key, expiresAtMs);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}
