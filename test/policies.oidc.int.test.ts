import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Tenant = Awaited<ReturnType<TestSigid['createTenant']>>;

/**
 * Tenant policies at token issuance, through a real relying party (`openid-client`, client_credentials)
 * against the real issuer: a forbid on a scope drops it (recorded on the token's event with the
 * deciding policy), a forbid on the API refuses the token with `access_denied` (recorded as
 * `policy.token.denied`), a tenant without policies issues as before, and one tenant's policies never
 * touch another's tokens.
 */
describe('tokens narrowed by tenant policies', () => {
  let t: TestSigid;
  let server: Server;
  let base: string;
  let a: Tenant;
  let b: Tenant;
  const insecure = { execute: [oauth.allowInsecureRequests] };
  const identifier = 'https://billing.example.com/api';
  const scopes = ['invoices:read', 'invoices:write', 'payments:refund'];

  beforeAll(async () => {
    t = await startSigid();
    server = createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t.sigid.config.publicUrl = base;
    a = await t.createTenant('Policies A');
    b = await t.createTenant('Policies B');
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  const authz = (who: Tenant) => `Bearer ${who.key}`;

  /** An m2m application granted every scope of the tenant's billing API (made on first use). */
  const apis = new Map<string, string>();
  async function machine(who: Tenant) {
    let apiId = apis.get(who.tenantId);
    if (!apiId) {
      const api = await t.http
        .post('/api/v1/apis')
        .set('Authorization', authz(who))
        .send({ name: 'Billing', identifier, scopes: scopes.map((value) => ({ value })) })
        .expect(201);
      apiId = api.body.id as string;
      apis.set(who.tenantId, apiId);
    }
    const created = await t.http
      .post('/api/v1/applications')
      .set('Authorization', authz(who))
      .send({ kind: 'm2m', client_name: 'Worker' })
      .expect(201);
    await t.http
      .put(`/api/v1/apis/${apiId}/grants/${created.body.id}`)
      .set('Authorization', authz(who))
      .send({ scopes })
      .expect(200);
    const config = await oauth.discovery(
      new URL(`${base}/t/${who.slug}`),
      created.body.client_id,
      created.body.client_secret,
      undefined,
      insecure,
    );
    return { clientId: created.body.client_id as string, config };
  }

  async function policy(who: Tenant, name: string, cedar: string) {
    const created = await t.http.post('/api/v1/policies').set('Authorization', authz(who)).send({ name, cedar });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.id as string;
  }

  async function scopeOf(who: Tenant, config: oauth.Configuration, scope = scopes.join(' ')) {
    const tokens = await oauth.clientCredentialsGrant(config, { scope, resource: identifier });
    const issuer = `${base}/t/${who.slug}`;
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${issuer}/jwks`)), {
      issuer,
      audience: identifier,
    });
    return {
      jti: String(payload.jti),
      scopes: String(payload.scope ?? '')
        .split(' ')
        .filter(Boolean)
        .sort(),
    };
  }

  async function events(who: Tenant, type: string) {
    const { rows } = await t.sigid.db.query<{ data: Record<string, unknown> }>(
      'select data from sigid_events where tenant_id = $1 and event_type = $2 order by global_position',
      [who.tenantId, type],
    );
    return rows.map((row) => row.data);
  }

  it('issues as before while a tenant has no policy, and with only permits', async () => {
    const client = await machine(a);
    expect((await scopeOf(a, client.config)).scopes).toEqual([...scopes].sort());
    // A permit is not needed at issuance, and one that does not match takes nothing away.
    await policy(a, 'Unrelated permit', 'permit(principal, action == SigID::Action::"read", resource);');
    expect((await scopeOf(a, client.config)).scopes).toEqual([...scopes].sort());
  });

  it("drops a scope a forbid names, and records which policy dropped it on the token's event", async () => {
    const client = await machine(a);
    const noRefunds = await policy(
      a,
      'No refunds by machines',
      'forbid(principal is SigID::Application, action == SigID::Action::"issue_token", resource == SigID::Scope::"payments:refund");',
    );
    const issued = await scopeOf(a, client.config);
    expect(issued.scopes).toEqual(['invoices:read', 'invoices:write']);
    const event = (await events(a, 'oauth.token.issued')).find((data) => data.jti === issued.jti);
    expect(event?.policy_denials).toEqual([{ resource: 'scope', value: 'payments:refund', policy_ids: [noRefunds] }]);
    // Scopes within an API: a forbid on every scope `in` the API but one.
    const writes = await policy(
      a,
      'Read only from here',
      `forbid(principal, action == SigID::Action::"issue_token", resource in SigID::Api::"${identifier}")
        when { resource is SigID::Scope && resource.value == "invoices:write" && context has ip && context.ip.isLoopback() };`,
    );
    const narrowed = await scopeOf(a, client.config);
    expect(narrowed.scopes).toEqual(['invoices:read']);
    const narrowedEvent = (await events(a, 'oauth.token.issued')).find((data) => data.jti === narrowed.jti);
    expect(narrowedEvent?.policy_denials).toEqual([
      { resource: 'scope', value: 'invoices:write', policy_ids: [writes] },
      { resource: 'scope', value: 'payments:refund', policy_ids: [noRefunds] },
    ]);
    // Disabled, a policy drops nothing any more.
    await t.http
      .patch(`/api/v1/policies/${writes}`)
      .set('Authorization', authz(a))
      .send({ enabled: false })
      .expect(200);
    await t.http
      .patch(`/api/v1/policies/${noRefunds}`)
      .set('Authorization', authz(a))
      .send({ enabled: false })
      .expect(200);
    const whole = await scopeOf(a, client.config);
    expect(whole.scopes).toEqual([...scopes].sort());
    expect(
      (await events(a, 'oauth.token.issued')).find((data) => data.jti === whole.jti)?.policy_denials,
    ).toBeUndefined();
  });

  it('refuses the whole token with access_denied when a forbid names the API, and records the refusal', async () => {
    const client = await machine(a);
    const before = (await events(a, 'oauth.token.issued')).length;
    const lockdown = await policy(
      a,
      'Lockdown',
      `forbid(principal, action == SigID::Action::"issue_token", resource == SigID::Api::"${identifier}")
        when { context.time > 0 };`,
    );
    await expect(
      oauth.clientCredentialsGrant(client.config, { scope: 'invoices:read', resource: identifier }),
    ).rejects.toMatchObject({ error: 'access_denied' });
    // No token was issued; the refusal is in the audit trail with the deciding policy.
    expect((await events(a, 'oauth.token.issued')).length).toBe(before);
    const refusals = await events(a, 'policy.token.denied');
    expect(refusals.at(-1)).toMatchObject({
      client_id: client.clientId,
      sub: null,
      grant_type: 'client_credentials',
      audience: identifier,
      scopes: ['invoices:read'],
      denials: [{ resource: 'api', value: identifier, policy_ids: [lockdown] }],
    });
    const audit = await t.http
      .get('/api/v1/audit-logs?action=policy.token.denied')
      .set('Authorization', authz(a))
      .expect(200);
    expect(audit.body.data.length).toBeGreaterThan(0);

    // Tenant B, with the same API and no policies, is untouched by A's lockdown.
    const theirs = await machine(b);
    expect((await scopeOf(b, theirs.config)).scopes).toEqual([...scopes].sort());

    // Deleted, the lockdown ends.
    await t.http.delete(`/api/v1/policies/${lockdown}`).set('Authorization', authz(a)).expect(204);
    expect((await scopeOf(a, client.config, 'invoices:read')).scopes).toEqual(['invoices:read']);
  });
});
