import { type CryptoKey, createRemoteJWKSet, exportJWK, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenValidator } from '../src/resource-server/index.ts';
import { anchorAgentWithDidKey, registerAgentKey } from './support/agent-credentials.ts';
import { authorizationUrl, type HostedSigid, insecure, startHostedSigid } from './support/hosted-flow.ts';

type Tenant = Awaited<ReturnType<HostedSigid['t']['createTenant']>>;

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * Delegation through RFC 8693 token exchange, with real peers over real HTTP: a user signs in on the
 * hosted pages (openid-client, code flow) and gets an access token for an API; an agent
 * (`private_key_jwt`) exchanges it (`genericGrantRequest`) for a delegated token: `sub` the user,
 * `act` the agent, `delegation_id`, `aud` the API, a narrow scope, a short `exp`, `cnf.jkt` with
 * DPoP. Every widening is refused (scope, audience, depth, a chain), a revoked delegation or a
 * suspended agent makes its tokens inactive at introspection at once, a DPoP-bound token without
 * its key is refused by the resource-server module, and another tenant's tokens are nothing here.
 */
describe('delegation (token exchange)', () => {
  let h: HostedSigid;
  let a: Tenant;
  let b: Tenant;
  let rp: oauth.Configuration;
  let sub: string;
  let userToken: string;
  let otherTenantToken: string;
  const identifier = 'https://billing.example.com/api';
  const other = 'https://crm.example.com/api';
  const scopes = ['invoices:read', 'invoices:write', 'payments:refund'];
  const password = 'correct horse battery staple';
  const apiIds = new Map<string, string>();

  const authz = (who: Tenant) => `Bearer ${who.key}`;

  /** A user of `who` signs up and in through the hosted pages; their access token for the billing API. */
  async function userAccessToken(who: Tenant, config: oauth.Configuration, email: string) {
    const browser = h.browser();
    const request = await authorizationUrl(config, {
      scope: `openid email ${scopes.join(' ')}`,
      resource: identifier,
      prompt: 'consent',
    });
    await browser.request(request.url);
    await browser.request(browser.page.$('a:contains("Create an account")').attr('href') as string);
    await browser.submit('#email', { email, password });
    await browser.request(await h.linkSentTo(email, '/verify-email'));
    await browser.submit('button[type=submit]');
    await browser.request(browser.page.$('a:contains("Continue signing in")').attr('href') as string);
    await browser.submit('#email', { email, password });
    await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    const tokens = await oauth.authorizationCodeGrant(config, browser.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    void who;
    return { sub: String(tokens.claims()?.sub), accessToken: tokens.access_token };
  }

  async function setUpTenant(who: Tenant) {
    for (const [name, id] of [
      ['Billing', identifier],
      ['CRM', other],
    ] as const) {
      const api = await h.t.http
        .post('/api/v1/apis')
        .set('Authorization', authz(who))
        .send({ name, identifier: id, scopes: scopes.map((value) => ({ value })) })
        .expect(201);
      if (id === identifier) apiIds.set(who.tenantId, api.body.id);
      else apiIds.set(`${who.tenantId}:crm`, api.body.id);
    }
    const app = await h.webApp(who.key);
    const applications = await h.t.http.get('/api/v1/applications').set('Authorization', authz(who)).expect(200);
    const application = (applications.body.data as Array<{ id: string; client_id: string }>).find(
      (row) => row.client_id === app.clientId,
    );
    await h.t.http
      .put(`/api/v1/apis/${apiIds.get(who.tenantId)}/grants/${application?.id}`)
      .set('Authorization', authz(who))
      .send({ scopes })
      .expect(200);
    return app;
  }

  beforeAll(async () => {
    h = await startHostedSigid();
    a = await h.t.createTenant('Delegation A');
    b = await h.t.createTenant('Delegation B');
    const appA = await setUpTenant(a);
    rp = await h.relyingParty(a.slug, appA);
    const user = await userAccessToken(a, rp, `delegating.${Date.now()}@example.test`);
    sub = user.sub;
    userToken = user.accessToken;
    const appB = await setUpTenant(b);
    otherTenantToken = (
      await userAccessToken(b, await h.relyingParty(b.slug, appB), `other.${Date.now()}@example.test`)
    ).accessToken;
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  /** An agent of `who` owned by the user, allowed `allowed` on billing (and CRM), delegable within `delegation`. */
  async function agent(
    who: Tenant,
    options: { allowed?: string[]; delegation?: Record<string, unknown>; owner?: string } = {},
  ) {
    const allowed = options.allowed ?? ['invoices:read', 'invoices:write'];
    const created = await h.t.http
      .post('/api/v1/agents')
      .set('Authorization', authz(who))
      .send({
        name: 'Invoice bot',
        owner: { type: 'user', id: options.owner ?? sub },
        allowed_scopes: [
          { api_id: apiIds.get(who.tenantId), scopes: allowed },
          { api_id: apiIds.get(`${who.tenantId}:crm`), scopes: allowed },
        ],
        delegation: {
          scopes: allowed,
          audiences: [identifier, other],
          max_lifetime_seconds: 600,
          max_chain_depth: 2,
          ...options.delegation,
        },
      });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    // A key for private_key_jwt, and the verified anchor an agent needs before it gets any token.
    const { kid, privateKey } = await registerAgentKey(h.t.http, authz(who), id);
    await anchorAgentWithDidKey(h.t.http, authz(who), id);
    const config = await clientOf(who, id, { kid, privateKey });
    return { id, config };
  }

  function clientOf(who: Tenant, agentId: string, key: { kid: string; privateKey: CryptoKey }) {
    return oauth.discovery(
      new URL(`${h.base}/t/${who.slug}`),
      agentId,
      undefined,
      oauth.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
      insecure,
    );
  }

  async function delegate(who: Tenant, body: Record<string, unknown>) {
    const created = await h.t.http.post('/api/v1/delegations').set('Authorization', authz(who)).send(body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.id as string;
  }

  function exchange(
    config: oauth.Configuration,
    subjectToken: string,
    parameters: Record<string, string> = {},
    options?: oauth.DPoPOptions,
  ) {
    return oauth.genericGrantRequest(
      config,
      TOKEN_EXCHANGE,
      { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, resource: identifier, ...parameters },
      options,
    );
  }

  async function verified(who: Tenant, token: string, audience = identifier) {
    const issuer = `${h.base}/t/${who.slug}`;
    return (await jwtVerify(token, createRemoteJWKSet(new URL(`${issuer}/jwks`)), { issuer, audience })).payload;
  }

  const introspect = async (token: string) => (await oauth.tokenIntrospection(rp, token)).active;

  it('exchanges the user’s token for a delegated one: sub the user, act the agent, delegation_id, aud, narrow scope, short exp, cnf.jkt', async () => {
    const bot = await agent(a);
    const delegationId = await delegate(a, {
      agent_id: bot.id,
      sub,
      audience: identifier,
      scopes: ['invoices:read'],
      expires_in: 300,
    });
    const keyPair = await oauth.randomDPoPKeyPair('ES256');
    const DPoP = oauth.getDPoPHandle(bot.config, keyPair);
    const tokens = await exchange(bot.config, userToken, { scope: 'invoices:read' }, { DPoP });
    expect(tokens.issued_token_type).toBe(ACCESS_TOKEN);
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const claims = await verified(a, tokens.access_token);
    expect(claims).toMatchObject({
      sub,
      subject_type: 'user',
      act: { sub: bot.id, subject_type: 'agent' },
      delegation_id: delegationId,
      aud: identifier,
      scope: 'invoices:read',
      client_id: bot.id,
      iss: `${h.base}/t/${a.slug}`,
    });
    expect((claims.act as Record<string, unknown>).act).toBeUndefined();
    expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(300);
    expect((claims.cnf as { jkt?: string }).jkt).toBe(
      await (await import('jose')).calculateJwkThumbprint(await exportJWK(keyPair.publicKey)),
    );
    expect(claims.roles).toBeUndefined();
    // The issuance is an event: grant type token-exchange, the delegation, the agent the actor.
    const { rows } = await h.t.sigid.db.query<{ actor_type: string; actor_id: string; data: Record<string, unknown> }>(
      `select actor_type, actor_id, data from sigid_events where tenant_id = $1 and event_type = 'oauth.token.issued' and data->>'jti' = $2`,
      [a.tenantId, claims.jti],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor_type: 'agent',
      actor_id: bot.id,
      data: { grant_type: TOKEN_EXCHANGE, delegation_id: delegationId, actors: [bot.id], sub, client_id: bot.id },
    });
    // The delegated token is active at introspection, with its claims.
    const introspection = await oauth.tokenIntrospection(rp, tokens.access_token);
    expect(introspection).toMatchObject({ active: true, sub, delegation_id: delegationId, token_type: 'DPoP' });

    // A DPoP-bound delegated token replayed without its key is refused by the resource-server module.
    const validator = createTokenValidator({ issuer: `${h.base}/t/${a.slug}`, audience: identifier });
    const url = 'https://billing.example.com/api/invoices';
    const bare = await validator.validate({ authorization: `DPoP ${tokens.access_token}`, method: 'GET', url });
    expect(bare).toMatchObject({ ok: false, code: 'dpop_proof_missing' });
    const asBearer = await validator.validate({ authorization: `Bearer ${tokens.access_token}`, method: 'GET', url });
    expect(asBearer).toMatchObject({ ok: false, code: 'dpop_bound_token_as_bearer' });
    const thief = await oauth.randomDPoPKeyPair('ES256');
    const stolenProof = await new (await import('jose')).SignJWT({
      htm: 'GET',
      htu: url,
      jti: crypto.randomUUID(),
      ath: (await import('node:crypto')).createHash('sha256').update(tokens.access_token).digest('base64url'),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(thief.publicKey) })
      .setIssuedAt()
      .sign(thief.privateKey);
    const withThiefKey = await validator.validate({
      authorization: `DPoP ${tokens.access_token}`,
      dpop: stolenProof,
      method: 'GET',
      url,
    });
    expect(withThiefKey.ok).toBe(false);
  });

  it('narrows: a scope outside the delegation, the limits or the subject token, another audience, none in force', async () => {
    const bot = await agent(a, { allowed: ['invoices:read', 'invoices:write', 'payments:refund'] });
    await delegate(a, {
      agent_id: bot.id,
      sub,
      audience: identifier,
      scopes: ['invoices:read', 'invoices:write'],
    });
    // Without a scope asked: every scope the delegation, the subject and the agent allow.
    const all = await verified(a, (await exchange(bot.config, userToken)).access_token);
    expect(String(all.scope).split(' ').sort()).toEqual(['invoices:read', 'invoices:write']);
    await expect(exchange(bot.config, userToken, { scope: 'payments:refund' })).rejects.toMatchObject({
      error: 'invalid_scope',
    });
    await expect(exchange(bot.config, userToken, { scope: 'invoices:read admin' })).rejects.toMatchObject({
      error: 'invalid_scope',
    });
    // Another audience than the delegation's (and than the subject token's).
    await expect(exchange(bot.config, userToken, { resource: other })).rejects.toMatchObject({
      error: 'invalid_target',
    });
    await expect(exchange(bot.config, userToken, { resource: 'https://unknown.example.com' })).rejects.toMatchObject({
      error: 'invalid_target',
    });
    // An agent the user delegated nothing to.
    const stranger = await agent(a);
    await expect(exchange(stranger.config, userToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Not an access token of this issuer (another tenant's user token), nor garbage.
    await expect(exchange(bot.config, otherTenantToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(exchange(bot.config, 'not-a-token')).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(
      exchange(bot.config, userToken, { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }),
    ).rejects.toMatchObject({ error: 'invalid_request' });
    // A token's lifetime is bounded by the agent's max_lifetime_seconds.
    const short = await agent(a, { delegation: { max_lifetime_seconds: 60 } });
    await delegate(a, { agent_id: short.id, sub, audience: identifier, scopes: ['invoices:read'] });
    const claims = await verified(a, (await exchange(short.config, userToken)).access_token);
    expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(60);
  });

  it('chains only narrower: a sub-agent nests act, and a chain that widens scope, audience, lifetime or depth is refused', async () => {
    const lead = await agent(a);
    const helper = await agent(a);
    const root = await delegate(a, {
      agent_id: lead.id,
      sub,
      audience: identifier,
      scopes: ['invoices:read', 'invoices:write'],
      expires_in: 300,
      max_chain_depth: 2,
    });
    const leadToken = (await exchange(lead.config, userToken, { scope: 'invoices:read' })).access_token;
    // Widening at creation: a scope, an audience, a lifetime, a depth the parent does not have.
    for (const [body, path] of [
      [{ scopes: ['payments:refund'] }, 'scopes.0'],
      [{ audience: other }, 'audience'],
      [{ expires_in: 599 }, 'expires_in'],
      [{ max_chain_depth: 3 }, 'max_chain_depth'],
    ] as Array<[Record<string, unknown>, string]>) {
      const base = { agent_id: helper.id, sub, audience: identifier, scopes: ['invoices:read'] };
      const refused = await h.t.http
        .post('/api/v1/delegations')
        .set('Authorization', authz(a))
        .send({ ...base, parent_delegation_id: root, ...body });
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.errors.map((issue: { path: string }) => issue.path)).toContain(path);
    }
    // Without a derived delegation the helper gets nothing for the lead's token.
    await expect(exchange(helper.config, leadToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    const derived = await delegate(a, {
      agent_id: helper.id,
      sub,
      audience: identifier,
      scopes: ['invoices:read', 'invoices:write'].slice(0, 2),
      parent_delegation_id: root,
      expires_in: 200,
    });
    // The helper's token nests the actors; it never has more than the lead's token.
    const chained = await verified(a, (await exchange(helper.config, leadToken)).access_token);
    expect(chained).toMatchObject({
      sub,
      act: { sub: helper.id, subject_type: 'agent', act: { sub: lead.id, subject_type: 'agent' } },
      delegation_id: derived,
      scope: 'invoices:read',
    });
    await expect(exchange(helper.config, leadToken, { scope: 'invoices:write' })).rejects.toMatchObject({
      error: 'invalid_scope',
    });
    await expect(exchange(helper.config, leadToken, { resource: other })).rejects.toMatchObject({
      error: 'invalid_target',
    });
    // Depth: a third agent on the helper's token would be 3 actors deep (the chain allows 2).
    const third = await agent(a, { delegation: { max_chain_depth: 5 } });
    const deep = await h.t.http
      .post('/api/v1/delegations')
      .set('Authorization', authz(a))
      .send({
        agent_id: third.id,
        sub,
        audience: identifier,
        scopes: ['invoices:read'],
        parent_delegation_id: derived,
      });
    expect(deep.status).toBe(400);
    expect(deep.body.errors.map((issue: { code: string }) => issue.code)).toContain('chain_too_deep');
    // Revoking the root ends every token down the chain at once.
    const helperToken = (await exchange(helper.config, leadToken)).access_token;
    expect(await introspect(helperToken)).toBe(true);
    await h.t.http.post(`/api/v1/delegations/${root}/revoke`).set('Authorization', authz(a)).send({}).expect(200);
    expect(await introspect(helperToken)).toBe(false);
    expect(await introspect(leadToken)).toBe(false);
    await expect(exchange(helper.config, leadToken)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('a revoked delegation: its tokens inactive at introspection right after the revoke answered, no new exchange', async () => {
    const bot = await agent(a);
    const delegationId = await delegate(a, { agent_id: bot.id, sub, audience: identifier, scopes: ['invoices:read'] });
    const token = (await exchange(bot.config, userToken)).access_token;
    expect(await introspect(token)).toBe(true);
    // The user's own token introspects too (a JWT of this issuer).
    expect(await introspect(userToken)).toBe(true);
    const revoked = await h.t.http
      .post(`/api/v1/delegations/${delegationId}/revoke`)
      .set('Authorization', authz(a))
      .send({ reason: 'user withdrew consent' })
      .expect(200);
    expect(revoked.body).toMatchObject({ status: 'revoked', revoked_reason: 'user withdrew consent' });
    expect(await introspect(token)).toBe(false);
    await expect(exchange(bot.config, userToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await introspect(userToken)).toBe(true);
  });

  it('a suspended agent: every token of it inactive at once, its delegations revoked, not brought back by reactivation', async () => {
    const bot = await agent(a);
    const delegationId = await delegate(a, { agent_id: bot.id, sub, audience: identifier, scopes: ['invoices:read'] });
    const delegated = (await exchange(bot.config, userToken)).access_token;
    const own = (await oauth.clientCredentialsGrant(bot.config, { scope: 'invoices:read', resource: identifier }))
      .access_token;
    expect(await introspect(delegated)).toBe(true);
    expect(await introspect(own)).toBe(true);
    await h.t.http
      .post(`/api/v1/agents/${bot.id}/suspend`)
      .set('Authorization', authz(a))
      .send({ reason: 'incident', revoke_delegations: true })
      .expect(200);
    expect(await introspect(delegated)).toBe(false);
    expect(await introspect(own)).toBe(false);
    const row = await h.t.http.get(`/api/v1/delegations/${delegationId}`).set('Authorization', authz(a)).expect(200);
    expect(row.body).toMatchObject({ status: 'revoked', revoked_reason: 'agent_suspended' });
    await h.t.http.post(`/api/v1/agents/${bot.id}/reactivate`).set('Authorization', authz(a)).send({}).expect(200);
    // Reactivated: the old tokens stay inactive, the delegation stays revoked, no exchange for it.
    expect(await introspect(delegated)).toBe(false);
    expect(await introspect(own)).toBe(false);
    await expect(exchange(bot.config, userToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    const again = await h.t.http.get(`/api/v1/delegations/${delegationId}`).set('Authorization', authz(a)).expect(200);
    expect(again.body.status).toBe('revoked');
  });

  it('a tenant policy (principal the agent) drops a scope of the delegated token, and the depth is in its context', async () => {
    const bot = await agent(a);
    await delegate(a, {
      agent_id: bot.id,
      sub,
      audience: identifier,
      scopes: ['invoices:read', 'invoices:write'],
    });
    const created = await h.t.http
      .post('/api/v1/policies')
      .set('Authorization', authz(a))
      .send({
        name: 'Delegated bots read only',
        cedar: `forbid(principal == SigID::Agent::"${bot.id}", action == SigID::Action::"issue_token", resource == SigID::Scope::"invoices:write") when { context.delegation_depth >= 1 };`,
      });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    try {
      const claims = await verified(a, (await exchange(bot.config, userToken)).access_token);
      expect(claims.scope).toBe('invoices:read');
      const { rows } = await h.t.sigid.db.query<{ data: { policy_denials?: unknown } }>(
        `select data from sigid_events where tenant_id = $1 and event_type = 'oauth.token.issued' and data->>'jti' = $2`,
        [a.tenantId, claims.jti],
      );
      expect(rows[0]?.data.policy_denials).toEqual([
        { resource: 'scope', value: 'invoices:write', policy_ids: [created.body.id] },
      ]);
      // The agent's own token (depth 0) keeps the scope.
      const own = await oauth.clientCredentialsGrant(bot.config, { scope: 'invoices:write', resource: identifier });
      expect((await verified(a, own.access_token)).scope).toBe('invoices:write');
    } finally {
      await h.t.http.delete(`/api/v1/policies/${created.body.id}`).set('Authorization', authz(a)).expect(204);
    }
  });
});
