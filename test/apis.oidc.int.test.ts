import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_CACHE_MS } from '../src/oidc/apis.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Tenant = Awaited<ReturnType<TestSigid['createTenant']>>;

/**
 * Tokens for a tenant's APIs, through a real relying party (`openid-client`) over real HTTP: `aud`
 * is the API's identifier, the scope the requested ones the API defines and the application was
 * granted, the lifetime the API's; an unknown resource is `invalid_target`; a change reaches the
 * issuer within the directory's bound (API_CACHE_MS). Tenants' APIs are independent.
 */
describe('tokens limited by APIs and grants', () => {
  let t: TestSigid;
  let server: Server;
  let base: string;
  let a: Tenant;
  let b: Tenant;
  const insecure = { execute: [oauth.allowInsecureRequests] };
  const identifier = 'https://billing.example.com/api';
  const scopes = ['invoices:read', 'invoices:write', 'payments:refund'].map((value) => ({ value, description: value }));

  beforeAll(async () => {
    t = await startSigid();
    server = createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t.sigid.config.publicUrl = base;
    a = await t.createTenant('APIs A');
    b = await t.createTenant('APIs B');
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  const authz = (who: Tenant) => `Bearer ${who.key}`;

  async function machine(who: Tenant) {
    const created = await t.http
      .post('/api/v1/applications')
      .set('Authorization', authz(who))
      .send({ kind: 'm2m', client_name: 'Worker' })
      .expect(201);
    const config = await oauth.discovery(
      new URL(`${base}/t/${who.slug}`),
      created.body.client_id,
      created.body.client_secret,
      undefined,
      insecure,
    );
    return { id: created.body.id as string, clientId: created.body.client_id as string, config };
  }

  async function registerApi(who: Tenant, body: Record<string, unknown>) {
    return (await t.http.post('/api/v1/apis').set('Authorization', authz(who)).send(body).expect(201)).body as {
      id: string;
    };
  }

  async function grant(who: Tenant, apiId: string, applicationId: string, granted: string[]) {
    await t.http
      .put(`/api/v1/apis/${apiId}/grants/${applicationId}`)
      .set('Authorization', authz(who))
      .send({ scopes: granted })
      .expect(200);
  }

  async function verified(who: Tenant, accessToken: string, audience: string) {
    const issuer = `${base}/t/${who.slug}`;
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
    return (await jwtVerify(accessToken, jwks, { issuer, audience })).payload;
  }

  const waitForCache = () => new Promise((resolve) => setTimeout(resolve, API_CACHE_MS + 150));

  it("gives aud = the identifier, the requested scopes that are granted, and the API's lifetime", async () => {
    const api = await registerApi(a, { name: 'Billing', identifier, scopes, access_token_ttl_seconds: 900 });
    const client = await machine(a);
    await grant(a, api.id, client.id, ['invoices:read', 'payments:refund']);
    const tokens = await oauth.clientCredentialsGrant(client.config, {
      scope: 'invoices:read invoices:write payments:refund openid unknown:scope',
      resource: identifier,
    });
    const payload = await verified(a, tokens.access_token, identifier);
    expect(payload.aud).toBe(identifier);
    expect(String(payload.scope).split(' ').sort()).toEqual(['invoices:read', 'payments:refund']);
    expect(Number(payload.exp) - Number(payload.iat)).toBe(900);
    expect(tokens.expires_in).toBe(900);
    // Only what was asked for, of what is granted.
    const narrow = await oauth.clientCredentialsGrant(client.config, { scope: 'invoices:read', resource: identifier });
    expect((await verified(a, narrow.access_token, identifier)).scope).toBe('invoices:read');
    // A scope not granted is never in the token, even asked for alone.
    const refused = await oauth.clientCredentialsGrant(client.config, {
      scope: 'invoices:write',
      resource: identifier,
    });
    expect((await verified(a, refused.access_token, identifier)).scope ?? '').toBe('');
    // The token's event records what it carries.
    const { rows } = await t.sigid.db.query<{ data: { jti: string; scopes: string[]; audience: string[] } }>(
      `select data from sigid_events where tenant_id = $1 and event_type = 'oauth.token.issued'`,
      [a.tenantId],
    );
    const event = rows.find((row) => row.data.jti === payload.jti);
    expect(event?.data.audience).toEqual([identifier]);
    expect([...(event?.data.scopes ?? [])].sort()).toEqual(['invoices:read', 'payments:refund']);
  });

  it('gives an application with no grant none of the API’s scopes', async () => {
    const client = await machine(a);
    const tokens = await oauth.clientCredentialsGrant(client.config, { scope: 'invoices:read', resource: identifier });
    expect((await verified(a, tokens.access_token, identifier)).scope ?? '').toBe('');
  });

  it('answers invalid_target for a resource that is no API of the tenant', async () => {
    const client = await machine(a);
    for (const resource of ['https://unknown.example.com/api', `${identifier}/`, 'urn:sigid:anything']) {
      await expect(
        oauth.clientCredentialsGrant(client.config, { scope: 'invoices:read', resource }),
      ).rejects.toMatchObject({ error: 'invalid_target' });
    }
  });

  it("keeps one tenant's API apart from another's with the same identifier", async () => {
    const theirs = await registerApi(b, {
      name: 'Their billing',
      identifier,
      scopes: [{ value: 'b:only', description: '' }],
      access_token_ttl_seconds: 120,
    });
    const theirClient = await machine(b);
    await grant(b, theirs.id, theirClient.id, ['b:only']);
    const tokens = await oauth.clientCredentialsGrant(theirClient.config, {
      scope: 'b:only invoices:read',
      resource: identifier,
    });
    const payload = await verified(b, tokens.access_token, identifier);
    expect(payload.scope).toBe('b:only');
    expect(Number(payload.exp) - Number(payload.iat)).toBe(120);
    // Tenant A's issuer still uses A's API: its scopes, its lifetime; B's scope is nothing there.
    const mine = await machine(a);
    const listed = await t.http.get('/api/v1/apis').set('Authorization', authz(a)).expect(200);
    const ours = (listed.body.data as Array<{ id: string; identifier: string }>).find(
      (row) => row.identifier === identifier,
    );
    await grant(a, String(ours?.id), mine.id, ['invoices:read']);
    const ourToken = await oauth.clientCredentialsGrant(mine.config, {
      scope: 'b:only invoices:read',
      resource: identifier,
    });
    const ourPayload = await verified(a, ourToken.access_token, identifier);
    expect(ourPayload.scope).toBe('invoices:read');
    expect(Number(ourPayload.exp) - Number(ourPayload.iat)).toBe(900);
  });

  it('stops issuing a scope removed from a grant or from the API, and the API once deleted, within API_CACHE_MS', async () => {
    const resource = 'https://changing.example.com/api';
    const api = await registerApi(a, { name: 'Changing', identifier: resource, scopes });
    const client = await machine(a);
    await grant(a, api.id, client.id, ['invoices:read', 'invoices:write', 'payments:refund']);
    const scopeOf = async () => {
      const tokens = await oauth.clientCredentialsGrant(client.config, {
        scope: 'invoices:read invoices:write payments:refund',
        resource,
      });
      return String((await verified(a, tokens.access_token, resource)).scope ?? '')
        .split(' ')
        .filter(Boolean)
        .sort();
    };
    expect(await scopeOf()).toEqual(['invoices:read', 'invoices:write', 'payments:refund']);
    await grant(a, api.id, client.id, ['invoices:read', 'invoices:write']);
    await waitForCache();
    expect(await scopeOf()).toEqual(['invoices:read', 'invoices:write']);
    await t.http
      .patch(`/api/v1/apis/${api.id}`)
      .set('Authorization', authz(a))
      .send({ scopes: scopes.filter((scope) => scope.value !== 'invoices:write') })
      .expect(200);
    await waitForCache();
    expect(await scopeOf()).toEqual(['invoices:read']);
    // Put back, the scope is not granted again by itself: the grant lost it.
    await t.http.patch(`/api/v1/apis/${api.id}`).set('Authorization', authz(a)).send({ scopes }).expect(200);
    await waitForCache();
    expect(await scopeOf()).toEqual(['invoices:read']);
    await t.http.delete(`/api/v1/apis/${api.id}/grants/${client.id}`).set('Authorization', authz(a)).expect(204);
    await waitForCache();
    expect(await scopeOf()).toEqual([]);
    await t.http.delete(`/api/v1/apis/${api.id}`).set('Authorization', authz(a)).expect(204);
    await waitForCache();
    await expect(
      oauth.clientCredentialsGrant(client.config, { scope: 'invoices:read', resource }),
    ).rejects.toMatchObject({ error: 'invalid_target' });
  });
});
