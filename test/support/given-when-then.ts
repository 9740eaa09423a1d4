import { expect } from 'vitest';
import type { Decider } from '../../commands/decider.ts';

/** Given these past events, when this command is decided, then exactly these events (or this error). */
export function specFor<Command, State, Event extends { type: string; data: unknown }>(
  decider: Decider<Command, State, Event>,
) {
  return (given: Event[]) => ({
    when: (command: Command) => {
      const decide = () =>
        decider.decide(
          command,
          given.reduce((state, event) => decider.evolve(state, event), decider.initialState()),
        );
      return {
        thenEmits: (expected: Event[]) => expect(decide()).toEqual(expected),
        thenThrows: (code: string) => expect(decide).toThrow(expect.objectContaining({ code })),
      };
    },
  });
}
