import type { ReservationEvent } from '../events/reservation.ts';
import type { TenantEvent } from '../events/tenant.ts';
import { ConflictError, NotFoundError } from '../src/errors.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

/**
 * The kinds of value SigID keeps unique, each with its normalisation and the error a second claimant
 * gets. Only public values may be reserved as they are: a kind whose values are personal data
 * (e-mail addresses, usernames) must reserve a keyed hash of the value, never the value itself, since
 * stream names and reservation events cannot be crypto-shredded.
 */
export const reservationKinds = {
  /** A tenant's slug, platform-wide: part of its issuer URL, permanent. */
  slug: { normalise: (value: string) => value.toLowerCase(), taken: 'slug_taken' },
  /** An account's e-mail address, platform-wide: reserved as a keyed hash (`emailKey`), never as the address. */
  email: { normalise: (value: string) => value, taken: 'email_taken' },
  /** An application's OAuth client_id, within its tenant: case-sensitive (RFC 6749), as given. */
  client_id: { normalise: (value: string) => value, taken: 'client_id_taken' },
  /** An API's identifier (its RFC 8707 resource, its tokens' `aud`), within its tenant: exact, as given. */
  api_identifier: { normalise: (value: string) => value, taken: 'identifier_taken' },
  /** An organization's name, within its tenant: lowercase already (the API accepts no other), compared as is. */
  organization_name: { normalise: (value: string) => value.toLowerCase(), taken: 'organization_name_taken' },
  /** A verified organization domain, within its tenant: normalised (lowercase A-label) before it gets here. */
  organization_domain: { normalise: (value: string) => value.toLowerCase(), taken: 'domain_taken' },
  /** A role's name, within its tenant: case-insensitive (`Admin` and `admin` are one name). */
  role_name: { normalise: (value: string) => value.toLowerCase(), taken: 'role_name_taken' },
  /**
   * A signed e-mail link's id (its message's id, `eml_…`), per tenant: claimed when the link is used,
   * so it works once in any process (`consumeLink` in services/email.ts). Ids are random, not personal.
   */
  email_link: { normalise: (value: string) => value, taken: 'link_used' },
  /**
   * A person's identity at a tenant's SSO connection (connection, IdP issuer, IdP `sub`), platform-wide,
   * owned by the SigID account it signs in as: reserved as a keyed hash (`identityKey`), never the IdP's sub.
   */
  federated_identity: { normalise: (value: string) => value, taken: 'identity_linked' },
  /**
   * An identity anchored to an agent (a DID, `eip155:<chain>:<registry>#<agent id>`, a key's
   * thumbprint), within its tenant, owned by the agent: public values, compared as given.
   */
  agent_anchor: { normalise: (value: string) => value, taken: 'anchor_taken' },
} as const satisfies Record<string, { normalise: (value: string) => string; taken: string }>;

export type ReservationKind = keyof typeof reservationKinds;

export type ReservationCommand =
  /** Claims the value for `owner_id`; a no-op when that owner holds it already. */
  | { type: 'claim'; kind: ReservationKind; value: string; owner_id: string }
  /** Gives the value up, so it can be claimed again; only its owner may. */
  | { type: 'release'; owner_id: string }
  /** Hands the value to another owner without it ever being free. */
  | { type: 'transfer'; from_owner_id: string; to_owner_id: string };

export type ReservationState = { status: 'free' } | { status: 'held'; kind: string; value: string; owner_id: string };

/** Before the reservation module, a slug's stream held `tenant.slug.reserved`: still read as a claim. */
type ReservationStreamEvent = ReservationEvent | Extract<TenantEvent, { type: 'tenant.slug.reserved' }>;

export const reservationDecider: Decider<ReservationCommand, ReservationState, ReservationStreamEvent> = {
  initialState: () => ({ status: 'free' }),

  evolve(state, event) {
    switch (event.type) {
      case 'tenant.slug.reserved':
        return { status: 'held', kind: 'slug', value: event.data.slug, owner_id: event.data.tenant_id };
      case 'reservation.claimed':
        return { status: 'held', kind: event.data.kind, value: event.data.value, owner_id: event.data.owner_id };
      case 'reservation.released':
        return { status: 'free' };
      case 'reservation.transferred':
        return state.status === 'held' ? { ...state, owner_id: event.data.to_owner_id } : state;
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'claim':
        if (state.status === 'held') {
          if (state.owner_id === command.owner_id) return [];
          throw new ConflictError(
            reservationKinds[command.kind].taken,
            `The ${command.kind} "${command.value}" is already taken.`,
          );
        }
        return [
          {
            type: 'reservation.claimed',
            data: { kind: command.kind, value: command.value, owner_id: command.owner_id },
          },
        ];
      case 'release':
        if (state.status !== 'held' || state.owner_id !== command.owner_id) throw new NotFoundError('The reservation');
        return [
          {
            type: 'reservation.released',
            data: { kind: state.kind, value: state.value, owner_id: state.owner_id },
          },
        ];
      case 'transfer':
        if (state.status !== 'held' || state.owner_id !== command.from_owner_id) {
          throw new NotFoundError('The reservation');
        }
        if (command.to_owner_id === state.owner_id) return [];
        return [
          {
            type: 'reservation.transferred',
            data: {
              kind: state.kind,
              value: state.value,
              from_owner_id: state.owner_id,
              to_owner_id: command.to_owner_id,
            },
          },
        ];
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/**
 * Reservations: instance id `{kind}.{normalised value}` within a scope (a tenant id, or `platform`),
 * so the stream is `{scope}-{kind}.{value}` — for slugs the very streams that held
 * `tenant.slug.reserved` before this module existed.
 */
export const reservationAggregate = defineAggregate('reservation', reservationDecider);

/** The instance id of a reservation: its kind and its normalised value. */
export function reservationId(kind: ReservationKind, value: string): string {
  return `${kind}.${reservationKinds[kind].normalise(value)}`;
}
