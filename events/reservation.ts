import { z } from 'zod';
import { defineEvent, type EventOf } from './envelope.ts';

/**
 * A uniqueness reservation: one stream per (scope, kind, normalised value), appended to with "no
 * stream expected" by the first claimant, so two owners can never hold one value on any event store
 * (a stream, not a SQL unique index). Kinds whose values are personal data must not put the value in
 * the stream name or the event: see `reservationKinds` in commands/reservation.ts.
 */
const reservationFields = {
  /** What is unique: `slug`, later `email`, `username`, `client_id`, `domain`, `wallet_address`. */
  kind: z.string().min(1).max(40),
  /** The normalised value (for public kinds only). */
  value: z.string().min(1).max(320),
};

export const reservationClaimed = defineEvent({
  type: 'reservation.claimed',
  version: 1,
  description: 'A unique value (a tenant slug, a client_id…) was claimed for one owner.',
  schema: z.object({ ...reservationFields, owner_id: z.string() }),
});

export const reservationReleased = defineEvent({
  type: 'reservation.released',
  version: 1,
  description: 'A unique value was given up by its owner and can be claimed again.',
  schema: z.object({ ...reservationFields, owner_id: z.string() }),
});

export const reservationTransferred = defineEvent({
  type: 'reservation.transferred',
  version: 1,
  description: 'A unique value passed from one owner to another without ever being free.',
  schema: z.object({ ...reservationFields, from_owner_id: z.string(), to_owner_id: z.string() }),
});

export const reservationEvents = [reservationClaimed, reservationReleased, reservationTransferred] as const;

export type ReservationEvent = EventOf<(typeof reservationEvents)[number]>;
