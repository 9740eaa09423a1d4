/**
 * A decider: what an aggregate is, as three pure functions (no I/O, no clock, no randomness: ids
 * and times arrive inside the command). `decide` throws a ProblemError to refuse a command.
 */
export interface Decider<Command, State, Event extends { type: string; data: unknown }> {
  initialState(): State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State): Event[];
}

/** Whether two field values are the same (as JSON: arrays and objects by content). */
export const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * An update's `changes` and `previous`: each of `fields` that `wanted` sets to something other than
 * `current` holds, with the value it had; null when nothing would change (the update decides nothing).
 */
export function changedFields<T extends object>(
  fields: readonly (keyof T)[],
  wanted: Partial<T>,
  current: T,
): { changes: Partial<T>; previous: Partial<T> } | null {
  const changes: Partial<T> = {};
  const previous: Partial<T> = {};
  for (const field of fields) {
    const value = wanted[field];
    if (value === undefined || sameJson(value, current[field])) continue;
    changes[field] = value;
    previous[field] = current[field];
  }
  return Object.keys(changes).length === 0 ? null : { changes, previous };
}
