import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeJwt, exportJWK, SignJWT } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenHash, createTokenValidator, type TokenValidator } from '../src/resource-server/index.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Tenant = Awaited<ReturnType<TestSigid['createTenant']>>;

/**
 * The resource-server module against a real tenant issuer over HTTP, with openid-client as the
 * client: a DPoP-bound token (RFC 9449) carries `cnf.jkt` and its `oauth.token.issued` the same
 * thumbprint; a resource server built on the module accepts it with the client's proofs and refuses it
 * without one, with another key's proof, or with a proof used before; another API's or another
 * tenant's token is refused too.
 */
describe('resource-server validation of real SigID tokens', () => {
  let t: TestSigid;
  let server: Server;
  let base: string;
  let a: Tenant;
  let b: Tenant;
  let resourceServer: Server;
  let rsBase: string;
  let validator: TokenValidator;
  const insecure = { execute: [oauth.allowInsecureRequests] };
  const identifier = 'https://mcp.example.test/mcp';
  const scopes = ['projects:read', 'tickets:create'].map((value) => ({ value, description: value }));

  beforeAll(async () => {
    t = await startSigid();
    server = createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t.sigid.config.publicUrl = base;
    a = await t.createTenant('MCP A');
    b = await t.createTenant('MCP B');
    validator = createTokenValidator({
      issuer: `${base}/t/${a.slug}`,
      audience: identifier,
      requireScopes: ['projects:read'],
    });
    // A tenant's MCP server: the module decides, the server answers its verdict.
    resourceServer = createServer((request, response) => {
      const url = `${rsBase}${request.url}`;
      validator
        .validate({
          authorization: request.headers.authorization,
          dpop: request.headers.dpop as string | undefined,
          method: request.method ?? 'GET',
          url,
        })
        .then((result) => {
          if (!result.ok) {
            if (result.wwwAuthenticate) response.setHeader('WWW-Authenticate', result.wwwAuthenticate);
            response.statusCode = result.status;
            return response.end(JSON.stringify({ code: result.code }));
          }
          response.setHeader('Content-Type', 'application/json');
          response.end(JSON.stringify({ sub: result.sub, subject_type: result.subject_type, jkt: result.jkt }));
        });
    });
    await new Promise<void>((resolve) => resourceServer.listen(0, '127.0.0.1', resolve));
    rsBase = `http://127.0.0.1:${(resourceServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => resourceServer?.close(resolve));
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  async function machineWithGrant(who: Tenant, resource = identifier) {
    const authz = `Bearer ${who.key}`;
    const api = await t.http
      .post('/api/v1/apis')
      .set('Authorization', authz)
      .send({ name: `API ${randomUUID()}`, identifier: resource, scopes });
    const apiId =
      api.status === 201
        ? (api.body.id as string)
        : (
            (await t.http.get('/api/v1/apis').set('Authorization', authz)).body.data as Array<{
              id: string;
              identifier: string;
            }>
          ).find((row) => row.identifier === resource)?.id;
    const created = await t.http
      .post('/api/v1/applications')
      .set('Authorization', authz)
      .send({ kind: 'm2m', client_name: 'MCP client' })
      .expect(201);
    await t.http
      .put(`/api/v1/apis/${apiId}/grants/${created.body.id}`)
      .set('Authorization', authz)
      .send({ scopes: scopes.map((scope) => scope.value) })
      .expect(200);
    return oauth.discovery(
      new URL(`${base}/t/${who.slug}`),
      created.body.client_id,
      created.body.client_secret,
      undefined,
      insecure,
    );
  }

  const call = (headers: Record<string, string>) =>
    fetch(`${rsBase}/mcp`, { method: 'POST', headers, body: '{}' }).then(async (response) => ({
      status: response.status,
      challenge: response.headers.get('www-authenticate'),
      body: (await response.json()) as Record<string, unknown>,
    }));

  it('binds a token to the DPoP key: cnf.jkt, the thumbprint in oauth.token.issued, accepted with proofs', async () => {
    const config = await machineWithGrant(a);
    const keyPair = await oauth.randomDPoPKeyPair('ES256');
    const DPoP = oauth.getDPoPHandle(config, keyPair);
    const tokens = await oauth.clientCredentialsGrant(
      config,
      { scope: 'projects:read tickets:create', resource: identifier },
      { DPoP },
    );
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    const claims = decodeJwt(tokens.access_token);
    expect(claims.cnf).toEqual({ jkt });
    expect(claims.subject_type).toBe('application');
    const { rows } = await t.sigid.db.query<{ data: { jti: string; dpop_jkt: string | null } }>(
      `select data from sigid_events where tenant_id = $1 and event_type = 'oauth.token.issued'`,
      [a.tenantId],
    );
    expect(rows.find((row) => row.data.jti === claims.jti)?.data.dpop_jkt).toBe(jkt);

    // openid-client's own proofs (a fresh one per request, ath included) are accepted, twice.
    for (let i = 0; i < 2; i++) {
      const response = await oauth.fetchProtectedResource(
        config,
        tokens.access_token,
        new URL(`${rsBase}/mcp`),
        'POST',
        '{}',
        new Headers(),
        { DPoP },
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ sub: claims.sub, subject_type: 'application', jkt });
    }

    // The same token without its key is refused: no proof, as a Bearer token, another key's proof.
    const noProof = await call({ Authorization: `DPoP ${tokens.access_token}` });
    expect(noProof).toMatchObject({ status: 401, body: { code: 'dpop_proof_missing' } });
    expect(noProof.challenge).toContain('error="invalid_dpop_proof"');
    expect(await call({ Authorization: `Bearer ${tokens.access_token}` })).toMatchObject({
      status: 401,
      body: { code: 'dpop_bound_token_as_bearer' },
    });
    const thief = oauth.getDPoPHandle(config, await oauth.randomDPoPKeyPair('ES256'));
    // openid-client reads the refusal's challenge (RFC 9449 §7.1) and throws it.
    await expect(
      oauth.fetchProtectedResource(config, tokens.access_token, new URL(`${rsBase}/mcp`), 'POST', '{}', new Headers(), {
        DPoP: thief,
      }),
    ).rejects.toMatchObject({
      code: 'OAUTH_WWW_AUTHENTICATE_CHALLENGE',
      status: 401,
      cause: [
        {
          scheme: 'dpop',
          parameters: {
            error: 'invalid_dpop_proof',
            error_description: 'The DPoP proof is signed by a key the token is not bound to.',
          },
        },
        { scheme: 'bearer' },
      ],
    });

    // A proof seen once is refused the second time.
    const proof = await new SignJWT({
      htm: 'POST',
      htu: `${rsBase}/mcp`,
      jti: randomUUID(),
      ath: accessTokenHash(tokens.access_token),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keyPair.publicKey) })
      .setIssuedAt()
      .sign(keyPair.privateKey);
    const headers = { Authorization: `DPoP ${tokens.access_token}`, DPoP: proof };
    expect((await call(headers)).status).toBe(200);
    expect(await call(headers)).toMatchObject({ status: 401, body: { code: 'dpop_replayed' } });
  });

  it('accepts an unbound token as Bearer, and answers a missing token with the resource metadata challenge', async () => {
    const config = await machineWithGrant(a);
    const tokens = await oauth.clientCredentialsGrant(config, { scope: 'projects:read', resource: identifier });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(await call({ Authorization: `Bearer ${tokens.access_token}` })).toMatchObject({
      status: 200,
      body: { subject_type: 'application', jkt: null },
    });
    const none = await call({});
    expect(none.status).toBe(401);
    expect(none.challenge).toContain(
      'Bearer resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp"',
    );
  });

  it("refuses another API's token, another tenant's token, and one without the required scope", async () => {
    const other = 'https://other.example.test/api';
    const forOther = await oauth.clientCredentialsGrant(await machineWithGrant(a, other), {
      scope: 'projects:read',
      resource: other,
    });
    expect(await call({ Authorization: `Bearer ${forOther.access_token}` })).toMatchObject({
      status: 401,
      body: { code: 'audience_mismatch' },
    });
    const fromB = await oauth.clientCredentialsGrant(await machineWithGrant(b), {
      scope: 'projects:read',
      resource: identifier,
    });
    // Tenant B's issuer signs with B's keys: A's JWKS does not verify them (the issuer check comes after).
    expect(await call({ Authorization: `Bearer ${fromB.access_token}` })).toMatchObject({
      status: 401,
      body: { code: 'signature_invalid' },
    });
    const narrow = await oauth.clientCredentialsGrant(await machineWithGrant(a), {
      scope: 'tickets:create',
      resource: identifier,
    });
    const refused = await call({ Authorization: `Bearer ${narrow.access_token}` });
    expect(refused).toMatchObject({ status: 403, body: { code: 'scope_missing' } });
    expect(refused.challenge).toContain('error="insufficient_scope"');
  });
});
