/**
 * A decider: what an aggregate is, as three pure functions (no I/O, no clock, no randomness: ids
 * and times arrive inside the command). `decide` throws a ProblemError to refuse a command.
 */
export interface Decider<Command, State, Event extends { type: string; data: unknown }> {
  initialState(): State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State): Event[];
}
