import type { z } from 'zod';
import type { Actor } from '../src/event-store/port.ts';

/**
 * One event type at one version. `personal` names the top-level fields that hold personal data and
 * whose subject they describe: those fields are stored encrypted with the subject's key, and read as
 * null once that key is destroyed (crypto-shredding).
 */
export interface EventDefinition<Type extends string = string, Schema extends z.ZodObject = z.ZodObject> {
  readonly type: Type;
  readonly version: number;
  readonly schema: Schema;
  /** One line for the event catalog that webhook subscribers read. */
  readonly description: string;
  readonly personal?: {
    readonly subject: (data: z.infer<Schema>) => string;
    readonly fields: readonly (keyof z.infer<Schema> & string)[];
  };
}

export function defineEvent<const Type extends string, Schema extends z.ZodObject>(
  definition: EventDefinition<Type, Schema>,
): EventDefinition<Type, Schema> {
  return definition;
}

/** Turns the data of `type` at `fromVersion` into the data of `fromVersion + 1`. Pure; kept forever. */
export interface Upcaster {
  readonly type: string;
  readonly fromVersion: number;
  readonly upcast: (data: Record<string, unknown>) => Record<string, unknown>;
}

/** A domain event as deciders see it: its type and its data. */
export type EventOf<D> =
  D extends EventDefinition<infer Type, infer Schema> ? { type: Type; data: z.infer<Schema> } : never;

export interface EventEnvelope {
  id: string;
  stream: string;
  revision: number;
  position: number;
  version: number;
  tenantId: string;
  actor: Actor;
  correlationId: string;
  causationId: string | null;
  time: Date;
}

/** An event as read back from the store: the domain event in its envelope. */
export type RecordedEvent<E extends { type: string; data: unknown } = { type: string; data: unknown }> = E &
  EventEnvelope;
