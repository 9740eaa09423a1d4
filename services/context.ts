import type { WriteContext } from '../src/event-log.ts';
import { type RandomSource, systemRandom } from '../src/random.ts';

/**
 * What every use case runs under: who writes, for which tenant, under which request (the events'
 * metadata), and where its ids and secrets come from (seeded for a request with an Idempotency-Key,
 * so running it again repeats it exactly).
 */
export interface UseCase extends WriteContext {
  random: RandomSource;
}

/** A use case run by SigID itself or the CLI: fresh randomness. */
export function useCase(context: WriteContext, random: RandomSource = systemRandom): UseCase {
  return { ...context, random };
}

/** What a write leaves for read-your-writes: where its last event is and which types it appended. */
export interface Written {
  position: number | null;
  types: readonly string[];
}

/** Several writes of one use case, as one: the last position, every type. */
export function writtenTogether(...writes: readonly Written[]): Written {
  let position: number | null = null;
  const types = new Set<string>();
  for (const write of writes) {
    if (write.position !== null) position = Math.max(position ?? 0, write.position);
    for (const type of write.types) types.add(type);
  }
  return { position, types: [...types] };
}
