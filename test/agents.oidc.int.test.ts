import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, type CryptoKey, createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchorAgentWithDidKey, registerAgentKey, verifyAgentAnchor } from './support/agent-credentials.ts';
import { settled } from './support/settled.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Tenant = Awaited<ReturnType<TestSigid['createTenant']>>;

/**
 * An agent acting as itself, through a real relying party (`openid-client`: `clientCredentialsGrant`
 * with `PrivateKeyJwt`, RFC 7523) against the real tenant issuer over HTTP: `sub` is the agent's
 * id, `subject_type` is `agent`, `aud` the API, the scope the requested ones the agent is allowed,
 * a tenant policy naming `Agent::"<id>"` drops a scope; a revoked or deprecated key, a suspended or
 * deleted agent gets no token right after the API answered; another tenant's issuer knows no such agent.
 * Every agent needs a verified, unrevoked anchor first (an unverified or revoked one grants nothing:
 * `invalid_client`), and the anchors' kinds and age are in the policy context.
 */
describe('agent tokens (client_credentials with private_key_jwt)', () => {
  let t: TestSigid;
  let server: Server;
  let base: string;
  let a: Tenant;
  let b: Tenant;
  const insecure = { execute: [oauth.allowInsecureRequests] };
  const identifier = 'https://billing.example.com/api';
  const scopes = ['invoices:read', 'invoices:write', 'payments:refund'];
  const apiIds = new Map<string, string>();

  beforeAll(async () => {
    t = await startSigid();
    server = createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t.sigid.config.publicUrl = base;
    a = await t.createTenant('Agents A');
    b = await t.createTenant('Agents B');
    for (const who of [a, b]) {
      const api = await t.http
        .post('/api/v1/apis')
        .set('Authorization', authz(who))
        .send({ name: 'Billing', identifier, scopes: scopes.map((value) => ({ value })) })
        .expect(201);
      apiIds.set(who.tenantId, api.body.id);
    }
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  function authz(who: Tenant) {
    return `Bearer ${who.key}`;
  }

  /**
   * An agent of `who`, owned by a new organization, allowed `allowed` on the billing API, with one
   * registered P-256 key and (unless `anchored` is false) a verified did:key anchor.
   */
  async function agent(who: Tenant, allowed: string[], anchored = true) {
    const organization = await t.http
      .post('/api/v1/organizations')
      .set('Authorization', authz(who))
      .send({ name: `team-${Math.random().toString(36).slice(2, 10)}` })
      .expect(201);
    const created = await t.http
      .post('/api/v1/agents')
      .set('Authorization', authz(who))
      .send({
        name: 'Invoice bot',
        owner: { type: 'organization', id: organization.body.id },
        allowed_scopes: [{ api_id: apiIds.get(who.tenantId), scopes: allowed }],
      })
      .expect(201);
    const id = created.body.id as string;
    const key = await registerKey(who, id);
    const anchor = anchored ? await didKeyAnchor(who, id) : undefined;
    return { id, ...key, anchorId: anchor?.anchorId };
  }

  const registerKey = (who: Tenant, agentId: string) => registerAgentKey(t.http, authz(who), agentId);
  const didKeyAnchor = (who: Tenant, agentId: string, verify = true) =>
    anchorAgentWithDidKey(t.http, authz(who), agentId, verify);
  const verifyAnchor = (who: Tenant, agentId: string, anchorId: string, sign: (nonce: string) => Promise<string>) =>
    verifyAgentAnchor(t.http, authz(who), agentId, anchorId, sign);

  /** The agent's client as openid-client configures it: `private_key_jwt` with the key, through discovery. */
  async function clientOf(who: Tenant, agentId: string, key: { kid: string; privateKey: CryptoKey }) {
    return oauth.discovery(
      new URL(`${base}/t/${who.slug}`),
      agentId,
      undefined,
      oauth.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
      insecure,
    );
  }

  async function token(who: Tenant, config: oauth.Configuration, scope = scopes.join(' ')) {
    const tokens = await oauth.clientCredentialsGrant(config, { scope, resource: identifier });
    const issuer = `${base}/t/${who.slug}`;
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${issuer}/jwks`)), {
      issuer,
      audience: identifier,
    });
    return payload;
  }

  it('gives the agent a token for itself: sub = its id, subject_type agent, aud the API, only its allowed scopes', async () => {
    const bot = await agent(a, ['invoices:read', 'invoices:write']);
    const config = await clientOf(a, bot.id, bot);
    const payload = await token(a, config, 'invoices:read invoices:write payments:refund openid');
    expect(payload.sub).toBe(bot.id);
    expect(payload.client_id).toBe(bot.id);
    expect(payload.subject_type).toBe('agent');
    expect(payload.iss).toBe(`${base}/t/${a.slug}`);
    expect(payload.aud).toBe(identifier);
    expect(String(payload.scope).split(' ').sort()).toEqual(['invoices:read', 'invoices:write']);
    // The token's event names the agent as its actor.
    const { rows } = await t.sigid.db.query<{ actor_type: string; actor_id: string }>(
      `select actor_type, actor_id from sigid_events where tenant_id = $1 and event_type = 'oauth.token.issued' and data->>'jti' = $2`,
      [a.tenantId, payload.jti],
    );
    expect(rows).toEqual([{ actor_type: 'agent', actor_id: bot.id }]);
  });

  it('drops a scope a tenant policy forbids for the agent (principal Agent::"<id>"), and only for it', async () => {
    const bot = await agent(a, scopes);
    const peer = await agent(a, scopes);
    const created = await t.http
      .post('/api/v1/policies')
      .set('Authorization', authz(a))
      .send({
        name: 'No refunds for the bot',
        cedar: `forbid(principal == SigID::Agent::"${bot.id}", action == SigID::Action::"issue_token", resource == SigID::Scope::"payments:refund");`,
      });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const payload = await token(a, await clientOf(a, bot.id, bot));
    expect(String(payload.scope).split(' ').sort()).toEqual(['invoices:read', 'invoices:write']);
    const { rows } = await t.sigid.db.query<{ data: { policy_denials?: unknown } }>(
      `select data from sigid_events where tenant_id = $1 and event_type = 'oauth.token.issued' and data->>'jti' = $2`,
      [a.tenantId, payload.jti],
    );
    expect(rows[0]?.data.policy_denials).toEqual([
      { resource: 'scope', value: 'payments:refund', policy_ids: [created.body.id] },
    ]);
    // Another agent of the tenant is not named by the policy.
    expect(
      String((await token(a, await clientOf(a, peer.id, peer))).scope)
        .split(' ')
        .sort(),
    ).toEqual([...scopes].sort());
    await t.http.delete(`/api/v1/policies/${created.body.id}`).set('Authorization', authz(a)).expect(204);
  });

  it('drops a scope for the agents of one organization (principal in its Organization), and only for them', async () => {
    const bot = await agent(a, scopes);
    const peer = await agent(a, scopes);
    const org = (await t.http.get(`/api/v1/agents/${bot.id}`).set('Authorization', authz(a)).expect(200)).body.owner
      .id as string;
    const created = await t.http
      .post('/api/v1/policies')
      .set('Authorization', authz(a))
      .send({
        name: 'No refunds for that team',
        cedar: `forbid(principal in SigID::Organization::"${org}", action == SigID::Action::"issue_token", resource == SigID::Scope::"payments:refund");`,
      });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await settled(t.sigid);
    const payload = await token(a, await clientOf(a, bot.id, bot));
    expect(String(payload.scope).split(' ').sort()).toEqual(['invoices:read', 'invoices:write']);
    // An agent of another organization keeps it.
    expect(String((await token(a, await clientOf(a, peer.id, peer))).scope).split(' ')).toContain('payments:refund');
    await t.http.delete(`/api/v1/policies/${created.body.id}`).set('Authorization', authz(a)).expect(204);
  });

  it("refuses a revoked key's assertion right after the revoke answered, and a deprecated key's", async () => {
    const bot = await agent(a, ['invoices:read']);
    const second = await registerKey(a, bot.id);
    const config = await clientOf(a, bot.id, bot);
    expect((await token(a, config, 'invoices:read')).sub).toBe(bot.id);
    await t.http
      .post(`/api/v1/agents/${bot.id}/keys/${bot.kid}/revoke`)
      .set('Authorization', authz(a))
      .send({})
      .expect(204);
    await expect(
      oauth.clientCredentialsGrant(config, { scope: 'invoices:read', resource: identifier }),
    ).rejects.toMatchObject({
      error: 'invalid_client',
    });
    // The other key still works; deprecated, it signs no new assertion.
    const other = await clientOf(a, bot.id, second);
    expect((await token(a, other, 'invoices:read')).sub).toBe(bot.id);
    await t.http
      .post(`/api/v1/agents/${bot.id}/keys/${second.kid}/deprecate`)
      .set('Authorization', authz(a))
      .send({})
      .expect(200);
    await expect(
      oauth.clientCredentialsGrant(other, { scope: 'invoices:read', resource: identifier }),
    ).rejects.toMatchObject({
      error: 'invalid_client',
    });
  });

  it('suspends with deprecate_keys: reactivated, the old keys sign nothing, a new key does; one append', async () => {
    const bot = await agent(a, ['invoices:read']);
    const config = await clientOf(a, bot.id, bot);
    expect((await token(a, config, 'invoices:read')).sub).toBe(bot.id);
    // Asking for both is a 400 naming the field, and changes nothing.
    const both = await t.http
      .post(`/api/v1/agents/${bot.id}/suspend`)
      .set('Authorization', authz(a))
      .send({ revoke_keys: true, deprecate_keys: true });
    expect(both.status).toBe(400);
    expect(JSON.stringify(both.body)).toContain('deprecate_keys');
    expect((await token(a, config, 'invoices:read')).sub).toBe(bot.id);
    await t.http
      .post(`/api/v1/agents/${bot.id}/suspend`)
      .set('Authorization', authz(a))
      .send({ reason: 'key may have leaked', deprecate_keys: true })
      .expect(200);
    const keys = await t.http.get(`/api/v1/agents/${bot.id}/keys`).set('Authorization', authz(a)).expect(200);
    expect(keys.body.data.map((key: { status: string }) => key.status)).toEqual(['deprecated']);
    await t.http.post(`/api/v1/agents/${bot.id}/reactivate`).set('Authorization', authz(a)).send({}).expect(200);
    await expect(
      oauth.clientCredentialsGrant(config, { scope: 'invoices:read', resource: identifier }),
    ).rejects.toMatchObject({ error: 'invalid_client' });
    const fresh = await registerKey(a, bot.id);
    expect((await token(a, await clientOf(a, bot.id, fresh), 'invoices:read')).sub).toBe(bot.id);
    // The suspension and the deprecation are one append.
    const { rows } = await t.sigid.db.query<{ event_type: string; correlation_id: string }>(
      `select event_type, correlation_id from sigid_events where tenant_id = $1 and stream_name like $2
        and event_type in ('agent.suspended', 'agent.key.deprecated') order by global_position`,
      [a.tenantId, `%${bot.id}`],
    );
    expect(rows.map((row) => row.event_type)).toEqual(['agent.suspended', 'agent.key.deprecated']);
    expect(rows[1]?.correlation_id).toBe(rows[0]?.correlation_id);
  });

  it('gives a suspended agent no token until reactivated, and a deleted one none ever', async () => {
    const bot = await agent(a, ['invoices:read']);
    const config = await clientOf(a, bot.id, bot);
    expect((await token(a, config, 'invoices:read')).sub).toBe(bot.id);
    await t.http.post(`/api/v1/agents/${bot.id}/suspend`).set('Authorization', authz(a)).send({}).expect(200);
    await expect(
      oauth.clientCredentialsGrant(config, { scope: 'invoices:read', resource: identifier }),
    ).rejects.toMatchObject({
      error: 'invalid_client',
    });
    await t.http.post(`/api/v1/agents/${bot.id}/reactivate`).set('Authorization', authz(a)).send({}).expect(200);
    expect((await token(a, config, 'invoices:read')).sub).toBe(bot.id);
    await t.http.delete(`/api/v1/agents/${bot.id}`).set('Authorization', authz(a)).expect(204);
    await expect(
      oauth.clientCredentialsGrant(config, { scope: 'invoices:read', resource: identifier }),
    ).rejects.toMatchObject({
      error: 'invalid_client',
    });
  });

  it('gives an agent without a verified anchor no token (invalid_client), nor one whose only anchor was revoked', async () => {
    const bot = await agent(a, ['invoices:read'], false);
    const config = await clientOf(a, bot.id, bot);
    const refused = () =>
      expect(
        oauth.clientCredentialsGrant(config, { scope: 'invoices:read', resource: identifier }),
      ).rejects.toMatchObject({ error: 'invalid_client' });
    await refused();
    // Added but not verified: still nothing.
    const { anchorId } = await didKeyAnchor(a, bot.id, false);
    await refused();
    // Another anchor, verified: a token.
    const other = await didKeyAnchor(a, bot.id);
    expect((await token(a, config, 'invoices:read')).sub).toBe(bot.id);
    // Its only verified anchor revoked: refused right after the answer.
    await t.http
      .post(`/api/v1/agents/${bot.id}/anchors/${other.anchorId}/revoke`)
      .set('Authorization', authz(a))
      .send({})
      .expect(200);
    await refused();
    expect(anchorId).toMatch(/^anc_/);
  });

  it('counts a client_credentials anchor verified with one of its keys; revoking that key revokes the anchor', async () => {
    const bot = await agent(a, ['invoices:read'], false);
    const added = await t.http
      .post(`/api/v1/agents/${bot.id}/anchors`)
      .set('Authorization', authz(a))
      .send({ kind: 'client_credentials', kid: bot.kid })
      .expect(201);
    await verifyAnchor(a, bot.id, added.body.id, (nonce) =>
      new CompactSign(new TextEncoder().encode(nonce))
        .setProtectedHeader({ alg: 'ES256', kid: bot.kid })
        .sign(bot.privateKey),
    );
    const config = await clientOf(a, bot.id, bot);
    expect((await token(a, config, 'invoices:read')).sub).toBe(bot.id);
    // A second key keeps the agent a client, but the anchor went with the revoked key.
    const second = await registerKey(a, bot.id);
    await t.http
      .post(`/api/v1/agents/${bot.id}/keys/${bot.kid}/revoke`)
      .set('Authorization', authz(a))
      .send({})
      .expect(204);
    const anchor = await t.http
      .get(`/api/v1/agents/${bot.id}/anchors/${added.body.id}`)
      .set('Authorization', authz(a))
      .expect(200);
    expect([anchor.body.status, anchor.body.revocation_reason]).toEqual(['revoked', 'key_revoked']);
    await expect(
      oauth.clientCredentialsGrant(await clientOf(a, bot.id, second), { scope: 'invoices:read', resource: identifier }),
    ).rejects.toMatchObject({ error: 'invalid_client' });
  });

  it('puts the anchors in the policy context: a forbid unless an erc8004 anchor refuses a did:key-anchored agent', async () => {
    const bot = await agent(a, ['invoices:read']);
    const config = await clientOf(a, bot.id, bot);
    const schema = await t.http.get('/api/v1/policies/schema').set('Authorization', authz(a)).expect(200);
    expect(JSON.stringify(schema.body)).toContain('anchor_kinds');
    const created = await t.http.post('/api/v1/policies').set('Authorization', authz(a)).send({
      name: 'Agents need an on-chain identity',
      cedar: 'forbid(principal is SigID::Agent, action, resource) unless { context.anchor_kinds.contains("erc8004") };',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await expect(
      oauth.clientCredentialsGrant(config, { scope: 'invoices:read', resource: identifier }),
    ).rejects.toMatchObject({ error: 'access_denied' });
    await t.http.delete(`/api/v1/policies/${created.body.id}`).set('Authorization', authz(a)).expect(204);
    // The kind it has and a fresh verification pass such a rule.
    const fresh = await t.http.post('/api/v1/policies').set('Authorization', authz(a)).send({
      name: 'did:key, verified within the hour',
      cedar:
        'forbid(principal is SigID::Agent, action, resource) unless { context.anchor_kinds.contains("did_key") && context has anchor_verified_age_seconds && context.anchor_verified_age_seconds < 3600 };',
    });
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(201);
    expect((await token(a, config, 'invoices:read')).sub).toBe(bot.id);
    await t.http.delete(`/api/v1/policies/${fresh.body.id}`).set('Authorization', authz(a)).expect(204);
  });

  it("gives another tenant's issuer no token for the agent", async () => {
    const bot = await agent(a, ['invoices:read']);
    const elsewhere = await clientOf(b, bot.id, bot);
    await expect(
      oauth.clientCredentialsGrant(elsewhere, { scope: 'invoices:read', resource: identifier }),
    ).rejects.toMatchObject({ error: 'invalid_client' });
  });

  it('marks other tokens with their subject type: an application’s own is `application`', async () => {
    const created = await t.http
      .post('/api/v1/applications')
      .set('Authorization', authz(a))
      .send({ kind: 'm2m', client_name: 'Worker' })
      .expect(201);
    const config = await oauth.discovery(
      new URL(`${base}/t/${a.slug}`),
      created.body.client_id,
      created.body.client_secret,
      undefined,
      insecure,
    );
    const payload = await token(a, config, 'invoices:read');
    expect([payload.sub, payload.subject_type]).toEqual([created.body.client_id, 'application']);
  });
});
