import { decodeJwt } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationUrl, CALLBACK, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';

/**
 * Organization sign-in at a tenant's real issuer, driven over HTTP through the hosted pages with
 * `openid-client` as the relying party: `organization` (an id or a name) gives a member's id token
 * and access token `org_id` and `org_name`, also after a refresh; without it, no organization
 * claims; a non-member is answered `access_denied` (and it is in the audit trail); an unknown
 * organization is `invalid_request` before any page.
 */
describe('organization sign-in', () => {
  let h: HostedSigid;
  let a: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let app: { clientId: string; secret: string };
  let rp: oauth.Configuration;
  const email = `ada.${Date.now()}@example.test`;
  const password = 'correct horse battery staple';
  const identifier = 'https://orgs-api.example.com/api';
  let acme: { id: string; name: string };
  let globex: { id: string; name: string };
  let sub: string;
  const browser = () => h.browser();
  let person: ReturnType<HostedSigid['browser']>;

  const admin = () => ({ Authorization: `Bearer ${a.key}` });

  beforeAll(async () => {
    h = await startHostedSigid();
    a = await h.t.createTenant('Orgs');
    app = await h.webApp(a.key);
    rp = await h.relyingParty(a.slug, app);
    const applications = await h.t.http.get('/api/v1/applications').set(admin()).expect(200);
    const applicationId = (applications.body.data as Array<{ id: string; client_id: string }>).find(
      (row) => row.client_id === app.clientId,
    )?.id;
    const api = await h.t.http
      .post('/api/v1/apis')
      .set(admin())
      .send({ name: 'Orgs API', identifier, scopes: [{ value: 'invoices:read' }] })
      .expect(201);
    await h.t.http
      .put(`/api/v1/apis/${api.body.id}/grants/${applicationId}`)
      .set(admin())
      .send({ scopes: ['invoices:read'] })
      .expect(200);
    for (const name of ['acme', 'globex']) {
      const created = await h.t.http.post('/api/v1/organizations').set(admin()).send({ name }).expect(201);
      if (name === 'acme') acme = { id: created.body.id, name };
      else globex = { id: created.body.id, name };
    }

    // Ada signs up (and verifies her address) through the hosted pages; then she is made a member of acme only.
    person = browser();
    const request = await authorizationUrl(rp, { scope: 'openid' });
    await person.request(request.url);
    await person.request(person.page.$('a:contains("Create an account")').attr('href') as string);
    await person.submit('#email', { email, password });
    await person.request(await h.linkSentTo(email, '/verify-email'));
    await person.submit('button[type=submit]');
    const events = await h.events(a.tenantId, ['sign_in.failed']);
    expect(events).toEqual([]);
    const { rows } = await h.t.sigid.db.query<{ sub: string }>('select sub from account_links where tenant_id = $1', [
      a.tenantId,
    ]);
    sub = String(rows[0]?.sub);
    await h.t.http.put(`/api/v1/organizations/${acme.id}/members/${sub}`).set(admin()).send({ roles: [] }).expect(200);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Runs an authorization with these parameters in Ada's browser, signing in and consenting when asked. */
  async function authorize(parameters: Record<string, string>) {
    const request = await authorizationUrl(rp, {
      scope: 'openid offline_access invoices:read',
      resource: identifier,
      // offline_access (a refresh token) is granted only with a consent prompt (OIDC Core 11).
      prompt: 'consent',
      ...parameters,
    });
    await person.request(request.url);
    if (person.page.$('#email').length > 0) await person.submit('#email', { email, password });
    if (person.page.$('button[value=allow]').length > 0) {
      await person.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    }
    return request;
  }

  async function redeem(request: Awaited<ReturnType<typeof authorize>>) {
    expect(person.leftTo?.origin + (person.leftTo?.pathname ?? '')).toBe(CALLBACK);
    expect(person.leftTo?.searchParams.get('error')).toBeNull();
    return oauth.authorizationCodeGrant(rp, person.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
  }

  it("puts org_id and org_name in a member's id token and access token, by name or by id, and keeps them on refresh", async () => {
    const tokens = await redeem(await authorize({ organization: 'acme' }));
    expect(tokens.claims()).toMatchObject({ sub, org_id: acme.id, org_name: 'acme' });
    const access = decodeJwt(tokens.access_token);
    expect(access).toMatchObject({ aud: identifier, sub, org_id: acme.id, org_name: 'acme' });

    const refreshed = await oauth.refreshTokenGrant(rp, String(tokens.refresh_token));
    expect(refreshed.claims()).toMatchObject({ sub, org_id: acme.id, org_name: 'acme' });
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ org_id: acme.id, org_name: 'acme' });

    // Without a resource: an opaque access token, and userinfo says the organization too.
    const plain = await authorizationUrl(rp, { scope: 'openid', organization: 'acme', prompt: 'consent' });
    await person.request(plain.url);
    if (person.page.$('button[value=allow]').length > 0) {
      await person.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    }
    const opaque = await redeem(plain);
    const userinfo = await oauth.fetchUserInfo(rp, opaque.access_token, sub);
    expect(userinfo).toMatchObject({ sub, org_id: acme.id, org_name: 'acme' });

    // By id: the same claims (the name is what org_name carries).
    const byId = await redeem(await authorize({ organization: acme.id }));
    expect(byId.claims()).toMatchObject({ org_id: acme.id, org_name: 'acme' });
  });

  it('gives no organization claims without the parameter', async () => {
    const tokens = await redeem(await authorize({}));
    expect(tokens.claims()?.sub).toBe(sub);
    expect(tokens.claims()).not.toHaveProperty('org_id');
    expect(tokens.claims()).not.toHaveProperty('org_name');
    expect(decodeJwt(tokens.access_token)).not.toHaveProperty('org_id');
    // Nor does a refresh of that grant.
    const refreshed = await oauth.refreshTokenGrant(rp, String(tokens.refresh_token));
    expect(refreshed.claims()).not.toHaveProperty('org_id');
  });

  it('answers access_denied to a non-member, even one with a session, and records the refusal', async () => {
    const request = await authorizationUrl(rp, { scope: 'openid', organization: globex.name });
    await person.request(request.url);
    // Ada's session is not enough for an organization she is no member of: she is asked to sign in.
    expect(person.page.$('#email').length).toBe(1);
    await person.submit('#email', { email, password });
    expect(person.leftTo?.origin + (person.leftTo?.pathname ?? '')).toBe(CALLBACK);
    expect(person.leftTo?.searchParams.get('error')).toBe('access_denied');
    expect(person.leftTo?.searchParams.get('error_description')).toBe('the user is not a member of the organization');
    expect(person.leftTo?.searchParams.get('code')).toBeNull();
    const refused = await h.events(a.tenantId, ['sign_in.failed']);
    expect(refused.at(-1)?.data).toMatchObject({ sub, client_id: app.clientId, reason: 'not_organization_member' });

    // Once she is a member, the same request signs her in with globex's claims.
    await h.t.http
      .put(`/api/v1/organizations/${globex.id}/members/${sub}`)
      .set(admin())
      .send({ roles: [] })
      .expect(200);
    const tokens = await redeem(await authorize({ organization: globex.id }));
    expect(tokens.claims()).toMatchObject({ org_id: globex.id, org_name: 'globex' });
  });

  it("signs a member in for the organization that verified their address's domain (home-realm discovery)", async () => {
    const records = new Map<string, string[][]>();
    h.t.sigid.dns = {
      resolveTxt: async (name) => {
        const found = records.get(name);
        if (!found) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
        return found;
      },
    };
    const added = await h.t.http
      .post(`/api/v1/organizations/${globex.id}/domains`)
      .set(admin())
      .send({ domain: 'example.test' })
      .expect(201);
    records.set(added.body.verification.name, [[added.body.verification.value]]);
    await h.t.http.post(`/api/v1/organizations/${globex.id}/domains/example.test/verify`).set(admin()).expect(200);

    // No organization asked for: the address's domain finds globex, whose member Ada is.
    const tokens = await redeem(await authorize({ prompt: 'login consent' }));
    expect(tokens.claims()).toMatchObject({ sub, org_id: globex.id, org_name: 'globex' });
    // An organization the application asks for wins over the discovered one.
    const asked = await redeem(await authorize({ prompt: 'login consent', organization: 'acme' }));
    expect(asked.claims()).toMatchObject({ org_id: acme.id, org_name: 'acme' });
  });

  it('refuses an organization that is not one of the tenant with invalid_request, before any page', async () => {
    for (const organization of ['nope', 'org_01m8ss33wqeezr2cmaq9j1f4yv', 'a\u0000b', 'x'.repeat(5000), 'ACME ']) {
      const request = await authorizationUrl(rp, { scope: 'openid', organization });
      await person.request(request.url);
      expect(person.leftTo?.origin + (person.leftTo?.pathname ?? '')).toBe(CALLBACK);
      expect(person.leftTo?.searchParams.get('error')).toBe('invalid_request');
      expect(person.leftTo?.searchParams.get('error_description')).toBe('the organization is not one of this tenant');
    }
  });
});
