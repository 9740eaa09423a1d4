import type { Aggregate } from '../commands/aggregate.ts';
import type { SigidEvent } from '../events/catalog.ts';
import type { RecordedEvent } from '../events/envelope.ts';
import { PreconditionFailedError } from './errors.ts';
import type { EventLog, WriteContext } from './event-log.ts';
import { WrongExpectedRevisionError } from './event-store/port.ts';
import { failpoint } from './failpoints.ts';

const MAX_ATTEMPTS = 5;

export interface CommandOutcome<State> {
  state: State;
  /** The stream's revision after the command (-1: the stream still does not exist). */
  revision: number;
  /** Global position of the last event written; null when the command changed nothing. */
  position: number | null;
  /** How many events the command appended. */
  appended: number;
  /** The types of the events appended (read-your-writes waits for the projections that handle them). */
  types: string[];
}

/**
 * The one command handler: load the instance's stream, fold it, decide every command in turn (each
 * against the state the previous ones leave), and append all their events in one append with the
 * revision it was loaded at — so a request that renames and suspends is one atomic write. A
 * concurrent writer makes the append fail; then it reloads and decides again, unless the caller
 * pinned a revision (`If-Match`), which turns the conflict into 412.
 */
export async function handleCommand<Command, State, Event extends SigidEvent>(
  log: EventLog,
  aggregate: Aggregate<Command, State, Event>,
  id: string,
  commands: Command | readonly Command[],
  context: WriteContext & { ifMatch?: number | undefined },
): Promise<CommandOutcome<State>> {
  const { decider } = aggregate;
  const stream = aggregate.stream(context.tenantId, id);
  const list = (Array.isArray(commands) ? commands : [commands]) as readonly Command[];
  for (let attempt = 1; ; attempt++) {
    const history = (await log.readStream(stream)) as unknown as RecordedEvent<Event>[];
    const revision = history.length === 0 ? -1 : (history[history.length - 1] as RecordedEvent<Event>).revision;
    if (context.ifMatch !== undefined && context.ifMatch !== revision) {
      throw new PreconditionFailedError(`The resource is at revision ${revision}, not ${context.ifMatch}.`);
    }
    let state = history.reduce((current, event) => decider.evolve(current, event), decider.initialState());
    const events: Event[] = [];
    for (const command of list) {
      const decided = decider.decide(command, state);
      state = decided.reduce((current, event) => decider.evolve(current, event), state);
      events.push(...decided);
    }
    if (events.length === 0) return { state, revision, position: null, appended: 0, types: [] };
    try {
      const result = await log.append(stream, events, revision === -1 ? 'no_stream' : revision, context);
      failpoint(`after-append:${aggregate.name}`);
      return {
        state,
        revision: result.nextRevision,
        position: result.position,
        appended: events.length,
        types: [...new Set(events.map((event) => event.type))],
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
