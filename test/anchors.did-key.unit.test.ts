import { CompactSign, exportJWK, type GenerateKeyPairResult, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { anchorPolicyContext, parseDidKey, verifyDidKey } from '../src/agents/anchors/index.ts';
import { didKeyOf, multibaseOf } from './support/multikey.ts';

const challenge = 'sigid-anchor-challenge:agt_01J0:anc_01J0:2026-12-03T08:00:00Z:nonce-7f3a';

type Key = { privateKey: GenerateKeyPairResult['privateKey']; jwk: JWK; did: string };
let ed25519: Key;
let p256: Key;
let otherEd25519: Key;

async function keyOf(alg: 'EdDSA' | 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, did: didKeyOf(jwk) };
}

const sign = (key: Key, alg: string, payload = challenge, header: Record<string, unknown> = {}) =>
  new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg, ...header }).sign(key.privateKey);

beforeAll(async () => {
  ed25519 = await keyOf('EdDSA');
  p256 = await keyOf('ES256');
  otherEd25519 = await keyOf('EdDSA');
});

describe('did:key: parsing the DID into its public key', () => {
  it('decodes the did:key specification test vectors', () => {
    expect(parseDidKey('did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp')).toMatchObject({
      ok: true,
      value: {
        keyType: 'Ed25519',
        keyId:
          'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp',
        publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik' },
      },
    });
    expect(parseDidKey('did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169')).toMatchObject({
      ok: true,
      value: {
        keyType: 'P-256',
        publicJwk: {
          kty: 'EC',
          crv: 'P-256',
          x: 'fyNYMN0976ci7xqiSdag3buk-ZCwgXU4kz9XNkBlNUI',
          y: 'hW2ojTNfH7Jbi8--CJUo3OCbH3y5n91g-IMA9MLMbTU',
        },
      },
    });
  });

  it('round-trips generated Ed25519 and P-256 keys (both y parities of P-256 over a few keys)', async () => {
    expect(parseDidKey(ed25519.did)).toMatchObject({ ok: true, value: { publicJwk: ed25519.jwk } });
    for (let round = 0; round < 6; round++) {
      const key = await keyOf('ES256');
      expect(parseDidKey(key.did)).toMatchObject({ ok: true, value: { keyType: 'P-256', publicJwk: key.jwk } });
    }
    expect(parseDidKey(`${ed25519.did}#${ed25519.did.slice(8)}`)).toMatchObject({
      ok: true,
      value: { did: ed25519.did },
    });
  });

  it.each([
    ['not a string', 42],
    ['another method', 'did:web:example.com'],
    ['no multibase z', 'did:key:u7QE'],
    ['not base58', 'did:key:z6Mk0OIl'],
    ['empty key', 'did:key:z'],
    ['a fragment naming another key', 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#key-1'],
    ['a path', 'did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp/path'],
    ['a short Ed25519 key', `did:key:${multibaseOf([0xed, 0x01], new Uint8Array(31).fill(7))}`],
    [
      'a P-256 point off the curve',
      `did:key:${multibaseOf([0x80, 0x24], Uint8Array.from([0x02, ...new Uint8Array(32).fill(0xff)]))}`,
    ],
    [
      'an uncompressed P-256 point',
      `did:key:${multibaseOf([0x80, 0x24], Uint8Array.from([0x04, ...new Uint8Array(64).fill(1)]))}`,
    ],
    ['far too long', `did:key:z${'6'.repeat(400)}`],
  ])('refuses %s as malformed_did', (_what, did) => {
    expect(parseDidKey(did)).toMatchObject({ ok: false, code: 'malformed_did' });
  });

  it.each([
    ['X25519 (0xec01)', [0xec, 0x01], 32],
    ['secp256k1 (0xe701)', [0xe7, 0x01], 33],
    ['P-384 (0x8124)', [0x81, 0x24], 49],
    ['RSA (0x8524)', [0x85, 0x24], 140],
  ])('refuses %s keys as unsupported_key_type', (_what, prefix, length) => {
    const did = `did:key:${multibaseOf(prefix as number[], new Uint8Array(length as number).fill(2))}`;
    expect(parseDidKey(did)).toMatchObject({ ok: false, code: 'unsupported_key_type' });
  });
});

describe('did:key: challenge-response with a compact JWS', () => {
  it('accepts an EdDSA JWS by the Ed25519 key and an ES256 JWS by the P-256 key, over the challenge', async () => {
    expect(await verifyDidKey(ed25519.did, challenge, await sign(ed25519, 'EdDSA'))).toMatchObject({
      ok: true,
      value: { did: ed25519.did, keyType: 'Ed25519', alg: 'EdDSA' },
    });
    const withKid = await sign(p256, 'ES256', challenge, { kid: `${p256.did}#${p256.did.slice(8)}` });
    expect(await verifyDidKey(p256.did, challenge, withKid)).toMatchObject({
      ok: true,
      value: { keyType: 'P-256', alg: 'ES256' },
    });
  });

  it('refuses a JWS whose payload is not the challenge', async () => {
    expect(await verifyDidKey(ed25519.did, challenge, await sign(ed25519, 'EdDSA', `${challenge}x`))).toMatchObject({
      ok: false,
      code: 'challenge_mismatch',
    });
  });

  it("refuses another key's signature", async () => {
    expect(await verifyDidKey(ed25519.did, challenge, await sign(otherEd25519, 'EdDSA'))).toMatchObject({
      ok: false,
      code: 'bad_signature',
    });
  });

  it('refuses an algorithm that is not the key’s, and alg none', async () => {
    expect(await verifyDidKey(p256.did, challenge, await sign(ed25519, 'EdDSA'))).toMatchObject({
      ok: false,
      code: 'unsupported_algorithm',
    });
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(challenge).toString('base64url')}.AA`;
    expect(await verifyDidKey(ed25519.did, challenge, unsigned)).toMatchObject({
      ok: false,
      code: 'unsupported_algorithm',
    });
    const hs256 = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(challenge).toString('base64url')}.AA`;
    expect(await verifyDidKey(ed25519.did, challenge, hs256)).toMatchObject({
      ok: false,
      code: 'unsupported_algorithm',
    });
  });

  it('refuses a kid naming another DID', async () => {
    const proof = await sign(ed25519, 'EdDSA', challenge, { kid: `${otherEd25519.did}#key` });
    expect(await verifyDidKey(ed25519.did, challenge, proof)).toMatchObject({
      ok: false,
      code: 'verification_method_not_found',
    });
  });

  it.each([
    ['not a string', { jws: 1 }],
    ['not compact', 'a.b'],
    ['JSON serialization', '{"payload":"x","signatures":[]}'],
    ['a header that is not JSON', `${Buffer.from('nope').toString('base64url')}.e30.AA`],
    ['too long', `eyJhbGciOiJFZERTQSJ9.${'A'.repeat(20_000)}.AA`],
  ])('refuses a proof that is %s as malformed_proof', async (_what, proof) => {
    expect(await verifyDidKey(ed25519.did, challenge, proof)).toMatchObject({ ok: false, code: 'malformed_proof' });
  });

  it('never echoes the proof in a refusal message', async () => {
    const proof = await sign(otherEd25519, 'EdDSA');
    const result = await verifyDidKey(ed25519.did, challenge, proof);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).not.toContain(proof.split('.')[2]);
  });
});

