import { CompactSign, type CryptoKey, exportJWK, generateKeyPair } from 'jose';
import type supertest from 'supertest';
import { expect } from 'vitest';
import { didKeyOf } from './multikey.ts';

type Http = ReturnType<typeof supertest>;

/**
 * Registers a new P-256 key for the agent, proving possession of it over a challenge's nonce as the
 * API asks; the key's `kid` (its RFC 7638 thumbprint) and its private half for `private_key_jwt`.
 */
export async function registerAgentKey(
  http: Http,
  authorization: string,
  agentId: string,
): Promise<{ kid: string; privateKey: CryptoKey }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const nonce = (await http.post(`/api/v1/agents/${agentId}/challenges`).set('Authorization', authorization).send({}))
    .body.nonce as string;
  const proof = await new CompactSign(new TextEncoder().encode(nonce))
    .setProtectedHeader({ alg: 'ES256' })
    .sign(privateKey);
  const registered = await http
    .post(`/api/v1/agents/${agentId}/keys`)
    .set('Authorization', authorization)
    .send({ jwk: await exportJWK(publicKey), challenge: nonce, proof });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  return { kid: registered.body.kid as string, privateKey };
}

/** Answers a challenge of the anchor with `sign(nonce)`; expects the anchor verified. */
export async function verifyAgentAnchor(
  http: Http,
  authorization: string,
  agentId: string,
  anchorId: string,
  sign: (nonce: string) => Promise<string>,
): Promise<void> {
  const challenge = await http
    .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/challenges`)
    .set('Authorization', authorization)
    .send({});
  expect(challenge.status, JSON.stringify(challenge.body)).toBe(201);
  const nonce = challenge.body.nonce as string;
  const verified = await http
    .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/verify`)
    .set('Authorization', authorization)
    .send({ challenge: nonce, proof: await sign(nonce) });
  expect(verified.status, JSON.stringify(verified.body)).toBe(200);
  expect(verified.body.status).toBe('verified');
}

/** Adds a did:key anchor (a new Ed25519 key) to the agent; verifies it by challenge–response unless `verify` is false. */
export async function anchorAgentWithDidKey(
  http: Http,
  authorization: string,
  agentId: string,
  verify = true,
): Promise<{ anchorId: string }> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const added = await http
    .post(`/api/v1/agents/${agentId}/anchors`)
    .set('Authorization', authorization)
    .send({ kind: 'did_key', did: didKeyOf(await exportJWK(publicKey)) });
  expect(added.status, JSON.stringify(added.body)).toBe(201);
  const anchorId = added.body.id as string;
  if (verify) {
    await verifyAgentAnchor(http, authorization, agentId, anchorId, (nonce) =>
      new CompactSign(new TextEncoder().encode(nonce)).setProtectedHeader({ alg: 'EdDSA' }).sign(privateKey),
    );
  }
  return { anchorId };
}
