import type { Decider } from '../commands/decider.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { PreconditionFailedError } from './errors.ts';
import type { EventLog, WriteContext } from './event-log.ts';
import { WrongExpectedRevisionError } from './event-store/port.ts';

const MAX_ATTEMPTS = 5;

export interface CommandOutcome<State> {
  state: State;
  /** The stream's revision after the command (-1: the stream still does not exist). */
  revision: number;
  /** Global position of the last event written; null when the command changed nothing. */
  position: number | null;
  /** How many events the command appended. */
  appended: number;
}

/**
 * The one command handler: load the stream, fold it, decide, append with the revision it was loaded
 * at. A concurrent writer makes the append fail; then it reloads and decides again, unless the caller
 * pinned a revision (`If-Match`), which turns the conflict into 412.
 */
export async function handleCommand<Command, State, Event extends { type: string; data: unknown }>(
  log: EventLog,
  decider: Decider<Command, State, Event>,
  stream: string,
  command: Command,
  context: WriteContext & { ifMatch?: number | undefined },
): Promise<CommandOutcome<State>> {
  for (let attempt = 1; ; attempt++) {
    const history = (await log.readStream(stream)) as unknown as RecordedEvent<Event>[];
    const revision = history.length === 0 ? -1 : (history[history.length - 1] as RecordedEvent<Event>).revision;
    if (context.ifMatch !== undefined && context.ifMatch !== revision) {
      throw new PreconditionFailedError(`The resource is at revision ${revision}, not ${context.ifMatch}.`);
    }
    const state = history.reduce((current, event) => decider.evolve(current, event), decider.initialState());
    const events = decider.decide(command, state);
    if (events.length === 0) return { state, revision, position: null, appended: 0 };
    try {
      const result = await log.append(stream, events, revision === -1 ? 'no_stream' : revision, context);
      return {
        state: events.reduce((current, event) => decider.evolve(current, event), state),
        revision: result.nextRevision,
        position: result.position,
        appended: events.length,
      };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      if (context.ifMatch !== undefined) {
        throw new PreconditionFailedError(`The resource changed while this request was handled; reload it.`);
      }
      if (attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}
