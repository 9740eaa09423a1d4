import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, exportJWK, jwtVerify, SignJWT } from 'jose';
import * as oauth from 'openid-client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_CACHE_MS } from '../src/oidc/clients.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

/**
 * A tenant's issuer, through a real relying party (`openid-client`) over real HTTP: discovery (OIDC
 * and RFC 8414), JWKS, client_credentials with resource indicators (JWT access tokens, `aud` = the
 * resource, signed ES256 by the tenant's active key), opaque tokens, introspection, revocation, and
 * an `oauth.token.issued` event for every token before it is returned. Tenants are isolated.
 */
describe('per-tenant OIDC issuers', () => {
  let t: TestSigid;
  let server: Server;
  let base: string;
  let a: Awaited<ReturnType<TestSigid['createTenant']>>;
  let b: Awaited<ReturnType<TestSigid['createTenant']>>;
  const insecure = { execute: [oauth.allowInsecureRequests] };

  beforeAll(async () => {
    t = await startSigid();
    server = createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t.sigid.config.publicUrl = base;
    a = await t.createTenant('Issuer A');
    b = await t.createTenant('Issuer B');
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  const billing = 'https://billing.example.com/api';
  /** Tenant A's billing API, registered once: every machine client of A is granted `invoices:read` on it. */
  let billingApiId: string;

  async function machineClient(key: string) {
    const response = await t.http
      .post('/api/v1/applications')
      .set('Authorization', `Bearer ${key}`)
      .send({ kind: 'm2m', client_name: 'Billing worker' })
      .expect(201);
    if (key === a.key) {
      billingApiId ??= (
        await t.http
          .post('/api/v1/apis')
          .set('Authorization', `Bearer ${key}`)
          .send({ name: 'Billing', identifier: billing, scopes: [{ value: 'invoices:read' }] })
          .expect(201)
      ).body.id;
      await t.http
        .put(`/api/v1/apis/${billingApiId}/grants/${response.body.id}`)
        .set('Authorization', `Bearer ${key}`)
        .send({ scopes: ['invoices:read'] })
        .expect(200);
    }
    return { clientId: response.body.client_id as string, secret: response.body.client_secret as string };
  }

  async function tokenEvents(tenantId: string) {
    const { rows } = await t.sigid.db.query<{ data: Record<string, unknown>; actor_type: string; actor_id: string }>(
      `select data, actor_type, actor_id from sigid_events where tenant_id = $1 and event_type = 'oauth.token.issued'
       order by global_position`,
      [tenantId],
    );
    return rows;
  }

  it('publishes discovery in both forms, with S256 only, iss in responses and the tenant as issuer', async () => {
    const issuer = `${base}/t/${a.slug}`;
    const oidc = await fetch(`${issuer}/.well-known/openid-configuration`);
    expect(oidc.status).toBe(200);
    const metadata = (await oidc.json()) as Record<string, unknown>;
    expect(metadata.issuer).toBe(issuer);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    expect(metadata.pushed_authorization_request_endpoint).toBe(`${issuer}/request`);
    expect(metadata.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']),
    );
    // RFC 8414 in its path form, and what openid-client reads.
    const rfc8414 = await fetch(`${base}/.well-known/oauth-authorization-server/t/${a.slug}`);
    expect(rfc8414.status).toBe(200);
    const pathForm = (await rfc8414.json()) as { issuer: string; token_endpoint: string; jwks_uri: string };
    expect(pathForm.issuer).toBe(issuer);
    // Its endpoints are the issuer's own (MCP clients read this form first).
    expect(pathForm.token_endpoint).toBe(`${issuer}/token`);
    expect(pathForm.jwks_uri).toBe(`${issuer}/jwks`);
    const discovered = await oauth.discovery(new URL(issuer), 'nobody', undefined, undefined, insecure);
    expect(discovered.serverMetadata().issuer).toBe(issuer);
    // JWKS: public keys only, ES256 and RS256.
    const jwks = (await (await fetch(metadata.jwks_uri as string)).json()) as { keys: Array<Record<string, unknown>> };
    expect(new Set(jwks.keys.map((key) => key.alg))).toEqual(new Set(['ES256', 'RS256']));
    for (const key of jwks.keys) expect(key).not.toHaveProperty('d');
  });

  it('issues a JWT access token for a resource by client_credentials, audited before it is returned', async () => {
    const client = await machineClient(a.key);
    const issuer = new URL(`${base}/t/${a.slug}`);
    const config = await oauth.discovery(issuer, client.clientId, client.secret, undefined, insecure);
    const tokens = await oauth.clientCredentialsGrant(config, {
      scope: 'invoices:read',
      resource: billing,
    });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    const header = decodeProtectedHeader(tokens.access_token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri as string));
    const { payload } = await jwtVerify(tokens.access_token, jwks, {
      issuer: issuer.href,
      audience: billing,
    });
    expect(payload).toMatchObject({ client_id: client.clientId, sub: client.clientId, scope: 'invoices:read' });
    const events = await tokenEvents(a.tenantId);
    const event = events.find((row) => row.data.jti === payload.jti);
    expect(event?.data).toMatchObject({
      kind: 'access_token',
      format: 'jwt',
      client_id: client.clientId,
      sub: null,
      grant_type: 'client_credentials',
      scopes: ['invoices:read'],
      audience: [billing],
      dpop_jkt: null,
    });
    expect(event).toMatchObject({ actor_type: 'application', actor_id: client.clientId });
    expect(JSON.stringify(events)).not.toContain(tokens.access_token);
    // The tenant's audit log shows it.
    const audit = await t.http
      .get('/api/v1/audit-logs?action=oauth.token.issued')
      .set('Authorization', `Bearer ${a.key}`)
      .expect(200);
    expect(JSON.stringify(audit.body)).toContain(String(payload.jti));
  });

  it('binds a token to the client’s DPoP key (RFC 9449): cnf.jkt in the token and its event; a proof works once', async () => {
    const client = await machineClient(a.key);
    const issuer = new URL(`${base}/t/${a.slug}`);
    const config = await oauth.discovery(issuer, client.clientId, client.secret, undefined, insecure);
    expect(config.serverMetadata().dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
    const keyPair = await oauth.randomDPoPKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(keyPair.publicKey);
    const jkt = await calculateJwkThumbprint(publicJwk);
    const resource = billing;
    const tokens = await oauth.clientCredentialsGrant(
      config,
      { scope: 'invoices:read', resource },
      { DPoP: oauth.getDPoPHandle(config, keyPair) },
    );
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri as string));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: issuer.href, audience: resource });
    expect(payload.cnf).toEqual({ jkt });
    const event = (await tokenEvents(a.tenantId)).find((row) => row.data.jti === payload.jti);
    expect(event?.data).toMatchObject({ dpop_jkt: jkt, grant_type: 'client_credentials' });

    // One proof, sent twice: the first gets a bound token, the replay is refused.
    const tokenEndpoint = config.serverMetadata().token_endpoint as string;
    const proofWith = (jti: string) =>
      new SignJWT({ htm: 'POST', htu: tokenEndpoint, jti })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: publicJwk })
        .setIssuedAt()
        .sign(keyPair.privateKey);
    const post = (proof: string) =>
      fetch(tokenEndpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`,
          dpop: proof,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'invoices:read', resource }),
      });
    const proof = await proofWith(randomUUID());
    const first = await post(proof);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { token_type: string }).token_type).toBe('DPoP');
    const replay = await post(proof);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
    // The same request with a fresh proof works: it was the reuse that was refused.
    expect((await post(await proofWith(randomUUID()))).status).toBe(200);
    // Ten checks of one proof at the same moment (as by processes sharing the database): one passes.
    const issuerProvider = (await t.sigid.issuers.get(a.slug))?.provider;
    const replayJti = randomUUID();
    const expiresAt = Math.floor(Date.now() / 1000) + 60;
    const taken = await Promise.all(
      Array.from({ length: 10 }, () => issuerProvider?.ReplayDetection.unique(client.clientId, replayJti, expiresAt)),
    );
    expect(taken.filter((passed) => passed === true)).toHaveLength(1);
  });

  it('issues, introspects and revokes an opaque token, each step an event, the token itself never stored', async () => {
    const client = await machineClient(a.key);
    const config = await oauth.discovery(
      new URL(`${base}/t/${a.slug}`),
      client.clientId,
      client.secret,
      undefined,
      insecure,
    );
    // Without a resource indicator the token is opaque (and carries no API scope: APIs define theirs).
    const tokens = await oauth.clientCredentialsGrant(config, {});
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const active = await oauth.tokenIntrospection(config, tokens.access_token);
    expect(active).toMatchObject({ active: true, client_id: client.clientId, token_type: 'Bearer' });
    await oauth.tokenRevocation(config, tokens.access_token);
    expect((await oauth.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    const { rows } = await t.sigid.db.query<{ event_type: string; data: Record<string, unknown> }>(
      `select event_type, data from sigid_events where tenant_id = $1 and event_type like 'oauth.%' order by global_position`,
      [a.tenantId],
    );
    const issued = rows.filter(
      (row) => row.event_type === 'oauth.token.issued' && row.data.client_id === client.clientId,
    );
    expect(issued).toHaveLength(1);
    expect(issued[0]?.data).toMatchObject({ format: 'opaque', grant_type: 'client_credentials', scopes: [] });
    const revoked = rows.filter(
      (row) => row.event_type === 'oauth.token.revoked' && row.data.client_id === client.clientId,
    );
    expect(revoked).toHaveLength(1);
    expect(revoked[0]?.data.jti).toBe(issued[0]?.data.jti);
    const stored = await t.sigid.db.query('select payload from oidc_payloads');
    expect(JSON.stringify(stored.rows)).not.toContain(tokens.access_token);
  });

  it("refuses a wrong secret, and one tenant's client at another tenant's issuer", async () => {
    const client = await machineClient(a.key);
    const wrong = await oauth.discovery(
      new URL(`${base}/t/${a.slug}`),
      client.clientId,
      'not-the-secret',
      undefined,
      insecure,
    );
    await expect(oauth.clientCredentialsGrant(wrong, { scope: 'x' })).rejects.toMatchObject({
      error: 'invalid_client',
    });
    const elsewhere = await oauth.discovery(
      new URL(`${base}/t/${b.slug}`),
      client.clientId,
      client.secret,
      undefined,
      insecure,
    );
    await expect(oauth.clientCredentialsGrant(elsewhere, { scope: 'x' })).rejects.toMatchObject({
      error: 'invalid_client',
    });
    expect((await tokenEvents(b.tenantId)).length).toBe(0);
  });

  it("follows a secret rotation and a deletion within the client cache's bound (CLIENT_CACHE_MS)", async () => {
    const client = await machineClient(a.key);
    const token = (secret: string) =>
      fetch(`${base}/t/${a.slug}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${client.clientId}:${secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      });
    expect((await token(client.secret)).status).toBe(200);
    const list = await t.http.get('/api/v1/applications').set('Authorization', `Bearer ${a.key}`).expect(200);
    const app = (list.body.data as Array<{ id: string; client_id: string }>).find(
      (row) => row.client_id === client.clientId,
    );
    const rotated = await t.http
      .post(`/api/v1/applications/${app?.id}/secrets`)
      .set('Authorization', `Bearer ${a.key}`)
      .send({ overlap_seconds: 0 })
      .expect(201);
    await new Promise((resolve) => setTimeout(resolve, CLIENT_CACHE_MS + 100));
    expect((await token(client.secret)).status).toBe(401);
    expect((await token(rotated.body.client_secret as string)).status).toBe(200);
    await t.http.delete(`/api/v1/applications/${app?.id}`).set('Authorization', `Bearer ${a.key}`).expect(204);
    await new Promise((resolve) => setTimeout(resolve, CLIENT_CACHE_MS + 100));
    expect((await token(rotated.body.client_secret as string)).status).toBe(401);
  });

  it('stops serving a suspended tenant at once, and serves it again once reactivated', async () => {
    const c = await t.createTenant('Issuer C');
    const client = await machineClient(c.key);
    const discovery = () => fetch(`${base}/t/${c.slug}/.well-known/openid-configuration`);
    expect((await discovery()).status).toBe(200);
    const patch = (status: string) =>
      t.http.patch(`/api/v1/tenants/${c.tenantId}`).set('Authorization', t.operator).send({ status });
    expect((await patch('suspended')).status).toBe(200);
    expect((await discovery()).status).toBe(404);
    const refused = await fetch(`${base}/t/${c.slug}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    expect(refused.status).toBe(404);
    expect((await patch('active')).status).toBe(200);
    expect((await discovery()).status).toBe(200);
  });

  it('answers 404 problem+json for an unknown tenant or a path that is not a slug', async () => {
    const unknown = await fetch(`${base}/t/no-such-tenant/.well-known/openid-configuration`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
    const odd = await fetch(`${base}/t/..%2F..%2Fapi/.well-known/openid-configuration`);
    expect(odd.status).toBe(404);
    // A path below a real issuer that is none of its endpoints: SigID's 404, not a bare one.
    const nowhere = await fetch(`${base}/t/${a.slug}/no-such-endpoint`);
    expect(nowhere.status).toBe(404);
    expect(nowhere.headers.get('content-type')).toContain('application/problem+json');
    expect(await nowhere.json()).toMatchObject({ code: 'route_not_found', instance: `/t/${a.slug}/no-such-endpoint` });
    // An issuer's endpoint asked with a method it does not serve: the same problem, and the request id.
    const wrongMethod = await fetch(`${base}/t/${a.slug}/token`, { headers: { 'x-request-id': 'probe-get-token' } });
    expect(wrongMethod.status).toBe(404);
    expect(wrongMethod.headers.get('content-type')).toContain('application/problem+json');
    expect(wrongMethod.headers.get('x-request-id')).toBe('probe-get-token');
    expect(await wrongMethod.json()).toMatchObject({ code: 'route_not_found', instance: `/t/${a.slug}/token` });
    // An unknown tenant's token endpoint: 404 problem+json, with a request id of SigID's own.
    const unknownToken = await fetch(`${base}/t/no-such-tenant/token`, { method: 'POST' });
    expect(unknownToken.status).toBe(404);
    expect(unknownToken.headers.get('content-type')).toContain('application/problem+json');
    expect(unknownToken.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{26}$/);
  });
});

describe('an issuer request in the log', () => {
  it('logs a token request with its request id and status, and neither the client secret nor the token', async () => {
    const lines: string[] = [];
    const t = await startSigid({ logger: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }) });
    const server = createServer(t.app);
    try {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      t.sigid.config.publicUrl = base;
      const tenant = await t.createTenant('Logged');
      const created = await t.http
        .post('/api/v1/applications')
        .set('Authorization', `Bearer ${tenant.key}`)
        .send({ kind: 'm2m', client_name: 'Logged worker' })
        .expect(201);
      // The resource asked for is one of the tenant's APIs (no scope granted: none asked for).
      await t.http
        .post('/api/v1/apis')
        .set('Authorization', `Bearer ${tenant.key}`)
        .send({ name: 'Logged API', identifier: 'https://api.example.com/' })
        .expect(201);
      const basic = Buffer.from(`${created.body.client_id}:${created.body.client_secret}`).toString('base64');
      const answer = await fetch(`${base}/t/${tenant.slug}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'https://api.example.com/' }),
      });
      expect(answer.status).toBe(200);
      const { access_token: accessToken } = (await answer.json()) as { access_token: string };
      const requestId = answer.headers.get('x-request-id');
      expect(requestId).toMatch(/^req_/);
      await expect.poll(() => lines.some((line) => line.includes(String(requestId)))).toBe(true);
      const logged = lines.map((line) => JSON.parse(line)).find((entry) => entry.request_id === requestId);
      expect(logged).toMatchObject({
        msg: 'request completed',
        req: { method: 'POST', url: `/t/${tenant.slug}/token`, headers: { authorization: '[redacted]' } },
        res: { statusCode: 200 },
      });
      const text = lines.join('\n');
      expect(text).not.toContain(created.body.client_secret);
      expect(text).not.toContain(basic);
      expect(text).not.toContain(accessToken);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await t.close();
    }
  });
});
