import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { IDP_CLIENT_ID, IDP_CLIENT_SECRET, startCustomerIdp } from './support/customer-idp.ts';
import { settled } from './support/settled.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;

type Tenant = { tenantId: string; key: string; slug: string };

/**
 * `/api/v1/organizations/{id}/connections` over HTTP against a real SigID: SSO connections are
 * created only for an issuer whose discovery document SigID could fetch through the SSRF guard (a
 * real oidc-provider here; a local server stands in for a customer's broken hosts), their client
 * secret is never answered nor in an event, every change is in the audit log, bad input is a 4xx
 * problem that writes nothing, and another tenant's (or another organization's) connection is 404.
 */
describe('SSO connections API', () => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  let idp: Awaited<ReturnType<typeof startCustomerIdp>>;
  let broken: Server;
  let brokenBase: string;
  let orgId: string;
  let secondOrgId: string;
  let otherOrgId: string;
  let roleId: string;
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;

  const body = (overrides: Record<string, unknown> = {}) => ({
    name: 'Acme Workforce',
    protocol: 'oidc',
    oidc: { issuer: idp.issuer, client_id: IDP_CLIENT_ID, client_secret: IDP_CLIENT_SECRET },
    ...overrides,
  });

  async function eventCount(tenantId: string): Promise<number> {
    const { rows } = await t.sigid.db.query<{ count: number }>(
      'select count(*)::int as count from sigid_events where tenant_id = $1',
      [tenantId],
    );
    return Number(rows[0]?.count);
  }

  beforeAll(async () => {
    t = await startSigid({ config: { webhooks: loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' }) } });
    tenant = await t.createTenant('Connections');
    other = await t.createTenant('Someone else');
    idp = await startCustomerIdp({ redirectUris: ['http://127.0.0.1:1/callback'], users: {} });
    // A customer's host that is not an OpenID Provider: HTML, another issuer, a 404, by path.
    broken = createServer((request, response) => {
      const host = `http://${request.headers.host}`;
      if (request.url?.startsWith('/html/'))
        return void response.writeHead(200, { 'content-type': 'text/html' }).end('<h1>hi</h1>');
      if (request.url?.startsWith('/other/')) {
        return void response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            issuer: `${host}/someone-else`,
            authorization_endpoint: `${host}/a`,
            token_endpoint: `${host}/t`,
            jwks_uri: `${host}/j`,
            response_types_supported: ['code'],
          }),
        );
      }
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    brokenBase = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    const org = async (who: Tenant, name: string) =>
      (await t.http.post('/api/v1/organizations').set('Authorization', auth(who)).send({ name }).expect(201)).body.id;
    orgId = await org(tenant, 'acme');
    secondOrgId = await org(tenant, 'globex');
    otherOrgId = await org(other, 'acme');
    roleId = (await t.http.post('/api/v1/roles').set('Authorization', auth()).send({ name: 'admin' }).expect(201)).body
      .id;
  }, 60_000);
  afterAll(async () => {
    await idp?.close();
    await new Promise((resolve) => broken?.close(resolve));
    await t?.close();
  });

  it('creates, reads, lists, changes, disables and deletes a connection; the secret is never answered; each change is audited', async () => {
    const created = await t.http
      .post(`/api/v1/organizations/${orgId}/connections`)
      .set('Authorization', auth())
      .send(body({ role_mapping: { admins: roleId }, oidc: { ...body().oidc, claim_mapping: { roles: 'groups' } } }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect(id).toMatch(/^con_/);
    expect(created.headers.location).toBe(`/api/v1/organizations/${orgId}/connections/${id}`);
    expect(created.headers.etag).toBe('"0"');
    expect(created.body).toMatchObject({
      object: 'connection',
      organization_id: orgId,
      name: 'Acme Workforce',
      protocol: 'oidc',
      enabled: true,
      oidc: {
        issuer: idp.issuer,
        client_id: IDP_CLIENT_ID,
        client_secret_set: true,
        scopes: ['openid', 'email', 'profile'],
        claim_mapping: { email: 'email', email_verified: 'email_verified', name: 'name', roles: 'groups' },
      },
      role_mapping: { admins: roleId },
      link_existing_accounts: false,
      callback_url: `${t.sigid.config.publicUrl}/t/${tenant.slug}/sso/callback`,
    });
    expect(JSON.stringify(created.body)).not.toContain(IDP_CLIENT_SECRET);

    const read = await t.http
      .get(`/api/v1/organizations/${orgId}/connections/${id}`)
      .set('Authorization', auth())
      .expect(200);
    expect(read.body).toEqual(created.body);
    const list = await t.http
      .get(`/api/v1/organizations/${orgId}/connections`)
      .set('Authorization', auth())
      .expect(200);
    expect(list.body.data.map((row: { id: string }) => row.id)).toEqual([id]);
    const empty = await t.http
      .get(`/api/v1/organizations/${secondOrgId}/connections`)
      .set('Authorization', auth())
      .expect(200);
    expect(empty.body.data).toEqual([]);

    const changed = await t.http
      .patch(`/api/v1/organizations/${orgId}/connections/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ name: 'Acme Okta', enabled: false, oidc: { scopes: ['email'], client_secret: 'a-new-secret' } })
      .expect(200);
    expect(changed.body).toMatchObject({ name: 'Acme Okta', enabled: false, oidc: { scopes: ['openid', 'email'] } });
    expect(JSON.stringify(changed.body)).not.toContain('a-new-secret');
    await t.http
      .patch(`/api/v1/organizations/${orgId}/connections/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ enabled: true })
      .expect(412);
    await t.http
      .patch(`/api/v1/organizations/${orgId}/connections/${id}`)
      .set('Authorization', auth())
      .send({ enabled: true })
      .expect(200);

    // The secrets: sealed, one current (the new one), never in an event.
    const { rows: secrets } = await t.sigid.db.query<{ id: string }>(
      `select id from sealed_secrets where tenant_id = $1 and kind = 'connection-secret' and owner_id = $2`,
      [tenant.tenantId, id],
    );
    expect(secrets.length).toBe(2);
    const { rows: events } = await t.sigid.db.query<{ event_type: string; data: unknown }>(
      'select event_type, data from sigid_events where tenant_id = $1 order by global_position',
      [tenant.tenantId],
    );
    expect(JSON.stringify(events)).not.toContain(IDP_CLIENT_SECRET);
    expect(JSON.stringify(events)).not.toContain('a-new-secret');

    await t.http.delete(`/api/v1/organizations/${orgId}/connections/${id}`).set('Authorization', auth()).expect(204);
    await t.http.get(`/api/v1/organizations/${orgId}/connections/${id}`).set('Authorization', auth()).expect(404);
    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${id}&order=asc`)
      .set('Authorization', auth())
      .expect(200);
    expect(audit.body.data.map((entry: { action: string }) => entry.action)).toEqual([
      'connection.created',
      'connection.updated',
      'connection.disabled',
      'connection.enabled',
      'connection.deleted',
    ]);
    await settled(t.sigid);
    const { rows: left } = await t.sigid.db.query(
      `select id from sealed_secrets where tenant_id = $1 and kind = 'connection-secret' and owner_id = $2`,
      [tenant.tenantId, id],
    );
    expect(left).toEqual([]);
  });

  it('refuses an issuer SigID cannot reach or that is no OpenID Provider, with a 422 naming why, and writes nothing', async () => {
    const cases: Array<[string, string]> = [
      ['http://127.0.0.1:1', 'issuer_unreachable'],
      [`${brokenBase}/missing`, 'issuer_unreachable'],
      [`${brokenBase}/html/x`, 'invalid_issuer'],
      [`${brokenBase}/other/x`, 'invalid_issuer'],
      ['https://10.1.2.3', 'forbidden_address'],
      ['https://169.254.169.254/latest', 'forbidden_address'],
      ['http://8.8.8.8', 'scheme_not_allowed'],
    ];
    const before = await eventCount(tenant.tenantId);
    for (const [issuer, code] of cases) {
      const refused = await t.http
        .post(`/api/v1/organizations/${orgId}/connections`)
        .set('Authorization', auth())
        .send(body({ oidc: { issuer, client_id: 'x', client_secret: 'y' } }));
      expect([issuer, refused.status, refused.body.code]).toEqual([issuer, 422, code]);
      expect(refused.headers['content-type']).toMatch(problem);
    }
    // A change of issuer is checked again.
    const id = (
      await t.http
        .post(`/api/v1/organizations/${orgId}/connections`)
        .set('Authorization', auth())
        .send(body())
        .expect(201)
    ).body.id;
    const afterCreate = await eventCount(tenant.tenantId);
    const patched = await t.http
      .patch(`/api/v1/organizations/${orgId}/connections/${id}`)
      .set('Authorization', auth())
      .send({ oidc: { issuer: `${brokenBase}/html/y` } });
    expect([patched.status, patched.body.code]).toEqual([422, 'invalid_issuer']);
    expect(await eventCount(tenant.tenantId)).toBe(afterCreate);
    expect(afterCreate).toBe(before + 1);
  });

  it('refuses bad input with a 400 problem and writes nothing', async () => {
    const before = await eventCount(tenant.tenantId);
    const bad: unknown[] = [
      {},
      body({ protocol: 'saml' }),
      body({ protocol: undefined }),
      body({ extra: 1 }),
      body({ name: '' }),
      body({ name: 'a\u0000b' }),
      body({ oidc: { issuer: 'not a url', client_id: 'x', client_secret: 'y' } }),
      body({ oidc: { issuer: `${idp.issuer}?x=1`, client_id: 'x', client_secret: 'y' } }),
      body({ oidc: { issuer: 'ftp://idp.example.com', client_id: 'x', client_secret: 'y' } }),
      body({ oidc: { issuer: idp.issuer, client_id: '', client_secret: 'y' } }),
      body({ oidc: { issuer: idp.issuer, client_id: 'x' } }),
      body({ oidc: { issuer: idp.issuer, client_id: 'x', client_secret: 'y', scopes: ['a b'] } }),
      body({ oidc: { issuer: idp.issuer, client_id: 'x', client_secret: 'y', claim_mapping: { phone: 'p' } } }),
      body({ role_mapping: { admins: 'rol_nope' } }),
      body({ enabled: 'yes' }),
    ];
    for (const payload of bad) {
      const refused = await t.http
        .post(`/api/v1/organizations/${orgId}/connections`)
        .set('Authorization', auth())
        .send(payload as object);
      expect([JSON.stringify(payload), refused.status, refused.body.code]).toEqual([
        JSON.stringify(payload),
        400,
        'invalid_request',
      ]);
      expect(refused.headers['content-type']).toMatch(problem);
    }
    // A role mapping naming no role of the tenant, or without a claim to read roles from: 400 naming it.
    const unknownRole = await t.http
      .post(`/api/v1/organizations/${orgId}/connections`)
      .set('Authorization', auth())
      .send(
        body({
          role_mapping: { admins: 'rol_01m8w5a7y3exdt48qje61g3w01' },
          oidc: { ...body().oidc, claim_mapping: { roles: 'groups' } },
        }),
      )
      .expect(400);
    expect(unknownRole.body.errors).toEqual([
      expect.objectContaining({ path: 'role_mapping.admins', code: 'unknown_role' }),
    ]);
    const noClaim = await t.http
      .post(`/api/v1/organizations/${orgId}/connections`)
      .set('Authorization', auth())
      .send(body({ role_mapping: { admins: roleId } }))
      .expect(400);
    expect(noClaim.body.errors).toEqual([expect.objectContaining({ path: 'oidc.claim_mapping.roles' })]);
    expect(await eventCount(tenant.tenantId)).toBe(before);

    const id = (
      await t.http
        .post(`/api/v1/organizations/${orgId}/connections`)
        .set('Authorization', auth())
        .send(body())
        .expect(201)
    ).body.id;
    const afterCreate = await eventCount(tenant.tenantId);
    for (const payload of [{}, { protocol: 'oidc' }, { oidc: {} }, { organization_id: secondOrgId }, { name: 5 }]) {
      await t.http
        .patch(`/api/v1/organizations/${orgId}/connections/${id}`)
        .set('Authorization', auth())
        .send(payload)
        .expect(400);
    }
    expect(await eventCount(tenant.tenantId)).toBe(afterCreate);
  });

  it("keeps one tenant's and one organization's connections from another: 404 for every route", async () => {
    const id = (
      await t.http
        .post(`/api/v1/organizations/${orgId}/connections`)
        .set('Authorization', auth())
        .send(body())
        .expect(201)
    ).body.id;
    const before = await eventCount(tenant.tenantId);
    const theirs = auth(other);
    // Another tenant's key, on this tenant's organization and connection.
    await t.http.get(`/api/v1/organizations/${orgId}/connections`).set('Authorization', theirs).expect(404);
    await t.http
      .post(`/api/v1/organizations/${orgId}/connections`)
      .set('Authorization', theirs)
      .send(body())
      .expect(404);
    await t.http.get(`/api/v1/organizations/${orgId}/connections/${id}`).set('Authorization', theirs).expect(404);
    await t.http
      .patch(`/api/v1/organizations/${orgId}/connections/${id}`)
      .set('Authorization', theirs)
      .send({ name: 'x' })
      .expect(404);
    await t.http.delete(`/api/v1/organizations/${orgId}/connections/${id}`).set('Authorization', theirs).expect(404);
    // Its own organization, this tenant's connection id.
    await t.http.get(`/api/v1/organizations/${otherOrgId}/connections/${id}`).set('Authorization', theirs).expect(404);
    await t.http
      .delete(`/api/v1/organizations/${otherOrgId}/connections/${id}`)
      .set('Authorization', theirs)
      .expect(404);
    // The same tenant, another organization's path.
    await t.http.get(`/api/v1/organizations/${secondOrgId}/connections/${id}`).set('Authorization', auth()).expect(404);
    await t.http
      .patch(`/api/v1/organizations/${secondOrgId}/connections/${id}`)
      .set('Authorization', auth())
      .send({ name: 'x' })
      .expect(404);
    // Ids of no shape.
    await t.http.get(`/api/v1/organizations/${orgId}/connections/nope`).set('Authorization', auth()).expect(404);
    await t.http.get(`/api/v1/organizations/nope/connections`).set('Authorization', auth()).expect(404);
    expect(await eventCount(tenant.tenantId)).toBe(before);
    expect(
      (await t.http.get(`/api/v1/organizations/${orgId}/connections/${id}`).set('Authorization', auth()).expect(200))
        .body.name,
    ).toBe('Acme Workforce');
  });

  it("deletes an organization's connections with it", async () => {
    const org = (
      await t.http.post('/api/v1/organizations').set('Authorization', auth()).send({ name: 'initech' }).expect(201)
    ).body.id;
    const id = (
      await t.http
        .post(`/api/v1/organizations/${org}/connections`)
        .set('Authorization', auth())
        .send(body())
        .expect(201)
    ).body.id;
    await t.http.delete(`/api/v1/organizations/${org}/connections/${id}`).set('Authorization', auth()).expect(204);
    const again = (
      await t.http
        .post(`/api/v1/organizations/${org}/connections`)
        .set('Authorization', auth())
        .send(body())
        .expect(201)
    ).body.id;
    await t.http.delete(`/api/v1/organizations/${org}`).set('Authorization', auth()).expect(204);
    const audit = await t.http.get(`/api/v1/audit-logs?target=${again}`).set('Authorization', auth()).expect(200);
    expect(audit.body.data.map((entry: { action: string }) => entry.action)).toContain('connection.deleted');
    const { rows } = await t.sigid.db.query('select * from connections where tenant_id = $1 and organization_id = $2', [
      tenant.tenantId,
      org,
    ]);
    expect(rows).toEqual([]);
  });
});
