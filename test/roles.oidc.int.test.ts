import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_CACHE_MS } from '../src/oidc/apis.ts';
import { ROLE_CACHE_MS } from '../src/oidc/roles.ts';
import { authorizationUrl, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';

/**
 * Roles in tokens, through the hosted pages and a real relying party (`openid-client`) over real
 * HTTP: a user's access token for an API carries their roles and the scopes those roles grant on
 * it, under the tenant's claim names; with `enforce_permissions` its scope is only what the roles
 * grant; a role assigned, unassigned or deleted reaches the next token within ROLE_CACHE_MS; a
 * machine's token carries no roles; the id_token carries none either.
 */
describe('roles in tokens', () => {
  let h: HostedSigid;
  let a: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let rp: oauth.Configuration;
  let apiId: string;
  let sub: string;
  let refreshToken: string;
  const identifier = 'https://billing.example.com/api';
  const email = `roles.${Date.now()}@example.test`;
  const password = 'correct horse battery staple';
  const all = ['invoices:read', 'invoices:write', 'payments:refund'];
  const words: Record<string, string> = {
    'invoices:read': 'Read your invoices',
    'invoices:write': 'Change your invoices',
    'payments:refund': 'Refund your payments',
  };

  const authz = () => `Bearer ${a.key}`;
  const settle = () => new Promise((resolve) => setTimeout(resolve, Math.max(ROLE_CACHE_MS, API_CACHE_MS) + 150));

  beforeAll(async () => {
    h = await startHostedSigid();
    a = await h.t.createTenant('Roles Inc');
    const app = await h.webApp(a.key);
    rp = await h.relyingParty(a.slug, app);
    const api = await h.t.http
      .post('/api/v1/apis')
      .set('Authorization', authz())
      .send({ name: 'Billing', identifier, scopes: all.map((value) => ({ value, description: words[value] })) })
      .expect(201);
    apiId = api.body.id;
    const applications = await h.t.http.get('/api/v1/applications').set('Authorization', authz()).expect(200);
    const application = (applications.body.data as Array<{ id: string; client_id: string }>).find(
      (row) => row.client_id === app.clientId,
    );
    await h.t.http
      .put(`/api/v1/apis/${apiId}/grants/${application?.id}`)
      .set('Authorization', authz())
      .send({ scopes: all })
      .expect(200);
  });
  afterAll(async () => {
    await h?.close();
  });

  async function verified(accessToken: string) {
    const issuer = `${h.base}/t/${a.slug}`;
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
    return (await jwtVerify(accessToken, jwks, { issuer, audience: identifier })).payload;
  }

  /** The next access token for the API, from the refresh token (rotated each time). */
  async function nextToken() {
    const tokens = await oauth.refreshTokenGrant(rp, refreshToken);
    refreshToken = String(tokens.refresh_token);
    return verified(tokens.access_token);
  }

  const scopeOf = (payload: Record<string, unknown>) =>
    String(payload.scope ?? '')
      .split(' ')
      .filter(Boolean)
      .sort();

  async function role(name: string, scopes: string[]) {
    const created = await h.t.http
      .post('/api/v1/roles')
      .set('Authorization', authz())
      .send({ name, permissions: scopes.map((scope) => ({ api_id: apiId, scope })) })
      .expect(201);
    return created.body.id as string;
  }
  const assign = (roleId: string) =>
    h.t.http.put(`/api/v1/roles/${roleId}/users/${sub}`).set('Authorization', authz()).expect(200);
  const claims = (body: Record<string, unknown>) =>
    h.t.http.patch('/api/v1/role-claims').set('Authorization', authz()).send(body).expect(200);

  it('gives a user with no role an API token with empty roles and permissions, and every consented scope', async () => {
    const browser = h.browser();
    const request = await authorizationUrl(rp, {
      scope: `openid email offline_access ${all.join(' ')}`,
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
    // The consent screen names each API scope in the tenant's words, with its API.
    const $ = browser.page.$;
    const asked = $('.scopes li')
      .map((_, item) => $(item).text().trim())
      .get();
    for (const value of all) expect(asked).toContain(`${words[value]} (Billing)`);
    await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    const tokens = await oauth.authorizationCodeGrant(rp, browser.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    sub = String(tokens.claims()?.sub);
    refreshToken = String(tokens.refresh_token);
    const payload = await verified(tokens.access_token);
    expect(payload.sub).toBe(sub);
    expect(scopeOf(payload)).toEqual(all);
    expect(payload.roles).toEqual([]);
    expect(payload.permissions).toEqual([]);
    // The id_token carries no roles: they are for the API's tokens.
    expect(decodeJwt(String(tokens.id_token)).roles).toBeUndefined();
  });

  it("puts a role assigned to the user, and its permissions on this API, in the user's next token", async () => {
    const clerk = await role('Clerk', ['invoices:read']);
    const refunds = await role('Refunds', ['payments:refund', 'invoices:read']);
    await assign(clerk);
    await settle();
    let payload = await nextToken();
    expect(payload.roles).toEqual(['Clerk']);
    expect(payload.permissions).toEqual(['invoices:read']);
    await assign(refunds);
    await settle();
    payload = await nextToken();
    expect(payload.roles).toEqual(['Clerk', 'Refunds']);
    expect(payload.permissions).toEqual(['invoices:read', 'payments:refund']);
    // Without enforcement the scope is still every consented one.
    expect(scopeOf(payload)).toEqual(all);
  });

  it('limits the scope to what the roles grant when the tenant enforces permissions', async () => {
    await claims({ enforce_permissions: true });
    await settle();
    let payload = await nextToken();
    expect(scopeOf(payload)).toEqual(['invoices:read', 'payments:refund']);
    // A permission added to a role reaches the next token, and widens the scope up to what was consented.
    const roles = await h.t.http.get('/api/v1/roles').set('Authorization', authz()).expect(200);
    const clerk = (roles.body.data as Array<{ id: string; name: string }>).find((row) => row.name === 'Clerk');
    await h.t.http
      .patch(`/api/v1/roles/${clerk?.id}`)
      .set('Authorization', authz())
      .send({ permissions: ['invoices:read', 'invoices:write'].map((scope) => ({ api_id: apiId, scope })) })
      .expect(200);
    await settle();
    payload = await nextToken();
    expect(payload.permissions).toEqual(all);
    expect(scopeOf(payload)).toEqual(all);
    await h.t.http
      .patch(`/api/v1/roles/${clerk?.id}`)
      .set('Authorization', authz())
      .send({ permissions: [{ api_id: apiId, scope: 'invoices:read' }] })
      .expect(200);
    await settle();
    payload = await nextToken();
    expect(scopeOf(payload)).toEqual(['invoices:read', 'payments:refund']);
  });

  it("uses the tenant's claim names, and leaves out a claim whose name is null", async () => {
    await claims({ roles_claim: 'https://roles.example/roles', permissions_claim: null });
    await settle();
    const payload = await nextToken();
    expect(payload['https://roles.example/roles']).toEqual(['Clerk', 'Refunds']);
    expect(payload.roles).toBeUndefined();
    expect(payload.permissions).toBeUndefined();
    await claims({ roles_claim: 'roles', permissions_claim: 'perms' });
    await settle();
    expect(await nextToken()).toMatchObject({
      roles: ['Clerk', 'Refunds'],
      perms: ['invoices:read', 'payments:refund'],
    });
  });

  it('takes an unassigned or deleted role, and its scopes, out of the next token', async () => {
    const listed = await h.t.http.get(`/api/v1/role-assignments?sub=${sub}`).set('Authorization', authz()).expect(200);
    const roles = await h.t.http.get('/api/v1/roles').set('Authorization', authz()).expect(200);
    const byName = new Map((roles.body.data as Array<{ id: string; name: string }>).map((row) => [row.name, row.id]));
    expect(listed.body.data).toHaveLength(2);
    await h.t.http
      .delete(`/api/v1/roles/${byName.get('Refunds')}/users/${sub}`)
      .set('Authorization', authz())
      .expect(204);
    await settle();
    let payload = await nextToken();
    expect(payload).toMatchObject({ roles: ['Clerk'], perms: ['invoices:read'] });
    expect(scopeOf(payload)).toEqual(['invoices:read']);
    await h.t.http
      .delete(`/api/v1/roles/${byName.get('Clerk')}`)
      .set('Authorization', authz())
      .expect(204);
    await settle();
    payload = await nextToken();
    expect(payload).toMatchObject({ roles: [], perms: [] });
    expect(scopeOf(payload)).toEqual([]);
  });

  it('gives a machine (client_credentials) no roles', async () => {
    const created = await h.t.http
      .post('/api/v1/applications')
      .set('Authorization', authz())
      .send({ kind: 'm2m', client_name: 'Worker' })
      .expect(201);
    await h.t.http
      .put(`/api/v1/apis/${apiId}/grants/${created.body.id}`)
      .set('Authorization', authz())
      .send({ scopes: ['invoices:read'] })
      .expect(200);
    const machine = await h.relyingParty(a.slug, {
      clientId: created.body.client_id,
      secret: created.body.client_secret,
    });
    const tokens = await oauth.clientCredentialsGrant(machine, { scope: 'invoices:read', resource: identifier });
    const payload = await verified(tokens.access_token);
    expect(payload.scope).toBe('invoices:read');
    expect(payload.roles).toBeUndefined();
    expect(payload.perms).toBeUndefined();
  });
});
