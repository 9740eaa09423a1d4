import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_CACHE_MS } from '../src/oidc/roles.ts';
import { authorizationUrl, CALLBACK, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';

/**
 * Organization roles in tokens, at a tenant's real issuer with `openid-client` as the relying party:
 * Ada holds role Auditor at tenant level and role Builder in organization X only. Her API token for
 * X carries both roles and both roles' permissions (and, with `enforce_permissions`, both scopes);
 * without an organization, and for organization Y where she is a member with no roles, only Auditor.
 */
describe('organization roles in tokens', () => {
  let h: HostedSigid;
  let a: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let rp: oauth.Configuration;
  let person: ReturnType<HostedSigid['browser']>;
  let sub: string;
  let x: string;
  let y: string;
  let builder: string;
  const identifier = 'https://projects.example.com/api';
  const email = `ada.${Date.now()}@example.test`;
  const password = 'correct horse battery staple';
  const scopes = ['reports:read', 'projects:write'];
  const admin = () => ({ Authorization: `Bearer ${a.key}` });

  beforeAll(async () => {
    h = await startHostedSigid();
    a = await h.t.createTenant('Org Roles');
    const app = await h.webApp(a.key);
    rp = await h.relyingParty(a.slug, app);
    const applications = await h.t.http.get('/api/v1/applications').set(admin()).expect(200);
    const applicationId = (applications.body.data as Array<{ id: string; client_id: string }>).find(
      (row) => row.client_id === app.clientId,
    )?.id;
    const api = await h.t.http
      .post('/api/v1/apis')
      .set(admin())
      .send({ name: 'Projects', identifier, scopes: scopes.map((value) => ({ value })) })
      .expect(201);
    await h.t.http.put(`/api/v1/apis/${api.body.id}/grants/${applicationId}`).set(admin()).send({ scopes }).expect(200);
    const role = async (name: string, scope: string) =>
      (
        await h.t.http
          .post('/api/v1/roles')
          .set(admin())
          .send({ name, permissions: [{ api_id: api.body.id, scope }] })
          .expect(201)
      ).body.id as string;
    const auditor = await role('Auditor', 'reports:read');
    builder = await role('Builder', 'projects:write');
    x = (await h.t.http.post('/api/v1/organizations').set(admin()).send({ name: 'x-corp' }).expect(201)).body.id;
    y = (await h.t.http.post('/api/v1/organizations').set(admin()).send({ name: 'y-corp' }).expect(201)).body.id;
    await h.t.http.patch('/api/v1/role-claims').set(admin()).send({ enforce_permissions: true }).expect(200);

    // Ada signs up (and verifies her address) through the hosted pages.
    person = h.browser();
    const request = await authorizationUrl(rp, { scope: 'openid' });
    await person.request(request.url);
    await person.request(person.page.$('a:contains("Create an account")').attr('href') as string);
    await person.submit('#email', { email, password });
    await person.request(await h.linkSentTo(email, '/verify-email'));
    await person.submit('button[type=submit]');
    const { rows } = await h.t.sigid.db.query<{ sub: string }>('select sub from account_links where tenant_id = $1', [
      a.tenantId,
    ]);
    sub = String(rows[0]?.sub);
    await h.t.http.put(`/api/v1/roles/${auditor}/users/${sub}`).set(admin()).expect(200);
    await h.t.http
      .put(`/api/v1/organizations/${x}/members/${sub}`)
      .set(admin())
      .send({ roles: [builder] })
      .expect(200);
    await h.t.http.put(`/api/v1/organizations/${y}/members/${sub}`).set(admin()).send({ roles: [] }).expect(200);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Ada authorizes the application for the API (signing in and consenting when asked) and redeems the code. */
  async function tokensFor(parameters: Record<string, string>) {
    const request = await authorizationUrl(rp, {
      scope: `openid offline_access ${scopes.join(' ')}`,
      resource: identifier,
      prompt: 'consent',
      ...parameters,
    });
    await person.request(request.url);
    if (person.page.$('#email').length > 0) await person.submit('#email', { email, password });
    if (person.page.$('button[value=allow]').length > 0) {
      await person.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    }
    expect(person.leftTo?.origin + (person.leftTo?.pathname ?? '')).toBe(CALLBACK);
    expect(person.leftTo?.searchParams.get('error')).toBeNull();
    return oauth.authorizationCodeGrant(rp, person.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
  }

  async function verified(accessToken: string): Promise<Record<string, unknown>> {
    const issuer = `${h.base}/t/${a.slug}`;
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
    const { payload } = await jwtVerify(accessToken, jwks, { issuer, audience: identifier });
    return {
      ...payload,
      scope: String(payload.scope ?? '')
        .split(' ')
        .filter(Boolean)
        .sort(),
    };
  }

  it('carries the tenant-level and the organization roles, and their scopes, for the organization', async () => {
    const tokens = await tokensFor({ organization: 'x-corp' });
    const access = await verified(tokens.access_token);
    expect(access).toMatchObject({
      sub,
      org_id: x,
      roles: ['Auditor', 'Builder'],
      permissions: ['projects:write', 'reports:read'],
      scope: ['projects:write', 'reports:read'],
    });
    // A refresh of that grant keeps the organization, and so its roles.
    const refreshed = await verified((await oauth.refreshTokenGrant(rp, String(tokens.refresh_token))).access_token);
    expect(refreshed).toMatchObject({
      org_id: x,
      roles: ['Auditor', 'Builder'],
      scope: ['projects:write', 'reports:read'],
    });
  });

  it('carries only the tenant-level roles without an organization', async () => {
    const access = await verified((await tokensFor({})).access_token);
    expect(access.org_id).toBeUndefined();
    expect(access).toMatchObject({ roles: ['Auditor'], permissions: ['reports:read'], scope: ['reports:read'] });
  });

  it("carries only the tenant-level roles for another organization, not X's", async () => {
    const access = await verified((await tokensFor({ organization: y })).access_token);
    expect(access).toMatchObject({
      org_id: y,
      roles: ['Auditor'],
      permissions: ['reports:read'],
      scope: ['reports:read'],
    });
  });

  it("drops a role taken from the membership from the organization's next token", async () => {
    const tokens = await tokensFor({ organization: x });
    expect((await verified(tokens.access_token)).roles).toEqual(['Auditor', 'Builder']);
    await h.t.http.put(`/api/v1/organizations/${x}/members/${sub}`).set(admin()).send({ roles: [] }).expect(200);
    await new Promise((resolve) => setTimeout(resolve, ROLE_CACHE_MS + 150));
    const refreshed = await verified((await oauth.refreshTokenGrant(rp, String(tokens.refresh_token))).access_token);
    expect(refreshed).toMatchObject({ org_id: x, roles: ['Auditor'], scope: ['reports:read'] });
    await h.t.http
      .put(`/api/v1/organizations/${x}/members/${sub}`)
      .set(admin())
      .send({ roles: [builder] })
      .expect(200);
  });
});
