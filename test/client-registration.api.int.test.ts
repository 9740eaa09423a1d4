import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_CACHE_MS } from '../src/oidc/clients.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Tenant = Awaited<ReturnType<TestSigid['createTenant']>>;

/**
 * SigID's API as a protected resource (RFC 9728 metadata, `WWW-Authenticate` on every 401), the
 * tenant's client registration settings (`/api/v1/client-registration`: events, bad input, isolation)
 * and RFC 7591 dynamic registration at `/t/{slug}/reg`, refused while off and, on, registering an
 * application through the application service (openid-client's `dynamicClientRegistration` as the client).
 */
describe('protected resource metadata, client registration settings and dynamic registration', () => {
  let t: TestSigid;
  let server: Server;
  let base: string;
  let a: Tenant;
  let b: Tenant;
  const insecure = { execute: [oauth.allowInsecureRequests] };

  beforeAll(async () => {
    t = await startSigid();
    server = createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t.sigid.config.publicUrl = base;
    a = await t.createTenant('Registration A');
    b = await t.createTenant('Registration B');
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  const authz = (who: Tenant) => `Bearer ${who.key}`;
  const events = async (tenantId: string, types: string[]) =>
    (
      await t.sigid.db.query<{
        event_type: string;
        data: Record<string, unknown>;
        actor_type: string;
        actor_id: string;
      }>(
        `select event_type, data, actor_type, actor_id from sigid_events where tenant_id = $1 and event_type = any($2) order by global_position`,
        [tenantId, types],
      )
    ).rows;

  it("serves RFC 9728 metadata of SigID's API", async () => {
    const response = await t.http.get('/.well-known/oauth-protected-resource').expect(200);
    expect(response.body).toEqual({
      resource: base,
      authorization_servers: [],
      scopes_supported: [],
      bearer_methods_supported: ['header'],
      resource_name: 'SigID API',
      resource_documentation: `${base}/api/v1/openapi.json`,
    });
  });

  it('answers every 401 of the API with a challenge naming the metadata, invalid_token when a key was refused', async () => {
    const metadata = `${base}/.well-known/oauth-protected-resource`;
    const none = await t.http.get('/api/v1/applications').expect(401);
    expect(none.headers['www-authenticate']).toBe(`Bearer resource_metadata="${metadata}"`);
    expect(none.type).toBe('application/problem+json');
    const wrong = await t.http.get('/api/v1/applications').set('Authorization', 'Bearer sk_wrong').expect(401);
    expect(wrong.headers['www-authenticate']).toBe(`Bearer resource_metadata="${metadata}", error="invalid_token"`);
    const operator = await t.http.get('/api/v1/tenants').set('Authorization', 'Bearer nope').expect(401);
    expect(operator.headers['www-authenticate']).toBe(`Bearer resource_metadata="${metadata}", error="invalid_token"`);
    // Not a 401: no challenge.
    const ok = await t.http.get('/api/v1/applications').set('Authorization', authz(a)).expect(200);
    expect(ok.headers['www-authenticate']).toBeUndefined();
  });

  it('keeps both switches off by default, changes them as events, refuses bad input, and keeps tenants apart', async () => {
    const read = await t.http.get('/api/v1/client-registration').set('Authorization', authz(a)).expect(200);
    expect(read.body).toEqual({
      object: 'client_registration',
      client_id_metadata_documents: false,
      dynamic_registration: false,
    });
    for (const body of [{}, { dynamic_registration: 'yes' }, { other: true }]) {
      const refused = await t.http
        .patch('/api/v1/client-registration')
        .set('Authorization', authz(a))
        .send(body)
        .expect(400);
      expect(refused.type).toBe('application/problem+json');
    }
    expect(await events(a.tenantId, ['tenant.client_registration.changed'])).toEqual([]);
    const stale = read.headers.etag as string;
    const on = await t.http
      .patch('/api/v1/client-registration')
      .set('Authorization', authz(a))
      .set('If-Match', stale)
      .send({ dynamic_registration: true })
      .expect(200);
    expect(on.body).toMatchObject({ client_id_metadata_documents: false, dynamic_registration: true });
    await t.http
      .patch('/api/v1/client-registration')
      .set('Authorization', authz(a))
      .set('If-Match', stale)
      .send({ dynamic_registration: false })
      .expect(412);
    // The same value again appends nothing.
    await t.http
      .patch('/api/v1/client-registration')
      .set('Authorization', authz(a))
      .send({ dynamic_registration: true })
      .expect(200);
    const changed = await events(a.tenantId, ['tenant.client_registration.changed']);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({
      data: { client_id_metadata_documents: false, dynamic_registration: true },
      actor_type: 'api_key',
      actor_id: a.keyId,
    });
    const audit = await t.http
      .get('/api/v1/audit-logs')
      .query({ action: 'tenant.client_registration.changed' })
      .set('Authorization', authz(a))
      .expect(200);
    expect(audit.body.data).toHaveLength(1);
    const theirs = await t.http.get('/api/v1/client-registration').set('Authorization', authz(b)).expect(200);
    expect(theirs.body.dynamic_registration).toBe(false);
  });

  it('refuses dynamic registration while the tenant has it off, and does not advertise it', async () => {
    const response = await fetch(`${base}/t/${b.slug}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://app.example.test/cb'], token_endpoint_auth_method: 'none' }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: 'access_denied',
      error_description: 'Dynamic client registration is not enabled for this tenant.',
    });
    const discovery = (await (await fetch(`${base}/t/${b.slug}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery.registration_endpoint).toBeUndefined();
    const listed = await t.http.get('/api/v1/applications').set('Authorization', authz(b)).expect(200);
    expect(listed.body.data).toEqual([]);
  });

  it('registers a client through openid-client when on: an application with its event, in /api/v1/applications', async () => {
    // Tenant A turned dynamic registration on in the test above; its issuers see it within CLIENT_CACHE_MS.
    await new Promise((resolve) => setTimeout(resolve, CLIENT_CACHE_MS + 100));
    const discovery = (await (await fetch(`${base}/t/${a.slug}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery.registration_endpoint).toBe(`${base}/t/${a.slug}/reg`);
    const config = await oauth.dynamicClientRegistration(
      new URL(`${base}/t/${a.slug}`),
      {
        client_name: 'Old MCP client',
        redirect_uris: ['http://127.0.0.1:33418/callback'],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        scope: 'projects:read',
      },
      oauth.None(),
      insecure,
    );
    const metadata = config.clientMetadata();
    expect(metadata.client_secret).toBeUndefined();
    expect(metadata.token_endpoint_auth_method).toBe('none');
    const listed = await t.http.get('/api/v1/applications').set('Authorization', authz(a)).expect(200);
    const application = (listed.body.data as Array<Record<string, unknown>>).find(
      (row) => row.client_id === metadata.client_id,
    );
    expect(application).toMatchObject({ kind: 'spa', client_name: 'Old MCP client' });
    const created = await events(a.tenantId, ['application.created']);
    expect(created.at(-1)).toMatchObject({ actor_type: 'system', actor_id: 'dynamic-registration' });
    // The issuer knows it at once: an authorization request for it is a sign-in page, not an error.
    const url = oauth.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:33418/callback',
      scope: 'openid',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const started = await fetch(url, { redirect: 'manual' });
    expect(started.status).toBe(303);
    expect(started.headers.get('location')).toContain('/interaction/');
  });

  it('gives a confidential client a secret, and refuses metadata SigID does not allow with nothing written', async () => {
    const register = (body: Record<string, unknown>) =>
      fetch(`${base}/t/${a.slug}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (response) => ({
        status: response.status,
        body: (await response.json()) as Record<string, unknown>,
      }));
    const web = await register({ client_name: 'Web', redirect_uris: ['https://app.example.test/cb'] });
    expect(web.status).toBe(201);
    expect(web.body).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', client_secret_expires_at: 0 });
    expect(String(web.body.client_secret).length).toBeGreaterThan(20);
    const before = (await t.http.get('/api/v1/applications').set('Authorization', authz(a))).body.data.length;
    expect(
      await register({ redirect_uris: ['http://evil.example.test/cb'], token_endpoint_auth_method: 'none' }),
    ).toMatchObject({
      status: 400,
      body: { error: 'invalid_redirect_uri' },
    });
    expect(await register({ redirect_uris: 'https://app.example.test/cb' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_redirect_uri' },
    });
    expect(await register({ token_endpoint_auth_method: 'client_secret_jwt' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_client_metadata' },
    });
    expect(await register({ grant_types: ['implicit'] })).toMatchObject({ status: 400 });
    const after = (await t.http.get('/api/v1/applications').set('Authorization', authz(a))).body.data.length;
    expect(after).toBe(before);
  });
});