describe('anchorPolicyContext: what Cedar sees of an anchor', () => {
  const now = new Date('2026-12-03T08:00:00Z');

  it('gives the kind and the whole seconds since verification', () => {
    expect(anchorPolicyContext({ kind: 'did_web', verifiedAt: new Date('2026-12-03T07:58:19.600Z') }, now)).toEqual({
      anchor_kind: 'did_web',
      anchor_verified: true,
      verified_at_age_seconds: 100,
    });
  });

  it('leaves the age out (Cedar has no null) when never verified or revoked', () => {
    expect(anchorPolicyContext({ kind: 'erc8004', verifiedAt: null }, now)).toEqual({
      anchor_kind: 'erc8004',
      anchor_verified: false,
    });
    const revoked = {
      kind: 'did_key' as const,
      verifiedAt: new Date('2026-12-01T00:00:00Z'),
      revokedAt: new Date('2026-12-02T00:00:00Z'),
    };
    expect(anchorPolicyContext(revoked, now)).toEqual({ anchor_kind: 'did_key', anchor_verified: false });
    // a revocation scheduled for later does not count yet
    expect(anchorPolicyContext({ ...revoked, revokedAt: new Date('2026-12-04T00:00:00Z') }, now)).toMatchObject({
      anchor_verified: true,
    });
  });

  it('never gives a negative age for a clock that ran behind', () => {
    expect(
      anchorPolicyContext({ kind: 'client_credentials', verifiedAt: new Date('2026-12-03T08:00:05Z') }, now),
    ).toMatchObject({
      verified_at_age_seconds: 0,
    });
  });
});
