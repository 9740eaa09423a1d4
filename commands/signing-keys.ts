import type { PublicJwk, SigningAlg, SigningKeyEvent } from '../events/signing-key.ts';
import { jwkFitsAlg } from '../events/signing-key.ts';
import { NotFoundError } from '../src/errors.ts';
import { streamName } from '../src/event-store/port.ts';
import { defineAggregate } from './aggregate.ts';
import type { Decider } from './decider.ts';

/**
 * Where a key is in its life: `next` (published, not signing yet) → `active` (signs) → `retiring`
 * (published until `retire_at`, no longer signs) → `retired` (gone, its private part destroyed).
 */
export type SigningKeyStatus = 'next' | 'active' | 'retiring' | 'retired';

/** A key made by the caller: its private part is already sealed under `kid`; only the public JWK comes here. */
export interface NewSigningKey {
  kid: string;
  public_jwk: PublicJwk;
}

export type SigningKeysCommand =
  /**
   * Makes a tenant's first keys: per algorithm an active one and a next one. A tenant that has keys
   * already keeps them and nothing is recorded (a retry, or a second process that lost the race).
   */
  | { type: 'initialise_keys'; keys: Array<{ alg: SigningAlg; active: NewSigningKey; next: NewSigningKey }> }
  /**
   * Rotates one algorithm: its next key becomes active, its active key retires at `retire_at`, and
   * `next` becomes its next key. A `next` whose kid is known already was rotated in (a retry): nothing.
   */
  | { type: 'rotate_keys'; alg: SigningAlg; next: NewSigningKey; retire_at: string }
  /** Retires every retiring key whose `retire_at` is at or before `now`. */
  | { type: 'retire_expired_keys'; now: string };

export interface SigningKeyState {
  kid: string;
  alg: SigningAlg;
  status: SigningKeyStatus;
  public_jwk: PublicJwk;
  retire_at: string | null;
}

/** Every key the tenant ever had, retired ones included (so a retried rotation is known), oldest first. */
export interface SigningKeysState {
  keys: SigningKeyState[];
}

const withStatus = (state: SigningKeysState, kid: string, change: Partial<SigningKeyState>): SigningKeysState => ({
  keys: state.keys.map((key) => (key.kid === kid ? { ...key, ...change } : key)),
});

function created(alg: SigningAlg, key: NewSigningKey, status: 'active' | 'next'): SigningKeyEvent {
  // The caller derived the public JWK from the sealed private key; one of another type is a bug there.
  if (!jwkFitsAlg(alg, key.public_jwk)) throw new Error(`signing key ${key.kid} is not a key for ${alg}`);
  return { type: 'signing_key.created', data: { kid: key.kid, alg, use: 'sig', public_jwk: key.public_jwk, status } };
}

export const signingKeysDecider: Decider<SigningKeysCommand, SigningKeysState, SigningKeyEvent> = {
  initialState: () => ({ keys: [] }),

  evolve(state, event) {
    switch (event.type) {
      case 'signing_key.created':
        return {
          keys: [
            ...state.keys,
            {
              kid: event.data.kid,
              alg: event.data.alg,
              status: event.data.status,
              public_jwk: event.data.public_jwk,
              retire_at: null,
            },
          ],
        };
      case 'signing_key.activated':
        return withStatus(state, event.data.kid, { status: 'active' });
      case 'signing_key.superseded':
        return withStatus(state, event.data.kid, { status: 'retiring', retire_at: event.data.retire_at });
      case 'signing_key.retired':
        return withStatus(state, event.data.kid, { status: 'retired' });
      default: {
        const unhandled: never = event;
        return unhandled;
      }
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'initialise_keys':
        if (state.keys.length > 0) return [];
        return command.keys.flatMap(({ alg, active, next }) => [
          created(alg, active, 'active'),
          created(alg, next, 'next'),
        ]);
      case 'rotate_keys': {
        if (state.keys.some((key) => key.kid === command.next.kid)) return [];
        const { alg } = command;
        const active = state.keys.find((key) => key.alg === alg && key.status === 'active');
        const next = state.keys.find((key) => key.alg === alg && key.status === 'next');
        if (!active || !next) throw new NotFoundError(`The ${alg} signing keys`);
        return [
          created(alg, command.next, 'next'),
          { type: 'signing_key.activated', data: { kid: next.kid, alg } },
          {
            type: 'signing_key.superseded',
            data: { kid: active.kid, alg, superseded_by: next.kid, retire_at: command.retire_at },
          },
        ];
      }
      case 'retire_expired_keys': {
        const now = Date.parse(command.now);
        return state.keys
          .filter((key) => key.status === 'retiring' && key.retire_at !== null && Date.parse(key.retire_at) <= now)
          .map((key) => ({ type: 'signing_key.retired', data: { kid: key.kid, alg: key.alg } }));
      }
      default: {
        const unhandled: never = command;
        return unhandled;
      }
    }
  },
};

/** The instance id of a tenant's signing keys: one stream per tenant, `{tenant_id}-signing_keys`. */
export const SIGNING_KEYS = 'signing_keys';

/**
 * A tenant's signing keys, every algorithm in one stream (`{tenant_id}-signing_keys`), so that a
 * rotation of all of them is one atomic append. Commands take the tenant id as the instance id.
 */
export const signingKeysAggregate = defineAggregate('signing_keys', signingKeysDecider, (tenantId) =>
  streamName(tenantId, SIGNING_KEYS),
);
