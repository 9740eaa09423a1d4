import { type ReservationKind, reservationAggregate, reservationId } from '../commands/reservation.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ConflictError, PreconditionFailedError } from '../src/errors.ts';
import type { WriteContext } from '../src/event-log.ts';
import type { Sigid } from '../src/sigid.ts';
import type { Written } from './context.ts';

/** A claim this old whose owner was never created was left by a creator that died (a create takes milliseconds). */
const ORPHAN_AFTER_MS = 60_000;

export interface Claim {
  /** A tenant id for tenant-scoped values (e-mail in a tenant), `platform` for platform-wide ones (slugs). */
  scope: string;
  kind: ReservationKind;
  value: string;
  ownerId: string;
  /**
   * Whether the owner a claim names exists. When it does not and the claim is older than
   * ORPHAN_AFTER_MS, its creator died between claiming and creating: the caller adopts that owner id.
   */
  ownerExists?: (ownerId: string) => Promise<boolean>;
  /**
   * Whether the owner a claim names was deleted. Its value is then free in fact, even if the release
   * that follows a delete never landed (its process died in between): the claimant takes it over,
   * releasing it for the deleted owner and claiming it in one append.
   */
  ownerDeleted?: (ownerId: string) => Promise<boolean>;
}

/**
 * Claims a unique value for an owner, on the write side: appends to the value's own stream, which a
 * second claimant finds taken whatever the read models say (a stream, so EventStoreDB keeps it too).
 * A claim left by a creator that died before creating its owner (see `ownerExists`) is adopted:
 * `ownerId` is then that orphan's id, `adopted` true, and the caller creates the owner under it,
 * expecting its stream to be absent — so of two racing adopters exactly one wins.
 */
export async function claimReservation(
  sigid: Sigid,
  claim: Claim,
  context: Omit<WriteContext, 'tenantId'>,
): Promise<{ ownerId: string; adopted: boolean; written: Written }> {
  const id = reservationId(claim.kind, claim.value);
  const write = { ...context, tenantId: claim.scope };
  try {
    const outcome = await handleCommand(
      sigid.log,
      reservationAggregate,
      id,
      { type: 'claim', kind: claim.kind, value: claim.value, owner_id: claim.ownerId },
      write,
    );
    return { ownerId: claim.ownerId, adopted: false, written: outcome };
  } catch (error) {
    if (!(error instanceof ConflictError) || !(claim.ownerExists || claim.ownerDeleted)) throw error;
    const history = await sigid.log.readStream(reservationAggregate.stream(claim.scope, id));
    const last = history.at(-1);
    if (claim.ownerDeleted) {
      const holder = holderOf(history);
      if (last && holder && (await claim.ownerDeleted(holder))) {
        const outcome = await handleCommand(
          sigid.log,
          reservationAggregate,
          id,
          [
            { type: 'release', owner_id: holder },
            { type: 'claim', kind: claim.kind, value: claim.value, owner_id: claim.ownerId },
          ],
          // Pinned to what was read: of two claimants taking it over, one wins, the other is refused.
          { ...write, ifMatch: last.revision },
        ).catch((failure: unknown) => {
          throw failure instanceof PreconditionFailedError ? error : failure;
        });
        return { ownerId: claim.ownerId, adopted: false, written: outcome };
      }
    }
    if (!claim.ownerExists) throw error;
    const orphan = await orphanOwner(history, claim.ownerExists);
    if (!orphan || !last || Date.now() - last.time.getTime() < ORPHAN_AFTER_MS) throw error;
    return { ownerId: orphan, adopted: true, written: { position: null, types: [] } };
  }
}

/** The owner holding the reservation at the end of its history, or null when it is free. */
function holderOf(history: Awaited<ReturnType<Sigid['log']['readStream']>>): string | null {
  const state = history.reduce(
    (current, event) => reservationAggregate.decider.evolve(current, event as never),
    reservationAggregate.decider.initialState(),
  );
  return state.status === 'held' ? state.owner_id : null;
}

/** The owner the reservation's history ends with, when that owner was never created. */
async function orphanOwner(
  history: Awaited<ReturnType<Sigid['log']['readStream']>>,
  ownerExists: (ownerId: string) => Promise<boolean>,
): Promise<string | null> {
  const holder = holderOf(history);
  if (holder === null) return null;
  return (await ownerExists(holder)) ? null : holder;
}

/** Gives a value up (a deleted user's e-mail, a deleted application's client_id), so it can be claimed again. */
export async function releaseReservation(
  sigid: Sigid,
  reservation: { scope: string; kind: ReservationKind; value: string; ownerId: string },
  context: Omit<WriteContext, 'tenantId'>,
): Promise<Written> {
  return handleCommand(
    sigid.log,
    reservationAggregate,
    reservationId(reservation.kind, reservation.value),
    { type: 'release', owner_id: reservation.ownerId },
    { ...context, tenantId: reservation.scope },
  );
}

/** Hands a value to another owner without it ever being free (an account merge, a verified domain moving). */
export async function transferReservation(
  sigid: Sigid,
  reservation: { scope: string; kind: ReservationKind; value: string; fromOwnerId: string; toOwnerId: string },
  context: Omit<WriteContext, 'tenantId'>,
): Promise<Written> {
  return handleCommand(
    sigid.log,
    reservationAggregate,
    reservationId(reservation.kind, reservation.value),
    { type: 'transfer', from_owner_id: reservation.fromOwnerId, to_owner_id: reservation.toOwnerId },
    { ...context, tenantId: reservation.scope },
  );
}
