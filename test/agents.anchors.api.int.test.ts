import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowlist } from '../src/webhooks/ssrf.ts';
import { didKeyOf } from './support/multikey.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Tenant = { tenantId: string; slug: string; key: string };

/**
 * `/api/v1/agents/{id}/anchors` and `/activity` over HTTP against a real SigID (PGlite): did:key,
 * did:web (a DID document served by a local http server on an allowlisted host, as in development)
 * and client_credentials anchors added, challenged, verified and revoked; an identity anchored to one
 * agent of the tenant is refused to another; every refusal a clear 4xx that writes nothing; another
 * tenant's key sees 404; suspension with `revoke_anchors` and deletion revoke them in the same append;
 * the agent's activity tells its story in order. (ERC-8004 through the API: agents.anchors.erc8004.api.int.test.ts.)
 */
describe('agent anchors API', () => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  let organizationId: string;
  let apiId: string;
  let didServer: Server;
  let didPort: number;
  let didDocument: unknown = {};
  const identifier = 'https://billing.example.com/api';
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;

  beforeAll(async () => {
    t = await startSigid({ config: { anchorFetchAllowlist: parseAllowlist('localhost,127.0.0.1,::1') } });
    tenant = await t.createTenant('Anchors');
    other = await t.createTenant('Someone else');
    organizationId = (
      await t.http.post('/api/v1/organizations').set('Authorization', auth()).send({ name: 'anchors-team' }).expect(201)
    ).body.id;
    apiId = (
      await t.http
        .post('/api/v1/apis')
        .set('Authorization', auth())
        .send({ name: 'Billing', identifier, scopes: [{ value: 'invoices:read' }] })
        .expect(201)
    ).body.id;
    didServer = createServer((request, response) => {
      if (request.url === '/.well-known/did.json') {
        response.writeHead(200, { 'content-type': 'application/did+json' });
        response.end(JSON.stringify(didDocument));
      } else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => didServer.listen(0, '127.0.0.1', resolve));
    didPort = (didServer.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => didServer?.close(resolve));
    await t?.close();
  });

  async function count(sql: string, parameters: unknown[] = []): Promise<number> {
    const { rows } = await t.sigid.db.query<{ count: number }>(sql, parameters);
    return rows[0]?.count ?? 0;
  }
  const footprint = async () => ({
    events: await count('select count(*)::int as count from sigid_events'),
    anchors: await count('select count(*)::int as count from agent_anchors'),
  });

  async function newAgent(name = 'Anchored bot') {
    const created = await t.http
      .post('/api/v1/agents')
      .set('Authorization', auth())
      .send({
        name,
        owner: { type: 'organization', id: organizationId },
        allowed_scopes: [{ api_id: apiId, scopes: ['invoices:read'] }],
      })
      .expect(201);
    return created.body.id as string;
  }

  async function edKey() {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jwk = await exportJWK(publicKey);
    return { jwk, privateKey, did: didKeyOf(jwk) };
  }
  const jws = (nonce: string, key: CryptoKey, header: Record<string, unknown> = { alg: 'EdDSA' }) =>
    new CompactSign(new TextEncoder().encode(nonce)).setProtectedHeader(header as { alg: string }).sign(key);

  const add = (agentId: string, body: unknown, who: Tenant = tenant) =>
    t.http
      .post(`/api/v1/agents/${agentId}/anchors`)
      .set('Authorization', auth(who))
      .send(body as object);
  const challenge = async (agentId: string, anchorId: string) =>
    (
      await t.http
        .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/challenges`)
        .set('Authorization', auth())
        .send({})
        .expect(201)
    ).body.nonce as string;
  const verify = (agentId: string, anchorId: string, body: unknown, who: Tenant = tenant) =>
    t.http
      .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/verify`)
      .set('Authorization', auth(who))
      .send(body as object);

  it('adds a did:key anchor unverified, verifies it by challenge-response, lists, gets and revokes it', async () => {
    const agentId = await newAgent();
    const key = await edKey();
    const added = await add(agentId, { kind: 'did_key', did: key.did });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.headers.location).toBe(`/api/v1/agents/${agentId}/anchors/${added.body.id}`);
    expect(added.body).toMatchObject({
      object: 'agent_anchor',
      agent_id: agentId,
      kind: 'did_key',
      anchor: { kind: 'did_key', did: key.did },
      status: 'unverified',
      verified_at: null,
      evidence: null,
    });
    const anchorId = added.body.id as string;
    const nonce = await challenge(agentId, anchorId);
    const verified = await verify(agentId, anchorId, { challenge: nonce, proof: await jws(nonce, key.privateKey) });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body).toMatchObject({
      status: 'verified',
      evidence: { kind: 'did_key', alg: 'EdDSA', key_id: expect.stringContaining(key.did) },
    });
    expect(Date.parse(verified.body.verified_at)).toBeGreaterThan(0);
    const list = await t.http.get(`/api/v1/agents/${agentId}/anchors`).set('Authorization', auth()).expect(200);
    expect(list.body.data.map((anchor: { id: string }) => anchor.id)).toEqual([anchorId]);
    const revoked = await t.http
      .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/revoke`)
      .set('Authorization', auth())
      .send({})
      .expect(200);
    expect([revoked.body.status, revoked.body.revocation_reason]).toEqual(['revoked', 'revoked']);
    // A revoked anchor gets no challenge and verifies nothing again.
    const again = await t.http
      .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/challenges`)
      .set('Authorization', auth())
      .send({});
    expect([again.status, again.body.code]).toEqual([409, 'agent_anchor_revoked']);
    // The agent's keys are untouched by it, and the audit log has the story.
    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${agentId}&order=asc`)
      .set('Authorization', auth())
      .expect(200);
    expect(audit.body.data.map((entry: { action: string }) => entry.action)).toEqual([
      'agent.created',
      'agent.anchor.added',
      'agent.anchor.verified',
      'agent.anchor.revoked',
    ]);
    // No proof or signature in the events.
    expect(JSON.stringify(audit.body)).not.toContain(nonce);
  });

  it('verifies a did:web anchor against the DID document fetched from an allowlisted host', async () => {
    const agentId = await newAgent();
    const key = await edKey();
    const did = `did:web:localhost%3A${didPort}`;
    didDocument = {
      id: did,
      verificationMethod: [{ id: `${did}#key-1`, type: 'JsonWebKey2020', controller: did, publicKeyJwk: key.jwk }],
      authentication: [`${did}#key-1`],
    };
    const added = await add(agentId, { kind: 'did_web', did }).expect(201);
    const nonce = await challenge(agentId, added.body.id);
    const verified = await verify(agentId, added.body.id, {
      challenge: nonce,
      proof: await jws(nonce, key.privateKey, { alg: 'EdDSA', kid: '#key-1' }),
    });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.evidence).toMatchObject({
      kind: 'did_web',
      key_id: `${did}#key-1`,
      document_url: `http://localhost:${didPort}/.well-known/did.json`,
      document_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    // A key the document does not authorise: 422, nothing written.
    const stranger = await edKey();
    const next = await challenge(agentId, added.body.id);
    const before = await footprint();
    const refused = await verify(agentId, added.body.id, {
      challenge: next,
      proof: await jws(next, stranger.privateKey, { alg: 'EdDSA', kid: '#key-1' }),
    });
    expect([refused.status, refused.body.code]).toEqual([422, 'bad_signature']);
    expect(await footprint()).toEqual(before);
  });

  it('refuses an identity anchored to another agent of the tenant, and frees it once that anchor is revoked', async () => {
    const first = await newAgent('First');
    const second = await newAgent('Second');
    const key = await edKey();
    const anchor = await add(first, { kind: 'did_key', did: key.did }).expect(201);
    const before = await footprint();
    const taken = await add(second, { kind: 'did_key', did: key.did });
    expect([taken.status, taken.body.code]).toEqual([409, 'anchor_taken']);
    // The same identity twice on one agent too.
    const twice = await add(first, { kind: 'did_key', did: `${key.did}#${key.did.slice('did:key:'.length)}` });
    expect([twice.status, twice.body.code]).toEqual([409, 'anchor_taken']);
    expect(await footprint()).toEqual(before);
    // Another tenant's agent may anchor the same DID: uniqueness is per tenant.
    await t.http
      .post(`/api/v1/agents/${first}/anchors/${anchor.body.id}/revoke`)
      .set('Authorization', auth())
      .send({})
      .expect(200);
    const moved = await add(second, { kind: 'did_key', did: key.did });
    expect(moved.status, JSON.stringify(moved.body)).toBe(201);
  });

  it('refuses bad input with a clear 4xx and writes nothing: kind, did, key, proof, replayed and expired challenges', async () => {
    const agentId = await newAgent();
    const key = await edKey();
    const anchorId = (await add(agentId, { kind: 'did_key', did: key.did }).expect(201)).body.id as string;
    const otherAnchor = (await add(agentId, { kind: 'did_key', did: (await edKey()).did }).expect(201)).body.id;
    const before = await footprint();
    const cases: Array<[unknown, number, string]> = [
      [{ kind: 'x509', did: key.did }, 400, 'invalid_request'],
      [{ kind: 'did_key' }, 400, 'invalid_request'],
      [{ kind: 'did_key', did: 'did:key:not-base58!' }, 400, 'malformed_did'],
      [{ kind: 'did_key', did: 'did:web:example.com' }, 400, 'malformed_did'],
      [{ kind: 'did_web', did: 'did:web:127.0.0.1' }, 400, 'malformed_did'],
      [{ kind: 'did_web', did: 'did:web:example.com/path' }, 400, 'malformed_did'],
      [{ kind: 'erc8004', chain_id: 1, registry: '0x123', agent_id: '1' }, 400, 'malformed_anchor'],
      [{ kind: 'erc8004', chain_id: 1, registry: `0x${'ab'.repeat(20)}`, agent_id: '-1' }, 400, 'invalid_request'],
      [{ kind: 'client_credentials', kid: 'A'.repeat(43) }, 400, 'invalid_request'],
      [{ kind: 'did_key', did: key.did, extra: true }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const answer = await add(agentId, body);
      expect([answer.status, answer.body.code], JSON.stringify(body)).toEqual([status, code]);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const nonce = await challenge(agentId, anchorId);
    const stranger = await edKey();
    const p256 = await generateKeyPair('ES256');
    const proofs: Array<[unknown, number, string]> = [
      [{ challenge: nonce, proof: 'not a jws' }, 400, 'malformed_proof'],
      [{ challenge: nonce, proof: await jws(nonce, stranger.privateKey) }, 422, 'bad_signature'],
      [{ challenge: nonce, proof: await jws('another text', key.privateKey) }, 422, 'challenge_mismatch'],
      [{ challenge: nonce, proof: await jws(nonce, p256.privateKey, { alg: 'ES256' }) }, 422, 'unsupported_algorithm'],
      [{ challenge: 'x'.repeat(43), proof: await jws(nonce, key.privateKey) }, 422, 'challenge_unknown'],
      [{ challenge: nonce }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of proofs) {
      const answer = await verify(agentId, anchorId, body);
      expect([answer.status, answer.body.code], JSON.stringify(body)).toEqual([status, code]);
    }
    // A challenge of another anchor of the same agent proves nothing for this one.
    const theirs = await challenge(agentId, otherAnchor);
    const crossed = await verify(agentId, anchorId, { challenge: theirs, proof: await jws(theirs, key.privateKey) });
    expect([crossed.status, crossed.body.code]).toEqual([422, 'challenge_mismatch']);
    // Nothing above was written (challenges are operational state, not events or anchors).
    expect(await footprint()).toEqual(before);
    // Used once, then a replay.
    const proof = await jws(nonce, key.privateKey);
    await verify(agentId, anchorId, { challenge: nonce, proof }).expect(200);
    const replay = await verify(agentId, anchorId, { challenge: nonce, proof });
    expect([replay.status, replay.body.code]).toEqual([422, 'challenge_used']);
    // Expired.
    const late = await challenge(agentId, anchorId);
    await t.sigid.db.query(
      `update agent_challenges set expires_at = now() - interval '1 second' where tenant_id = $1 and used_at is null`,
      [tenant.tenantId],
    );
    const expired = await verify(agentId, anchorId, { challenge: late, proof: await jws(late, key.privateKey) });
    expect([expired.status, expired.body.code]).toEqual([422, 'challenge_expired']);
    // An unknown anchor id, and one that is not an anchor id.
    for (const id of ['anc_01m8ss33wqeezr2cmg1a7c4d5e', 'nope']) {
      const missing = await t.http.get(`/api/v1/agents/${agentId}/anchors/${id}`).set('Authorization', auth());
      expect([missing.status, missing.body.code]).toEqual([404, 'not_found']);
    }
  });

  it("answers 404 to another tenant's key on every anchor route, and writes nothing", async () => {
    const agentId = await newAgent();
    const key = await edKey();
    const anchorId = (await add(agentId, { kind: 'did_key', did: key.did }).expect(201)).body.id as string;
    const nonce = await challenge(agentId, anchorId);
    const before = await footprint();
    const base = `/api/v1/agents/${agentId}`;
    const answers = [
      await t.http.get(`${base}/anchors`).set('Authorization', auth(other)),
      await add(agentId, { kind: 'did_key', did: (await edKey()).did }, other),
      await t.http.get(`${base}/anchors/${anchorId}`).set('Authorization', auth(other)),
      await t.http.post(`${base}/anchors/${anchorId}/challenges`).set('Authorization', auth(other)).send({}),
      await verify(agentId, anchorId, { challenge: nonce, proof: await jws(nonce, key.privateKey) }, other),
      await t.http.post(`${base}/anchors/${anchorId}/revoke`).set('Authorization', auth(other)).send({}),
      await t.http.get(`${base}/activity`).set('Authorization', auth(other)),
    ];
    expect(answers.map((answer) => [answer.status, answer.body.code])).toEqual(answers.map(() => [404, 'not_found']));
    expect(await footprint()).toEqual(before);
  });

  it('suspends with revoke_anchors and revokes keys and anchors in the same append; deleting revokes anchors too', async () => {
    const agentId = await newAgent();
    const first = await edKey();
    const second = await edKey();
    const anchors = [
      (await add(agentId, { kind: 'did_key', did: first.did }).expect(201)).body.id,
      (await add(agentId, { kind: 'did_key', did: second.did }).expect(201)).body.id,
    ];
    await t.http
      .post(`/api/v1/agents/${agentId}/suspend`)
      .set('Authorization', auth())
      .send({ reason: 'incident', revoke_keys: true, revoke_anchors: true })
      .expect(200);
    const { rows } = await t.sigid.db.query<{ event_type: string; correlation_id: string }>(
      `select event_type, correlation_id from sigid_events where tenant_id = $1 and stream_name like $2 order by global_position`,
      [tenant.tenantId, `%${agentId}`],
    );
    const suspension = rows.slice(-3);
    expect(suspension.map((row) => row.event_type)).toEqual([
      'agent.suspended',
      'agent.anchor.revoked',
      'agent.anchor.revoked',
    ]);
    expect(new Set(suspension.map((row) => row.correlation_id)).size).toBe(1);
    const listed = await t.http.get(`/api/v1/agents/${agentId}/anchors`).set('Authorization', auth()).expect(200);
    expect(listed.body.data.map((anchor: { status: string }) => anchor.status)).toEqual(['revoked', 'revoked']);
    expect(listed.body.data.map((anchor: { id: string }) => anchor.id)).toEqual(anchors);

    // Deleting an agent with live anchors revokes them before `agent.deleted`, in one write.
    const doomed = await newAgent('Doomed');
    await add(doomed, { kind: 'did_key', did: (await edKey()).did }).expect(201);
    await t.http.delete(`/api/v1/agents/${doomed}`).set('Authorization', auth()).expect(204);
    const deleted = await t.sigid.db.query<{ event_type: string; data: { reason?: string } }>(
      `select event_type, data from sigid_events where tenant_id = $1 and stream_name like $2 order by global_position`,
      [tenant.tenantId, `%${doomed}`],
    );
    expect(deleted.rows.slice(-2).map((row) => [row.event_type, row.data.reason ?? null])).toEqual([
      ['agent.anchor.revoked', 'agent_deleted'],
      ['agent.deleted', null],
    ]);
    expect(await count('select count(*)::int as count from agent_anchors where agent_id = $1', [doomed])).toBe(0);
  });

  it("tells the agent's story in order at /activity: register, anchor, verify, key, token, suspend", async () => {
    const agentId = await newAgent('Storyteller');
    const anchorKey = await edKey();
    const anchorId = (await add(agentId, { kind: 'did_key', did: anchorKey.did }).expect(201)).body.id as string;
    const nonce = await challenge(agentId, anchorId);
    await verify(agentId, anchorId, { challenge: nonce, proof: await jws(nonce, anchorKey.privateKey) }).expect(200);
    // A client key, registered with its own proof of possession.
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const keyNonce = (
      await t.http.post(`/api/v1/agents/${agentId}/challenges`).set('Authorization', auth()).send({}).expect(201)
    ).body.nonce as string;
    const kid = (
      await t.http
        .post(`/api/v1/agents/${agentId}/keys`)
        .set('Authorization', auth())
        .send({
          jwk: await exportJWK(publicKey),
          challenge: keyNonce,
          proof: await new CompactSign(new TextEncoder().encode(keyNonce))
            .setProtectedHeader({ alg: 'ES256' })
            .sign(privateKey),
        })
        .expect(201)
    ).body.kid as string;
    // A token as itself (private_key_jwt).
    const issuer = `${t.sigid.config.publicUrl}/t/${tenant.slug}`;
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(agentId)
      .setSubject(agentId)
      .setAudience(issuer)
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
    const token = await t.http.post(`/t/${tenant.slug}/token`).type('form').send({
      grant_type: 'client_credentials',
      client_id: agentId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      resource: identifier,
      scope: 'invoices:read',
    });
    expect(token.status, JSON.stringify(token.body)).toBe(200);
    await t.http
      .post(`/api/v1/agents/${agentId}/suspend`)
      .set('Authorization', auth())
      .send({ reason: 'done', revoke_anchors: true })
      .expect(200);

    const story: Array<{ action: string; actor: { type: string; id: string } }> = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: typeof story; next_cursor: string | null; has_more: boolean } } = await t.http
        .get(`/api/v1/agents/${agentId}/activity?limit=2${cursor ? `&starting_after=${cursor}` : ''}`)
        .set('Authorization', auth())
        .expect(200);
      story.push(...page.body.data);
      cursor = page.body.next_cursor;
      expect(page.body.has_more).toBe(cursor !== null);
    } while (cursor);
    expect(story.map((entry) => entry.action)).toEqual([
      'agent.created',
      'agent.anchor.added',
      'agent.anchor.verified',
      'agent.key.registered',
      'oauth.token.issued',
      'agent.suspended',
      'agent.anchor.revoked',
    ]);
    expect(story.find((entry) => entry.action === 'oauth.token.issued')?.actor).toEqual({ type: 'agent', id: agentId });
    // Newest first on request.
    const newest = await t.http
      .get(`/api/v1/agents/${agentId}/activity?order=desc&limit=1`)
      .set('Authorization', auth())
      .expect(200);
    expect(newest.body.data.map((entry: { action: string }) => entry.action)).toEqual(['agent.anchor.revoked']);
    const bad = await t.http.get(`/api/v1/agents/${agentId}/activity?starting_after=zzz`).set('Authorization', auth());
    expect([bad.status, bad.body.code]).toEqual([400, 'invalid_request']);
  });
});
