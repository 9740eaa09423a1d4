import { describe, expect, it } from 'vitest';
import { signingKeysAggregate, signingKeysDecider } from '../commands/signing-keys.ts';
import { catalog } from '../events/catalog.ts';
import type { PublicJwk } from '../events/signing-key.ts';
import { specFor } from './support/given-when-then.ts';

const keys = specFor(signingKeysDecider);

const ec = (x: string): PublicJwk => ({ kty: 'EC', crv: 'P-256', x, y: `${x}y` });
const rsa = (n: string): PublicJwk => ({ kty: 'RSA', n, e: 'AQAB' });

const created = (kid: string, alg: 'ES256' | 'RS256', status: 'active' | 'next') => ({
  type: 'signing_key.created' as const,
  data: { kid, alg, use: 'sig' as const, public_jwk: alg === 'ES256' ? ec(kid) : rsa(kid), status },
});

const initialise = {
  type: 'initialise_keys' as const,
  keys: [
    {
      alg: 'ES256' as const,
      active: { kid: 'kid_es1', public_jwk: ec('kid_es1') },
      next: { kid: 'kid_es2', public_jwk: ec('kid_es2') },
    },
    {
      alg: 'RS256' as const,
      active: { kid: 'kid_rs1', public_jwk: rsa('kid_rs1') },
      next: { kid: 'kid_rs2', public_jwk: rsa('kid_rs2') },
    },
  ],
};
const initialised = [
  created('kid_es1', 'ES256', 'active'),
  created('kid_es2', 'ES256', 'next'),
  created('kid_rs1', 'RS256', 'active'),
  created('kid_rs2', 'RS256', 'next'),
];

const rotateEs = {
  type: 'rotate_keys' as const,
  alg: 'ES256' as const,
  next: { kid: 'kid_es3', public_jwk: ec('kid_es3') },
  retire_at: '2026-12-03T00:00:00.000Z',
};
const rotatedEs = [
  created('kid_es3', 'ES256', 'next'),
  { type: 'signing_key.activated' as const, data: { kid: 'kid_es2', alg: 'ES256' as const } },
  {
    type: 'signing_key.superseded' as const,
    data: { kid: 'kid_es1', alg: 'ES256' as const, superseded_by: 'kid_es2', retire_at: '2026-12-03T00:00:00.000Z' },
  },
];

describe('signing keys decider', () => {
  it('makes an active and a next key per algorithm, every event naming only public parts', () => {
    keys([]).when(initialise).thenEmits(initialised);
    for (const event of initialised) {
      expect(catalog.get(event.type).schema.parse(event.data)).toEqual(event.data);
    }
  });

  it('ignores a second initialisation: the first set stays, whoever made the second', () => {
    keys(initialised).when(initialise).thenEmits([]);
    keys(initialised)
      .when({
        type: 'initialise_keys',
        keys: [
          { alg: 'ES256', active: { kid: 'kid_x', public_jwk: ec('x') }, next: { kid: 'kid_y', public_jwk: ec('y') } },
        ],
      })
      .thenEmits([]);
  });

  it('rotates: the new next is published, the next signs, the active one retires at retire_at', () => {
    keys(initialised).when(rotateEs).thenEmits(rotatedEs);
    // A retried rotation (its next kid is known) records nothing, even after later rotations.
    keys([...initialised, ...rotatedEs])
      .when(rotateEs)
      .thenEmits([]);
  });

  it('rotates again: two keys of an algorithm may be retiring at once, each until its own retire_at', () => {
    const second = {
      type: 'rotate_keys' as const,
      alg: 'ES256' as const,
      next: { kid: 'kid_es4', public_jwk: ec('kid_es4') },
      retire_at: '2026-12-04T00:00:00.000Z',
    };
    keys([...initialised, ...rotatedEs])
      .when(second)
      .thenEmits([
        created('kid_es4', 'ES256', 'next'),
        { type: 'signing_key.activated', data: { kid: 'kid_es3', alg: 'ES256' } },
        {
          type: 'signing_key.superseded',
          data: { kid: 'kid_es2', alg: 'ES256', superseded_by: 'kid_es3', retire_at: '2026-12-04T00:00:00.000Z' },
        },
      ]);
    const state = [
      ...initialised,
      ...rotatedEs,
      ...signingKeysDecider.decide(second, fold([...initialised, ...rotatedEs])),
    ];
    expect(fold(state).keys.map((key) => [key.kid, key.status])).toEqual([
      ['kid_es1', 'retiring'],
      ['kid_es2', 'retiring'],
      ['kid_rs1', 'active'],
      ['kid_rs2', 'next'],
      ['kid_es3', 'active'],
      ['kid_es4', 'next'],
    ]);
  });

  it('retires retiring keys once their retire_at has come, and no others', () => {
    const history = [...initialised, ...rotatedEs];
    keys(history).when({ type: 'retire_expired_keys', now: '2026-12-02T23:59:59.999Z' }).thenEmits([]);
    const retired = { type: 'signing_key.retired' as const, data: { kid: 'kid_es1', alg: 'ES256' as const } };
    keys(history).when({ type: 'retire_expired_keys', now: '2026-12-03T00:00:00.000Z' }).thenEmits([retired]);
    keys([...history, retired])
      .when({ type: 'retire_expired_keys', now: '2027-01-01T00:00:00.000Z' })
      .thenEmits([]);
  });

  it('refuses to rotate a tenant without keys, and a key of the wrong type for its algorithm', () => {
    keys([]).when(rotateEs).thenThrows('not_found');
    expect(() =>
      signingKeysDecider.decide({ ...rotateEs, next: { kid: 'kid_bad', public_jwk: rsa('n') } }, fold(initialised)),
    ).toThrow(/not a key for ES256/);
  });

  it('keeps one stream per tenant', () => {
    expect(signingKeysAggregate.stream('ten_a', 'ten_a')).toBe('ten_a-signing_keys');
  });
});

describe('signing key events', () => {
  it('refuse a private member in the public JWK', () => {
    const schema = catalog.get('signing_key.created').schema;
    const data = created('kid_es1', 'ES256', 'active').data;
    expect(schema.safeParse(data).success).toBe(true);
    expect(schema.safeParse({ ...data, public_jwk: { ...data.public_jwk, d: 'secret' } }).success).toBe(false);
    expect(schema.safeParse({ ...data, public_jwk: { ...rsa('n'), d: 'x', p: 'y' } }).success).toBe(false);
  });
});

function fold(events: Parameters<typeof signingKeysDecider.evolve>[1][]) {
  return events.reduce((state, event) => signingKeysDecider.evolve(state, event), signingKeysDecider.initialState());
}
