import { CompactSign, type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { CHALLENGE_TTL_MS } from '../src/agents/challenges.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;

type Tenant = { tenantId: string; slug: string; key: string };

/**
 * `/api/v1/agents` and `/api/v1/agents/{id}/keys` over HTTP against a real SigID (PGlite): agents
 * owned by a tenant's user or organization, with allowed scopes checked against the tenant's APIs;
 * keys registered with a proof of possession over a single-use challenge; deprecate, revoke,
 * suspend (and revoke every key in the same write), delete. Every change is in the audit log; bad
 * input is a clear 4xx that writes nothing; another tenant's agent is a 404.
 */
describe('agents API', () => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  let apiId: string;
  let ada: string;
  let organizationId: string;
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;
  const identifier = 'https://billing.example.com/api';
  const scopes = [
    { value: 'invoices:read', description: 'Read invoices' },
    { value: 'invoices:write', description: 'Create and change invoices' },
  ];

  async function user(email: string, who: Tenant): Promise<string> {
    const context = useCase({
      tenantId: PLATFORM_TENANT,
      actor: { type: 'system', id: 'test' },
      correlationId: 'test',
    });
    const signedUp = await signUpWithPassword(t.sigid, { email, password: 'correct horse battery staple' }, context);
    if (signedUp.status !== 'created') throw new Error(`${email} exists`);
    const linked = await linkAccount(t.sigid, signedUp.accountId, who.tenantId, context);
    if (linked.written.position !== null) await t.sigid.projections.waitFor(linked.written.position);
    return linked.sub;
  }

  beforeAll(async () => {
    t = await startSigid();
    tenant = await t.createTenant('Agents');
    other = await t.createTenant('Someone else');
    const api = await t.http
      .post('/api/v1/apis')
      .set('Authorization', auth())
      .send({ name: 'Billing', identifier, scopes })
      .expect(201);
    apiId = api.body.id;
    ada = await user('ada@agents.example', tenant);
    const organization = await t.http
      .post('/api/v1/organizations')
      .set('Authorization', auth())
      .send({ name: 'acme', display_name: 'Acme' })
      .expect(201);
    organizationId = organization.body.id;
  });
  afterAll(async () => {
    await t?.close();
  });

  async function count(sql: string, parameters: unknown[] = []): Promise<number> {
    const { rows } = await t.sigid.db.query<{ count: number }>(sql, parameters);
    return rows[0]?.count ?? 0;
  }
  const footprint = async () => ({
    events: await count('select count(*)::int as count from sigid_events'),
    agents: await count('select count(*)::int as count from agents'),
    keys: await count('select count(*)::int as count from agent_keys'),
  });

  const createAgent = (body: Record<string, unknown>, who: Tenant = tenant) =>
    t.http.post('/api/v1/agents').set('Authorization', auth(who)).send(body);

  async function newAgent(extra: Record<string, unknown> = {}) {
    const created = await createAgent({ name: 'Bookkeeper', owner: { type: 'user', id: ada }, ...extra });
    expect(created.status).toBe(201);
    return created.body.id as string;
  }

  async function challenge(agentId: string, who: Tenant = tenant): Promise<string> {
    const issued = await t.http
      .post(`/api/v1/agents/${agentId}/challenges`)
      .set('Authorization', auth(who))
      .send({})
      .expect(201);
    return issued.body.nonce as string;
  }

  async function keyPair(alg: 'ES256' | 'Ed25519' = 'ES256') {
    const pair = await generateKeyPair(alg, { extractable: true });
    return { ...pair, jwk: await exportJWK(pair.publicKey), alg };
  }

  const sign = (nonce: string, privateKey: CryptoKey, alg: string) =>
    new CompactSign(new TextEncoder().encode(nonce)).setProtectedHeader({ alg }).sign(privateKey);

  async function register(agentId: string, key: { jwk: JWK; privateKey: CryptoKey; alg: string }) {
    const nonce = await challenge(agentId);
    return t.http
      .post(`/api/v1/agents/${agentId}/keys`)
      .set('Authorization', auth())
      .send({ jwk: key.jwk, challenge: nonce, proof: await sign(nonce, key.privateKey, key.alg) });
  }

  it('creates, reads, lists, changes and deletes an agent; each change is in the audit log', async () => {
    const created = await createAgent({
      name: 'Bookkeeper',
      description: 'Files invoices',
      owner: { type: 'user', id: ada },
      allowed_scopes: [{ api_id: apiId, scopes: ['invoices:read', 'invoices:write', 'invoices:read'] }],
      delegation: { scopes: ['invoices:read'], audiences: [identifier], max_lifetime_seconds: 600 },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.headers.location).toBe(`/api/v1/agents/${id}`);
    expect(created.headers.etag).toBe('"0"');
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^agt_[0-9a-z]{26}$/),
      object: 'agent',
      name: 'Bookkeeper',
      description: 'Files invoices',
      owner: { type: 'user', id: ada },
      status: 'active',
      allowed_scopes: [{ api_id: apiId, scopes: ['invoices:read', 'invoices:write'] }],
      delegation: { scopes: ['invoices:read'], audiences: [identifier], max_lifetime_seconds: 600, max_chain_depth: 1 },
      agent_card: { enabled: false, url: null },
      client_id: id,
      revision: 0,
    });
    expect(created.body.did).toMatch(new RegExp(`^did:web:[^:]+:t:${tenant.slug}:agents:${id}$`));
    expect((await t.http.get(`/api/v1/agents/${id}`).set('Authorization', auth()).expect(200)).body).toEqual(
      created.body,
    );
    const listed = await t.http.get('/api/v1/agents?limit=100').set('Authorization', auth()).expect(200);
    expect((listed.body.data as Array<{ id: string }>).map((row) => row.id)).toContain(id);

    const changed = await t.http
      .patch(`/api/v1/agents/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ name: 'Senior bookkeeper', owner: { type: 'organization', id: organizationId } })
      .expect(200);
    expect(changed.body).toMatchObject({
      name: 'Senior bookkeeper',
      owner: { type: 'organization', id: organizationId },
      revision: 1,
    });
    await t.http
      .patch(`/api/v1/agents/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ description: 'Lost update' })
      .expect(412);

    const suspended = await t.http
      .post(`/api/v1/agents/${id}/suspend`)
      .set('Authorization', auth())
      .send({ reason: 'odd behaviour' })
      .expect(200);
    expect(suspended.body.status).toBe('suspended');
    const reactivated = await t.http
      .post(`/api/v1/agents/${id}/reactivate`)
      .set('Authorization', auth())
      .send({})
      .expect(200);
    expect(reactivated.body.status).toBe('active');

    await t.http.delete(`/api/v1/agents/${id}`).set('Authorization', auth()).expect(204);
    await t.http.get(`/api/v1/agents/${id}`).set('Authorization', auth()).expect(404);
    await t.http.delete(`/api/v1/agents/${id}`).set('Authorization', auth()).expect(404);

    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${id}&order=asc`)
      .set('Authorization', auth())
      .expect(200);
    expect((audit.body.data as Array<{ action: string }>).map((entry) => entry.action)).toEqual([
      'agent.created',
      'agent.updated',
      'agent.suspended',
      'agent.reactivated',
      'agent.deleted',
    ]);
    expect(audit.body.data[0].target).toEqual({ type: 'agent', id });
  });

  it('registers Ed25519 and P-256 keys with a proof, kid = RFC 7638 thumbprint; deprecates and revokes them', async () => {
    const id = await newAgent();
    const ec = await keyPair('ES256');
    const ed = await keyPair('Ed25519');
    const registered = await register(id, ec);
    expect(registered.status).toBe(201);
    const kid = await calculateJwkThumbprint(ec.jwk, 'sha256');
    expect(registered.body).toMatchObject({
      object: 'agent_key',
      kid,
      agent_id: id,
      status: 'active',
      jwk: { kty: 'EC', crv: 'P-256', x: ec.jwk.x, y: ec.jwk.y, kid, alg: 'ES256', use: 'sig' },
    });
    expect(registered.headers.location).toBe(`/api/v1/agents/${id}/keys/${kid}`);
    const edRegistered = await register(id, ed);
    expect(edRegistered.status).toBe(201);
    expect(edRegistered.body.jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' });
    const edKid = edRegistered.body.kid as string;

    const keys = await t.http.get(`/api/v1/agents/${id}/keys`).set('Authorization', auth()).expect(200);
    expect((keys.body.data as Array<{ kid: string }>).map((key) => key.kid).sort()).toEqual([kid, edKid].sort());

    const deprecated = await t.http
      .post(`/api/v1/agents/${id}/keys/${kid}/deprecate`)
      .set('Authorization', auth())
      .send({})
      .expect(200);
    expect(deprecated.body.status).toBe('deprecated');
    await t.http.post(`/api/v1/agents/${id}/keys/${kid}/revoke`).set('Authorization', auth()).send({}).expect(204);
    await t.http.get(`/api/v1/agents/${id}/keys/${kid}`).set('Authorization', auth()).expect(404);
    // A revoked key is never registered again for the agent.
    const again = await register(id, ec);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('agent_key_revoked');

    // Suspending with revoke_keys revokes the rest in the same write.
    const before = await count(`select count(*)::int as count from sigid_events where stream_name = $1`, [
      `${tenant.tenantId}-${id}`,
    ]);
    await t.http
      .post(`/api/v1/agents/${id}/suspend`)
      .set('Authorization', auth())
      .send({ reason: 'incident', revoke_keys: true })
      .expect(200);
    const { rows } = await t.sigid.db.query<{ event_type: string }>(
      `select event_type from sigid_events where stream_name = $1 order by stream_revision offset $2`,
      [`${tenant.tenantId}-${id}`, before],
    );
    expect(rows.map((row) => row.event_type)).toEqual(['agent.suspended', 'agent.key.revoked']);
    expect((await t.http.get(`/api/v1/agents/${id}/keys`).set('Authorization', auth()).expect(200)).body.data).toEqual(
      [],
    );

    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${id}&order=asc`)
      .set('Authorization', auth())
      .expect(200);
    expect((audit.body.data as Array<{ action: string }>).map((entry) => entry.action)).toEqual([
      'agent.created',
      'agent.key.registered',
      'agent.key.registered',
      'agent.key.deprecated',
      'agent.key.revoked',
      'agent.suspended',
      'agent.key.revoked',
    ]);
    // The event holds the public key only.
    expect(JSON.stringify(audit.body.data)).not.toContain('"d"');
  });

  it('refuses bad agents with a clear 400 naming the field, and writes nothing', async () => {
    const theirs = await user('eve@agents.example', other);
    const before = await footprint();
    const cases: Array<[Record<string, unknown>, string, string?]> = [
      [{ owner: { type: 'user', id: ada } }, 'name'],
      [{ name: 'x', owner: { type: 'user', id: 'sub_00000000000000000000000000' } }, 'owner.id', 'unknown_user'],
      [
        { name: 'x', owner: { type: 'organization', id: 'org_00000000000000000000000000' } },
        'owner.id',
        'unknown_organization',
      ],
      [{ name: 'x', owner: { type: 'team', id: ada } }, 'owner.type'],
      [
        {
          name: 'x',
          owner: { type: 'user', id: ada },
          allowed_scopes: [{ api_id: 'api_00000000000000000000000000', scopes: [] }],
        },
        'allowed_scopes.0.api_id',
        'unknown_api',
      ],
      [
        {
          name: 'x',
          owner: { type: 'user', id: ada },
          allowed_scopes: [{ api_id: apiId, scopes: ['invoices:read', 'payroll:run'] }],
        },
        'allowed_scopes.0.scopes.1',
        'unknown_scope',
      ],
      [
        { name: 'x', owner: { type: 'user', id: ada }, delegation: { scopes: ['invoices:read'] } },
        'delegation.scopes.0',
        'outside_allowed_scopes',
      ],
      [
        {
          name: 'x',
          owner: { type: 'user', id: ada },
          allowed_scopes: [{ api_id: apiId, scopes: ['invoices:read'] }],
          delegation: { audiences: ['https://elsewhere.example.com/api'] },
        },
        'delegation.audiences.0',
        'outside_allowed_scopes',
      ],
      [
        { name: 'x', owner: { type: 'user', id: ada }, delegation: { max_lifetime_seconds: 0 } },
        'delegation.max_lifetime_seconds',
      ],
      [
        { name: 'x', owner: { type: 'user', id: ada }, agent_card: { enabled: true, url: 'http://plain.example' } },
        'agent_card.url',
      ],
      [{ name: 'x', owner: { type: 'user', id: ada }, status: 'active' }, ''],
    ];
    for (const [body, path, code] of cases) {
      const refused = await createAgent(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
      expect(refused.body.code).toBe('invalid_request');
      const issue = (refused.body.errors as Array<{ path: string; code: string }>).find((entry) => entry.path === path);
      expect(issue, `${JSON.stringify(body)} names ${path}: ${JSON.stringify(refused.body.errors)}`).toBeDefined();
      if (code) expect(issue?.code).toBe(code);
    }
    // Another tenant's user is no owner here.
    expect((await createAgent({ name: 'x', owner: { type: 'user', id: theirs } })).status).toBe(400);
    expect(await footprint()).toEqual(before);
  });

  it('refuses bad keys and proofs with clear 4xx codes, and registers nothing', async () => {
    const id = await newAgent();
    const ec = await keyPair('ES256');
    const nonce = await challenge(id);
    const proof = await sign(nonce, ec.privateKey, 'ES256');
    const before = await footprint();
    const post = (body: Record<string, unknown>) =>
      t.http.post(`/api/v1/agents/${id}/keys`).set('Authorization', auth()).send(body);
    const refusals: Array<[Record<string, unknown>, number, string, string?]> = [
      // A private JWK, refused outright.
      [{ jwk: await exportJWK(ec.privateKey), challenge: nonce, proof }, 422, 'private_key_refused'],
      // Malformed JWKs.
      [{ jwk: { kty: 'EC', crv: 'P-256', x: 'short' }, challenge: nonce, proof }, 400, 'invalid_request', 'jwk.x'],
      [{ jwk: { kty: 'RSA', n: 'abc', e: 'AQAB' }, challenge: nonce, proof }, 400, 'invalid_request', 'jwk.kty'],
      [{ jwk: { ...ec.jwk, crv: 'P-384' }, challenge: nonce, proof }, 400, 'invalid_request', 'jwk.crv'],
      // The wrong algorithm for the key.
      [{ jwk: { ...ec.jwk, alg: 'RS256' }, challenge: nonce, proof }, 400, 'invalid_request', 'jwk.alg'],
      [{ jwk: { ...ec.jwk, kid: 'my-key' }, challenge: nonce, proof }, 400, 'invalid_request', 'jwk.kid'],
      // A point that is not on the curve.
      [{ jwk: { ...ec.jwk, y: ec.jwk.x }, challenge: nonce, proof }, 400, 'invalid_request', 'jwk'],
      // Proofs: another key's signature, another payload, not a JWS, a challenge never issued.
      [
        { jwk: ec.jwk, challenge: nonce, proof: await sign(nonce, (await keyPair('ES256')).privateKey, 'ES256') },
        422,
        'proof_invalid',
      ],
      [
        { jwk: ec.jwk, challenge: nonce, proof: await sign('something else', ec.privateKey, 'ES256') },
        422,
        'proof_invalid',
      ],
      [{ jwk: ec.jwk, challenge: nonce, proof: 'not.a.jws' }, 422, 'proof_invalid'],
      [{ jwk: ec.jwk, challenge: 'A'.repeat(43), proof }, 422, 'challenge_unknown'],
    ];
    for (const [body, status, code, path] of refusals) {
      const refused = await post(body);
      expect(refused.status, JSON.stringify(body)).toBe(status);
      expect(refused.headers['content-type']).toMatch(problem);
      expect(refused.body.code, JSON.stringify(refused.body)).toBe(code);
      if (path) expect((refused.body.errors as Array<{ path: string }>).map((issue) => issue.path)).toContain(path);
      // The private key never comes back.
      expect(JSON.stringify(refused.body)).not.toContain(String((await exportJWK(ec.privateKey)).d));
    }
    expect(await footprint()).toEqual(before);

    // The challenge still works (a bad proof does not burn it), once.
    expect((await post({ jwk: ec.jwk, challenge: nonce, proof })).status).toBe(201);
    const replayed = await post({ jwk: ec.jwk, challenge: nonce, proof });
    expect([replayed.status, replayed.body.code]).toEqual([422, 'challenge_used']);

    // A challenge for another agent proves nothing for this one.
    const elsewhere = await newAgent();
    const theirNonce = await challenge(elsewhere);
    const other = await keyPair('ES256');
    const mismatch = await post({
      jwk: other.jwk,
      challenge: theirNonce,
      proof: await sign(theirNonce, other.privateKey, 'ES256'),
    });
    expect([mismatch.status, mismatch.body.code]).toEqual([422, 'challenge_mismatch']);

    // An expired challenge.
    const late = await challenge(id);
    await t.sigid.db.query(
      `update agent_challenges set expires_at = now() - interval '1 second' where tenant_id = $1`,
      [tenant.tenantId],
    );
    const expired = await post({ jwk: other.jwk, challenge: late, proof: await sign(late, other.privateKey, 'ES256') });
    expect([expired.status, expired.body.code]).toEqual([422, 'challenge_expired']);
    expect(CHALLENGE_TTL_MS).toBe(300_000);
  });

  it("answers 404 for another tenant's agent, its keys, challenges and documents", async () => {
    const id = await newAgent({ agent_card: { enabled: true } });
    const key = await keyPair('ES256');
    const registered = await register(id, key);
    const kid = registered.body.kid as string;
    const before = await footprint();
    const theirs = (request: ReturnType<TestSigid['http']['get']>) => request.set('Authorization', auth(other));
    for (const request of [
      theirs(t.http.get(`/api/v1/agents/${id}`)),
      theirs(t.http.patch(`/api/v1/agents/${id}`)).send({ name: 'Mine now' }),
      theirs(t.http.delete(`/api/v1/agents/${id}`)),
      theirs(t.http.post(`/api/v1/agents/${id}/suspend`)).send({}),
      theirs(t.http.post(`/api/v1/agents/${id}/challenges`)).send({}),
      theirs(t.http.get(`/api/v1/agents/${id}/keys`)),
      theirs(t.http.get(`/api/v1/agents/${id}/keys/${kid}`)),
      theirs(t.http.post(`/api/v1/agents/${id}/keys/${kid}/revoke`)).send({}),
      t.http.get(`/t/${other.slug}/agents/${id}/did.json`),
      t.http.get(`/t/${other.slug}/agents/${id}/agent-card.json`),
    ].entries()) {
      const answer = await request[1];
      expect(answer.status, `request ${request[0]}`).toBe(404);
      expect(answer.body.code).toBe('not_found');
    }
    const listed = await t.http.get('/api/v1/agents').set('Authorization', auth(other)).expect(200);
    expect((listed.body.data as Array<{ id: string }>).map((row) => row.id)).not.toContain(id);
    expect(await footprint()).toEqual(before);
  });
});
