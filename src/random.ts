import { createHmac, randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { encodeId, type IdPrefix, newId } from './ids.ts';

/**
 * Where a use case gets its ids and secrets. Deciders never draw randomness; services draw it from
 * here and pass it in. Normally it is the system's CSPRNG. A request with an `Idempotency-Key` gets a
 * seeded source instead, so that running the request again (after a crash lost its answer) makes the
 * same ids and the same shown-once secrets, and every step already done is a no-op.
 */
export interface RandomSource {
  /** A new id of this type, time-ordered. */
  id(prefix: IdPrefix): string;
  /** `count` secret random bytes. */
  bytes(count: number): Buffer;
}

/** Fresh randomness from the operating system. */
export const systemRandom: RandomSource = {
  id: (prefix) => newId(prefix),
  bytes: (count) => randomBytes(count),
};

/**
 * A deterministic source: the n-th draw is HMAC-SHA256(seed, n ‖ purpose) expanded to length, so it
 * is unpredictable without the seed (which is derived from the master key) and the same on every run
 * with that seed. Ids keep their time order from `at`, the moment the seed was first made.
 */
export function seededRandom(seed: Uint8Array, at: Date): RandomSource {
  let counter = 0;
  const draw = (count: number, purpose: string): Buffer => {
    const draw = counter++;
    const blocks: Buffer[] = [];
    for (let block = 0; blocks.length * 32 < count; block++) {
      blocks.push(createHmac('sha256', seed).update(`${draw}:${block}:${purpose}`).digest());
    }
    return Buffer.concat(blocks).subarray(0, count);
  };
  return {
    id: (prefix) => encodeId(prefix, uuidv7({ msecs: at.getTime(), random: draw(16, `id:${prefix}`) })),
    bytes: (count) => draw(count, 'bytes'),
  };
}
