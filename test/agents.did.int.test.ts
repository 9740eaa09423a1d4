import {
  CompactSign,
  type CryptoKey,
  createLocalJWKSet,
  exportJWK,
  flattenedVerify,
  generateKeyPair,
  type JWK,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/agents/documents.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Tenant = Awaited<ReturnType<TestSigid['createTenant']>>;

/**
 * An agent's hosted did:web document (`/t/{slug}/agents/{id}/did.json` for
 * `did:web:{host}:t:{slug}:agents:{id}`) and its signed agent card, read as a resolver or a peer
 * would, without auth: active keys are verification and authentication methods, a deprecated one a
 * verification method only, a revoked one gone on the very next read; a deleted agent's document is
 * 404; the card is published only when opted in, and verifies with the tenant issuer's keys.
 */
describe('agent DID documents and agent cards', () => {
  let t: TestSigid;
  let tenant: Tenant;
  const publicUrl = 'https://id.example.com:8443';

  beforeAll(async () => {
    t = await startSigid({ config: { publicUrl } });
    tenant = await t.createTenant('DIDs');
  });
  afterAll(async () => {
    await t?.close();
  });

  const authz = () => `Bearer ${tenant.key}`;

  async function agent(extra: Record<string, unknown> = {}) {
    const organization = await t.http
      .post('/api/v1/organizations')
      .set('Authorization', authz())
      .send({ name: `team-${Math.random().toString(36).slice(2, 10)}` })
      .expect(201);
    const created = await t.http
      .post('/api/v1/agents')
      .set('Authorization', authz())
      .send({
        name: 'Research agent',
        description: 'Reads papers',
        owner: { type: 'organization', id: organization.body.id },
        ...extra,
      })
      .expect(201);
    return created.body as { id: string; did: string };
  }

  async function registerKey(agentId: string, alg: 'ES256' | 'Ed25519') {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const nonce = (
      await t.http.post(`/api/v1/agents/${agentId}/challenges`).set('Authorization', authz()).send({}).expect(201)
    ).body.nonce as string;
    const proof = await new CompactSign(new TextEncoder().encode(nonce))
      .setProtectedHeader({ alg })
      .sign(privateKey as CryptoKey);
    const registered = await t.http
      .post(`/api/v1/agents/${agentId}/keys`)
      .set('Authorization', authz())
      .send({ jwk: await exportJWK(publicKey), challenge: nonce, proof })
      .expect(201);
    return registered.body as { kid: string; jwk: JWK };
  }

  const document = (agentId: string) => t.http.get(`/t/${tenant.slug}/agents/${agentId}/did.json`);

  it('serves did:web:{host}:t:{slug}:agents:{id} with the active keys; a revoked key leaves it at once', async () => {
    const bot = await agent();
    const did = `did:web:id.example.com%3A8443:t:${tenant.slug}:agents:${bot.id}`;
    expect(bot.did).toBe(did);
    const ec = await registerKey(bot.id, 'ES256');
    const ed = await registerKey(bot.id, 'Ed25519');
    const served = await document(bot.id).expect(200);
    expect(served.headers['content-type']).toMatch(/^application\/did\+json/);
    expect(served.headers['cache-control']).toBe('no-store');
    const body = JSON.parse(served.text);
    expect(body).toMatchObject({
      '@context': expect.arrayContaining(['https://www.w3.org/ns/did/v1']),
      id: did,
      controller: did,
    });
    expect(body.verificationMethod).toEqual(
      [ec, ed].map((key) => ({
        id: `${did}#${key.kid}`,
        type: 'JsonWebKey2020',
        controller: did,
        publicKeyJwk: key.jwk,
      })),
    );
    expect(body.authentication).toEqual([`${did}#${ec.kid}`, `${did}#${ed.kid}`]);
    expect(body.assertionMethod).toEqual(body.authentication);
    expect(JSON.stringify(body)).not.toContain('"d"');

    // Deprecated: still a verification method, no longer for authentication.
    await t.http
      .post(`/api/v1/agents/${bot.id}/keys/${ed.kid}/deprecate`)
      .set('Authorization', authz())
      .send({})
      .expect(200);
    const deprecated = JSON.parse((await document(bot.id).expect(200)).text);
    expect(deprecated.verificationMethod.map((method: { id: string }) => method.id)).toEqual([
      `${did}#${ec.kid}`,
      `${did}#${ed.kid}`,
    ]);
    expect(deprecated.authentication).toEqual([`${did}#${ec.kid}`]);

    // Revoked: gone from the next read after the answer.
    await t.http
      .post(`/api/v1/agents/${bot.id}/keys/${ec.kid}/revoke`)
      .set('Authorization', authz())
      .send({})
      .expect(204);
    const revoked = JSON.parse((await document(bot.id).expect(200)).text);
    expect(revoked.verificationMethod.map((method: { id: string }) => method.id)).toEqual([`${did}#${ed.kid}`]);
    expect(revoked.authentication).toEqual([]);

    // Deleted: no document, and the bare or mistyped paths name nothing.
    await t.http.delete(`/api/v1/agents/${bot.id}`).set('Authorization', authz()).expect(204);
    expect((await document(bot.id)).status).toBe(404);
    expect((await t.http.get(`/t/${tenant.slug}/agents/agt_nope/did.json`)).status).toBe(404);
    expect((await t.http.get(`/t/no-such-tenant/agents/${bot.id}/did.json`)).status).toBe(404);
  });

  it('publishes a signed agent card only for an agent that opted in', async () => {
    const quiet = await agent();
    const absent = await t.http.get(`/t/${tenant.slug}/agents/${quiet.id}/agent-card.json`);
    expect([absent.status, absent.body.code]).toEqual([404, 'not_found']);

    const bot = await agent({ agent_card: { enabled: true, url: 'https://agents.example.com/research' } });
    const card = (await t.http.get(`/t/${tenant.slug}/agents/${bot.id}/agent-card.json`).expect(200)).body;
    const issuer = `${publicUrl}/t/${tenant.slug}`;
    expect(card).toMatchObject({
      name: 'Research agent',
      description: 'Reads papers',
      url: 'https://agents.example.com/research',
      authorization_server: issuer,
      did: bot.did,
      agent_id: bot.id,
      securitySchemes: { sigid: { type: 'oauth2', flows: { clientCredentials: { tokenUrl: `${issuer}/token` } } } },
    });
    // The signature: a detached JWS over the card's canonical form without `signatures`, by the issuer's key.
    const { signatures, ...unsigned } = card;
    expect(signatures).toHaveLength(1);
    const jwks = (await t.http.get(`/t/${tenant.slug}/jwks`).expect(200)).body;
    const verified = await flattenedVerify(
      {
        protected: signatures[0].protected,
        signature: signatures[0].signature,
        payload: Buffer.from(canonicalJson(unsigned)).toString('base64url'),
      },
      createLocalJWKSet(jwks),
    );
    expect(verified.protectedHeader).toMatchObject({ alg: 'ES256', jku: `${issuer}/jwks` });
    // A changed card does not verify with the old signature.
    await expect(
      flattenedVerify(
        {
          protected: signatures[0].protected,
          signature: signatures[0].signature,
          payload: Buffer.from(canonicalJson({ ...unsigned, name: 'Someone else' })).toString('base64url'),
        },
        createLocalJWKSet(jwks),
      ),
    ).rejects.toThrow();

    // Opted out again: gone.
    await t.http
      .patch(`/api/v1/agents/${bot.id}`)
      .set('Authorization', authz())
      .send({ agent_card: { enabled: false } })
      .expect(200);
    expect((await t.http.get(`/t/${tenant.slug}/agents/${bot.id}/agent-card.json`)).status).toBe(404);
  });
});
