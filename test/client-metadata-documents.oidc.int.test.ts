import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientMetadataDocumentRefusal } from '../src/oidc/client-metadata-documents.ts';
import { CLIENT_CACHE_MS } from '../src/oidc/clients.ts';
import { parseAllowlist } from '../src/webhooks/ssrf.ts';
import { authorizationUrl, CALLBACK, type HostedSigid, insecure, startHostedSigid } from './support/hosted-flow.ts';

/**
 * OAuth Client ID Metadata Documents at a tenant's issuer, with openid-client as the client and the
 * hosted pages as the person's browser: the client_id is the https URL of a document a local server
 * serves (127.0.0.1 is allowlisted for development, so it is fetched over plain http); off, the issuer
 * refuses it; on, authorization code + PKCE gives an access token whose `aud` is the API asked for
 * (RFC 8707), with `iss` in the authorization response (RFC 9207). Accepted and refused documents are
 * events in the tenant's audit log; a document asking for a shared secret or an http redirect is refused.
 */
describe('clients identified by their metadata document', () => {
  let h: HostedSigid;
  let a: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let documents: Server;
  let documentBase: string;
  let fetched = 0;
  const identifier = 'https://mcp.example.test/mcp';
  const email = `cimd.${Date.now()}@example.test`;
  const password = 'correct horse battery staple';
  const served: Record<string, Record<string, unknown>> = {};

  beforeAll(async () => {
    h = await startHostedSigid({ config: { clientMetadataAllowlist: parseAllowlist('127.0.0.1') } });
    a = await h.t.createTenant('CIMD Inc');
    documents = createServer((request, response) => {
      const document = served[request.url ?? ''];
      fetched++;
      if (!document) {
        response.statusCode = 404;
        return response.end();
      }
      response.setHeader('Content-Type', 'application/json');
      response.end(JSON.stringify(document));
    });
    await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
    // The client_id is an https URL (the spec's rule); the allowlisted development host is reached over http.
    documentBase = `https://127.0.0.1:${(documents.address() as AddressInfo).port}`;
    await h.t.http
      .post('/api/v1/apis')
      .set('Authorization', `Bearer ${a.key}`)
      .send({
        name: 'Projects MCP',
        identifier,
        scopes: [
          { value: 'projects:read', description: 'Read your projects' },
          { value: 'tickets:create', description: 'Open tickets' },
        ],
      })
      .expect(201);
  });
  afterAll(async () => {
    await new Promise((resolve) => documents?.close(resolve));
    await h?.close();
  });

  const document = (path: string, extra: Record<string, unknown> = {}) => {
    const clientId = `${documentBase}${path}`;
    served[path] = {
      client_id: clientId,
      client_name: 'Desktop MCP client',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...extra,
    };
    return clientId;
  };
  const rpFor = (clientId: string) =>
    oauth.discovery(new URL(`${h.base}/t/${a.slug}`), clientId, undefined, oauth.None(), insecure);
  const setting = (body: Record<string, boolean>) =>
    h.t.http.patch('/api/v1/client-registration').set('Authorization', `Bearer ${a.key}`).send(body).expect(200);

  it('refuses a document client while the tenant has them off, without fetching it', async () => {
    const clientId = document('/off.json');
    const discovery = (await fetch(`${h.base}/t/${a.slug}/.well-known/openid-configuration`).then((r) =>
      r.json(),
    )) as Record<string, unknown>;
    expect(discovery.client_id_metadata_document_supported).toBeUndefined();
    const rp = await rpFor(clientId);
    const before = fetched;
    const browser = h.browser();
    await browser.request((await authorizationUrl(rp, { resource: identifier })).url);
    expect(browser.page.status).toBe(400);
    expect(browser.text()).toContain(
      'The application is not known here. (client_id metadata document fetch not allowed)',
    );
    expect(fetched).toBe(before);
  });

  it('signs a person in through a document client: code + PKCE, iss in the response, a token for the API', async () => {
    const written = await setting({ client_id_metadata_documents: true });
    expect(written.body).toEqual({
      object: 'client_registration',
      client_id_metadata_documents: true,
      dynamic_registration: false,
    });
    // The issuers see the switch within CLIENT_CACHE_MS.
    await new Promise((resolve) => setTimeout(resolve, CLIENT_CACHE_MS + 100));
    const clientId = document('/client.json');
    const rp = await rpFor(clientId);
    expect(rp.serverMetadata().client_id_metadata_document_supported).toBe(true);
    expect(rp.serverMetadata().authorization_response_iss_parameter_supported).toBe(true);
    const browser = h.browser();
    const request = await authorizationUrl(rp, {
      scope: 'openid email projects:read',
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
    expect(browser.page.html).toContain('Desktop MCP client');
    await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    const callback = browser.leftTo as URL;
    expect(callback.searchParams.get('iss')).toBe(`${h.base}/t/${a.slug}`);
    const tokens = await oauth.authorizationCodeGrant(rp, callback, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    const issuer = `${h.base}/t/${a.slug}`;
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${issuer}/jwks`)), {
      issuer,
      audience: identifier,
    });
    expect(payload.aud).toBe(identifier);
    expect(payload.client_id).toBe(clientId);
    expect(payload.scope).toBe('projects:read');
    expect(payload.subject_type).toBe('user');

    const events = await h.events(a.tenantId, [
      'tenant.client_registration.changed',
      'oauth.client_metadata_document.accepted',
    ]);
    expect(events.map((event) => event.event_type)).toEqual([
      'tenant.client_registration.changed',
      'oauth.client_metadata_document.accepted',
    ]);
    expect(events[1]?.data).toMatchObject({
      client_id: clientId,
      client_name: 'Desktop MCP client',
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'none',
    });
    const audit = await h.t.http
      .get('/api/v1/audit-logs')
      .query({ action: 'oauth.client_metadata_document.accepted' })
      .set('Authorization', `Bearer ${a.key}`)
      .expect(200);
    expect(audit.body.data).toHaveLength(1);
    expect(audit.body.data[0].actor).toEqual({ type: 'application', id: clientId });
  });

  it('requires PKCE of a document client', async () => {
    const rp = await rpFor(document('/pkce.json'));
    const browser = h.browser();
    const url = oauth.buildAuthorizationUrl(rp, { redirect_uri: CALLBACK, scope: 'openid', resource: identifier });
    await browser.request(url);
    expect(browser.leftTo?.searchParams.get('error')).toBe('invalid_request');
    expect(browser.leftTo?.searchParams.get('error_description')).toContain('PKCE');
  });

  it('refuses, and records, a document with a shared secret, an http redirect URI, or none at its URL', async () => {
    const cases = [
      {
        path: '/secret.json',
        extra: { token_endpoint_auth_method: 'client_secret_basic' },
        reason: 'invalid_document',
      },
      { path: '/http.json', extra: { redirect_uris: ['http://app.example.test/callback'] }, reason: 'not_allowed' },
    ];
    for (const { path, extra } of cases) {
      const rp = await rpFor(document(path, extra));
      const browser = h.browser();
      await browser.request((await authorizationUrl(rp, { resource: identifier })).url);
      expect(browser.page.status, path).toBe(400);
    }
    const missing = `${documentBase}/missing.json`;
    const browser = h.browser();
    await browser.request((await authorizationUrl(await rpFor(missing), { resource: identifier })).url);
    expect(browser.page.status).toBe(400);
    const refused = await h.events(a.tenantId, ['oauth.client_metadata_document.refused']);
    expect(refused.map((event) => [event.data.client_id, event.data.reason])).toEqual([
      [`${documentBase}/secret.json`, 'invalid_document'],
      [`${documentBase}/http.json`, 'not_allowed'],
      [missing, 'fetch_failed'],
    ]);
  });

  it('knows which documents SigID serves', () => {
    const good = { token_endpoint_auth_method: 'none', redirect_uris: ['https://app.example/cb'] };
    expect(clientMetadataDocumentRefusal(good)).toBeNull();
    expect(clientMetadataDocumentRefusal({ ...good, token_endpoint_auth_method: 'private_key_jwt' })).toContain(
      'jwks_uri',
    );
    expect(
      clientMetadataDocumentRefusal({
        ...good,
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: 'https://a/j',
      }),
    ).toBeNull();
    expect(clientMetadataDocumentRefusal({ ...good, grant_types: ['client_credentials'] })).toContain('grant_types');
    expect(clientMetadataDocumentRefusal({ ...good, response_types: ['token'] })).toContain('response_types');
    expect(clientMetadataDocumentRefusal({ ...good, redirect_uris: [] })).toContain('redirect_uris');
    expect(
      clientMetadataDocumentRefusal({ ...good, application_type: 'native', redirect_uris: ['com.example.app:/cb'] }),
    ).toBeNull();
  });
});
