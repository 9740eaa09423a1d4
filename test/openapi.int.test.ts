import { readFileSync } from 'node:fs';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { openApiDocument, openApiText, operations } from '../src/http/openapi.ts';
import { newId } from '../src/ids.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { servedRoutes } from './support/served-routes.ts';
import { settled } from './support/settled.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Json = Record<string, unknown>;
const document = () => structuredClone(openApiDocument()) as unknown as Json;

const pointer = (...parts: string[]) => parts.map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

/** A JSON Schema validator over the document, so `$ref`s into its components resolve as published. */
function schemaValidator(doc: Json) {
  const ajv = new Ajv2020({ strict: false, validateSchema: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ ...doc, $id: 'https://sigid.dev/openapi.json' });
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
  return (at: string, value: unknown) => {
    const check = compiled.get(at) ?? ajv.compile({ $ref: `https://sigid.dev/openapi.json#/${at}` });
    compiled.set(at, check);
    return check(value) ? [] : (check.errors ?? []).map((error) => `${error.instancePath} ${error.message}`);
  };
}

describe('OpenAPI document', () => {
  let t: TestSigid;

  beforeAll(async () => {
    t = await startSigid({
      config: { webhooks: { ...loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' }), worker: false } },
    });
    // The fan-out queues replays and redeliveries (nothing is sent: the dispatcher stays off).
    t.sigid.webhooks.fanout.start();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('documents every route the app serves, and only those', () => {
    const documented = new Set(operations.map((operation) => `${operation.method.toUpperCase()} ${operation.path}`));
    const all = servedRoutes(t.app);
    // The hosted pages are HTML for people, not the API: docs/pages.md lists each of them instead.
    const isPage = (route: string) => / \/(t\/\{slug\}|assets)\//.test(route);
    const pagesDoc = readFileSync(new URL('../docs/pages.md', import.meta.url), 'utf8');
    expect([...all].filter(isPage).filter((route) => !pagesDoc.includes(`\`${route}\``))).toEqual([]);
    const served = new Set([...all].filter((route) => !isPage(route)));
    expect(served.size).toBeGreaterThan(20);
    expect({
      undocumented: [...served].filter((route) => !documented.has(route)),
      unserved: [...documented].filter((route) => !served.has(route)),
    }).toEqual({ undocumented: [], unserved: [] });
  });

  it('is served without a key at GET /api/v1/openapi.json, and docs/openapi.json is what the code generates', async () => {
    const served = await t.http.get('/api/v1/openapi.json').expect(200);
    expect(served.body).toEqual(JSON.parse(openApiText()));
    expect(served.body.openapi).toBe('3.1.0');
    const written = readFileSync(new URL('../docs/openapi.json', import.meta.url), 'utf8');
    expect(written, 'docs/openapi.json is stale: run `npm run openapi`').toBe(openApiText());
  });

  it('passes a third-party OpenAPI 3.1 validator', async () => {
    const result = await validateOpenApi(document() as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
  });

  it('has an example for every response schema, and every example validates against its schema', () => {
    const doc = document();
    const check = schemaValidator(doc);
    const failures: string[] = [];
    let examples = 0;
    const walk = (node: unknown, path: string[]) => {
      if (!node || typeof node !== 'object') return;
      if (Array.isArray(node)) {
        for (const [index, child] of node.entries()) walk(child, [...path, String(index)]);
        return;
      }
      const object = node as Json;
      const here = pointer(...path);
      const schemaAt = 'schema' in object ? pointer(...path, 'schema') : here;
      if (Array.isArray(object.examples)) {
        for (const value of object.examples) {
          examples++;
          failures.push(...check(here, value).map((error) => `${here}: ${error}`));
        }
      } else if (object.examples && typeof object.examples === 'object') {
        for (const [name, entry] of Object.entries(object.examples as Record<string, { value: unknown }>)) {
          examples++;
          failures.push(...check(schemaAt, entry.value).map((error) => `${here}/examples/${name}: ${error}`));
        }
      }
      if ('example' in object) {
        examples++;
        failures.push(...check(schemaAt, object.example).map((error) => `${here}/example: ${error}`));
      }
      for (const [key, child] of Object.entries(object))
        if (key !== 'examples' && key !== 'example') walk(child, [...path, key]);
    };
    walk(doc, []);
    expect(failures).toEqual([]);
    const schemas = (doc.components as { schemas: Record<string, Json> }).schemas;
    expect(Object.keys(schemas).filter((name) => !Array.isArray(schemas[name]?.examples))).toEqual([]);
    expect(examples).toBeGreaterThan(40);
  });

  it('describes what the routes really answer', async () => {
    const doc = document();
    const check = schemaValidator(doc);
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, Json> }>>;
    /** Checks an answer against the documented schema of that route, method and status. */
    const conforms = (
      path: string,
      method: string,
      response: { status: number; type: string; body: unknown; text: string; headers: Record<string, string> },
    ) => {
      const answer = paths[path]?.[method]?.responses[String(response.status)];
      expect(answer, `${method} ${path} ${response.status} is not documented`).toBeDefined();
      const type = response.type === 'application/x-ndjson' ? response.type : response.type || 'application/json';
      const at = pointer('paths', path, method, 'responses', String(response.status), 'content', type, 'schema');
      const values =
        type === 'application/x-ndjson'
          ? response.text
              .trim()
              .split('\n')
              .map((line) => JSON.parse(line))
          : [response.body];
      expect(values.length).toBeGreaterThan(0);
      for (const value of values) expect(check(at, value), `${method} ${path} ${response.status}`).toEqual([]);
      const headers = Object.entries((answer?.headers ?? {}) as Record<string, { required?: boolean }>);
      for (const [name, header] of headers) {
        if (header.required) expect(response.headers[name.toLowerCase()], `${method} ${path}: ${name}`).toBeDefined();
      }
    };
    const operator = { Authorization: t.operator };
    const http = t.http;

    const created = await http
      .post('/api/v1/tenants')
      .set(operator)
      .send({ name: 'Documented', slug: `doc-${Date.now()}` });
    conforms('/api/v1/tenants', 'post', created);
    const tenantId = created.body.tenant.id as string;
    const tenant = { Authorization: `Bearer ${created.body.api_key.key}` };
    conforms('/api/v1/tenants', 'get', await http.get('/api/v1/tenants').set(operator));
    conforms('/api/v1/tenants/{id}', 'get', await http.get(`/api/v1/tenants/${tenantId}`).set(operator));
    conforms(
      '/api/v1/tenants/{id}',
      'patch',
      await http.patch(`/api/v1/tenants/${tenantId}`).set(operator).send({ name: 'Documented Inc' }),
    );
    conforms(
      '/api/v1/tenants/{id}/api-keys',
      'post',
      await http.post(`/api/v1/tenants/${tenantId}/api-keys`).set(operator).send({ name: 'break glass' }),
    );
    conforms('/api/v1/api-keys', 'post', await http.post('/api/v1/api-keys').set(tenant).send({ name: 'ci' }));
    conforms('/api/v1/api-keys', 'get', await http.get('/api/v1/api-keys').set(tenant));

    const application = await http
      .post('/api/v1/applications')
      .set(tenant)
      .send({ kind: 'web', client_name: 'Documented', redirect_uris: ['https://app.example.com/cb'] });
    conforms('/api/v1/applications', 'post', application);
    const applicationId = application.body.id as string;
    const organization = await http
      .post('/api/v1/organizations')
      .set(tenant)
      .send({ name: 'documented', display_name: 'Documented Inc.', metadata: { tier: 'gold' } });
    conforms('/api/v1/organizations', 'post', organization);
    const organizationId = organization.body.id as string;
    conforms('/api/v1/organizations', 'get', await http.get('/api/v1/organizations').set(tenant));
    conforms(
      '/api/v1/organizations/{id}',
      'get',
      await http.get(`/api/v1/organizations/${organizationId}`).set(tenant),
    );
    conforms(
      '/api/v1/organizations/{id}',
      'patch',
      await http.patch(`/api/v1/organizations/${organizationId}`).set(tenant).send({ display_name: 'Documented' }),
    );
    const person = { type: 'system', id: 'openapi-test' } as const;
    const signedUp = await signUpWithPassword(
      t.sigid,
      { email: `documented.${Date.now()}@example.com`, password: 'correct horse battery' },
      useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: newId('req') }),
    );
    if (signedUp.status !== 'created') throw new Error('sign-up');
    const linked = await linkAccount(
      t.sigid,
      signedUp.accountId,
      created.body.tenant.id,
      useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: newId('req') }),
    );
    if (linked.written.position !== null) await t.sigid.projections.waitFor(linked.written.position);
    const memberPath = `/api/v1/organizations/${organizationId}/members/${linked.sub}`;
    const memberRole = await http.post('/api/v1/roles').set(tenant).send({ name: 'Member role' }).expect(201);
    conforms(
      '/api/v1/organizations/{id}/members/{sub}',
      'put',
      await http
        .put(memberPath)
        .set(tenant)
        .send({ roles: [memberRole.body.id] })
        .expect(200),
    );
    conforms('/api/v1/organizations/{id}/members/{sub}', 'get', await http.get(memberPath).set(tenant));
    conforms(
      '/api/v1/organizations/{id}/members',
      'get',
      await http.get(`/api/v1/organizations/${organizationId}/members`).set(tenant),
    );
    const domain = await http
      .post(`/api/v1/organizations/${organizationId}/domains`)
      .set(tenant)
      .send({ domain: 'documented.example.com' });
    conforms('/api/v1/organizations/{id}/domains', 'post', domain);
    conforms(
      '/api/v1/organizations/{id}/domains',
      'post',
      await http
        .post(`/api/v1/organizations/${organizationId}/domains`)
        .set(tenant)
        .send({ domain: 'documented.example.com' }),
    );
    const domainPath = `/api/v1/organizations/${organizationId}/domains/documented.example.com`;
    conforms(
      '/api/v1/organizations/{id}/domains',
      'get',
      await http.get(`/api/v1/organizations/${organizationId}/domains`).set(tenant),
    );
    conforms('/api/v1/organizations/{id}/domains/{domain}', 'get', await http.get(domainPath).set(tenant));
    const records = new Map<string, string[][]>();
    t.sigid.dns = {
      resolveTxt: async (name) => {
        const found = records.get(name);
        if (!found) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
        return found;
      },
    };
    conforms(
      '/api/v1/organizations/{id}/domains/{domain}/verify',
      'post',
      await http.post(`${domainPath}/verify`).set(tenant),
    );
    records.set(domain.body.verification.name, [[domain.body.verification.value]]);
    conforms(
      '/api/v1/organizations/{id}/domains/{domain}/verify',
      'post',
      await http.post(`${domainPath}/verify`).set(tenant),
    );

    conforms('/api/v1/policies/schema', 'get', await http.get('/api/v1/policies/schema').set(tenant));
    const policy = await http
      .post('/api/v1/policies')
      .set(tenant)
      .send({ name: 'Documented policy', cedar: 'permit(principal, action == SigID::Action::"read", resource);' });
    conforms('/api/v1/policies', 'post', policy);
    const policyId = policy.body.id as string;
    conforms(
      '/api/v1/policies',
      'post',
      await http.post('/api/v1/policies').set(tenant).send({ name: 'Refused', cedar: 'permit(principal, action' }),
    );
    conforms('/api/v1/policies', 'get', await http.get('/api/v1/policies').set(tenant));
    conforms('/api/v1/policies/{id}', 'get', await http.get(`/api/v1/policies/${policyId}`).set(tenant));
    conforms(
      '/api/v1/policies/{id}',
      'patch',
      await http.patch(`/api/v1/policies/${policyId}`).set(tenant).send({ description: 'Now documented' }),
    );
    conforms(
      '/api/v1/policies/{id}/versions',
      'get',
      await http.get(`/api/v1/policies/${policyId}/versions`).set(tenant),
    );
    conforms(
      '/api/v1/authorize',
      'post',
      await http
        .post('/api/v1/authorize')
        .set(tenant)
        .send({ principal: { type: 'User', id: 'alice' }, action: 'read', resource: { type: 'invoice', id: 'inv_1' } }),
    );
    conforms(
      '/api/v1/applications',
      'post',
      await http
        .post('/api/v1/applications')
        .set(tenant)
        .send({ kind: 'spa', client_name: 'Public', redirect_uris: ['https://spa.example.com/cb'] }),
    );
    conforms('/api/v1/applications', 'get', await http.get('/api/v1/applications').set(tenant));
    conforms('/api/v1/applications/{id}', 'get', await http.get(`/api/v1/applications/${applicationId}`).set(tenant));
    conforms(
      '/api/v1/applications/{id}',
      'patch',
      await http.patch(`/api/v1/applications/${applicationId}`).set(tenant).send({ client_name: 'Documented Inc' }),
    );
    conforms(
      '/api/v1/applications/{id}/secrets',
      'post',
      await http.post(`/api/v1/applications/${applicationId}/secrets`).set(tenant).send({ overlap_seconds: 60 }),
    );
    conforms('/api/v1/applications/{id}', 'get', await http.get(`/api/v1/applications/${applicationId}`).set(tenant));

    const api = await http
      .post('/api/v1/apis')
      .set(tenant)
      .send({
        name: 'Documented API',
        identifier: 'https://documented.example.com/api',
        scopes: [{ value: 'a:read' }],
      });
    conforms('/api/v1/apis', 'post', api);
    const apiId = api.body.id as string;
    conforms('/api/v1/apis', 'get', await http.get('/api/v1/apis').set(tenant));
    conforms('/api/v1/apis/{id}', 'get', await http.get(`/api/v1/apis/${apiId}`).set(tenant));
    conforms(
      '/api/v1/apis/{id}',
      'patch',
      await http.patch(`/api/v1/apis/${apiId}`).set(tenant).send({ access_token_ttl_seconds: 600 }),
    );
    conforms(
      '/api/v1/apis/{id}/grants/{application_id}',
      'put',
      await http
        .put(`/api/v1/apis/${apiId}/grants/${applicationId}`)
        .set(tenant)
        .send({ scopes: ['a:read'] }),
    );
    conforms('/api/v1/apis/{id}/grants', 'get', await http.get(`/api/v1/apis/${apiId}/grants`).set(tenant));
    conforms(
      '/api/v1/apis/{id}/grants/{application_id}',
      'put',
      await http
        .put(`/api/v1/apis/${apiId}/grants/${applicationId}`)
        .set(tenant)
        .send({ scopes: ['b:write'] }),
    );
    {
      // A user: an account linked to the tenant, as its first sign-in there would.
      const system = { actor: { type: 'system', id: 'openapi-test' } as const, correlationId: 'openapi-test' };
      const account = await signUpWithPassword(
        t.sigid,
        { email: `documented.${Date.now()}@example.test`, password: 'a documented password' },
        useCase({ tenantId: PLATFORM_TENANT, ...system }),
      );
      if (account.status !== 'created') throw new Error('sign-up');
      await settled(t.sigid);
      const { sub } = await linkAccount(t.sigid, account.accountId, tenantId, useCase({ tenantId, ...system }));
      await settled(t.sigid);
      conforms('/api/v1/users', 'get', await http.get('/api/v1/users').query({ email: 'documented.' }).set(tenant));
      conforms('/api/v1/users/{sub}', 'get', await http.get(`/api/v1/users/${sub}`).set(tenant));
      conforms(
        '/api/v1/users/{sub}',
        'patch',
        await http
          .patch(`/api/v1/users/${sub}`)
          .set(tenant)
          .send({ name: 'Ada', metadata: { plan: 'pro' } }),
      );
      conforms('/api/v1/users/{sub}/block', 'post', await http.post(`/api/v1/users/${sub}/block`).set(tenant));
      conforms('/api/v1/users/{sub}/unblock', 'post', await http.post(`/api/v1/users/${sub}/unblock`).set(tenant));
      conforms('/api/v1/users/{sub}/sessions', 'get', await http.get(`/api/v1/users/${sub}/sessions`).set(tenant));
      conforms(
        '/api/v1/users/{sub}/sessions/revoke',
        'post',
        await http.post(`/api/v1/users/${sub}/sessions/revoke`).set(tenant),
      );
      conforms(
        '/api/v1/users/{sub}',
        'patch',
        await http.patch(`/api/v1/users/${sub}`).set(tenant).set('If-Match', '"0"').send({ name: 'Stale' }),
      );
      expect((await http.delete(`/api/v1/users/${sub}`).set(tenant)).status).toBe(204);
      conforms('/api/v1/users/{sub}', 'get', await http.get(`/api/v1/users/${sub}`).set(tenant));
      conforms('/api/v1/users', 'get', await http.get('/api/v1/users').query({ status: 'deleted' }).set(tenant));

      const invitation = await http
        .post('/api/v1/invitations')
        .set(tenant)
        .send({ email: 'invited@example.test', roles: [] });
      conforms('/api/v1/invitations', 'post', invitation);
      const invitationId = invitation.body.id as string;
      conforms('/api/v1/invitations', 'get', await http.get('/api/v1/invitations').set(tenant));
      conforms('/api/v1/invitations/{id}', 'get', await http.get(`/api/v1/invitations/${invitationId}`).set(tenant));
      conforms(
        '/api/v1/invitations/{id}/resend',
        'post',
        await http.post(`/api/v1/invitations/${invitationId}/resend`).set(tenant),
      );
      conforms(
        '/api/v1/invitations/{id}/revoke',
        'post',
        await http.post(`/api/v1/invitations/${invitationId}/revoke`).set(tenant),
      );
      conforms(
        '/api/v1/invitations/{id}/resend',
        'post',
        await http.post(`/api/v1/invitations/${invitationId}/resend`).set(tenant),
      );
    }

    const role = await http
      .post('/api/v1/roles')
      .set(tenant)
      .send({ name: 'Documented role', permissions: [{ api_id: apiId, scope: 'a:read' }] });
    conforms('/api/v1/roles', 'post', role);
    const roleId = role.body.id as string;
    conforms('/api/v1/roles', 'get', await http.get('/api/v1/roles').set(tenant));
    conforms('/api/v1/roles/{id}', 'get', await http.get(`/api/v1/roles/${roleId}`).set(tenant));
    conforms(
      '/api/v1/roles/{id}',
      'patch',
      await http.patch(`/api/v1/roles/${roleId}`).set(tenant).send({ description: 'Reads a' }),
    );
    conforms(
      '/api/v1/roles',
      'post',
      await http
        .post('/api/v1/roles')
        .set(tenant)
        .send({ name: 'Refused role', permissions: [{ api_id: apiId, scope: 'z:none' }] }),
    );
    conforms('/api/v1/roles', 'post', await http.post('/api/v1/roles').set(tenant).send({ name: 'documented ROLE' }));
    const context = useCase({ tenantId: PLATFORM_TENANT, actor: { type: 'system', id: 'test' }, correlationId: 'doc' });
    const roleSignedUp = await signUpWithPassword(
      t.sigid,
      { email: `doc-${Date.now()}@example.com`, password: 'a documented password' },
      context,
    );
    if (roleSignedUp.status !== 'created') throw new Error('exists');
    const roleLinked = await linkAccount(t.sigid, roleSignedUp.accountId, tenantId, context);
    if (roleLinked.written.position !== null) await t.sigid.projections.waitFor(roleLinked.written.position);
    conforms(
      '/api/v1/roles/{id}/users/{sub}',
      'put',
      await http.put(`/api/v1/roles/${roleId}/users/${roleLinked.sub}`).set(tenant),
    );
    conforms('/api/v1/roles/{id}/users', 'get', await http.get(`/api/v1/roles/${roleId}/users`).set(tenant));
    conforms(
      '/api/v1/role-assignments',
      'get',
      await http.get(`/api/v1/role-assignments?sub=${roleLinked.sub}`).set(tenant),
    );
    conforms('/api/v1/role-claims', 'get', await http.get('/api/v1/role-claims').set(tenant));
    conforms('/api/v1/client-registration', 'get', await http.get('/api/v1/client-registration').set(tenant));
    conforms(
      '/api/v1/client-registration',
      'patch',
      await http.patch('/api/v1/client-registration').set(tenant).send({ dynamic_registration: true }),
    );
    conforms(
      '/api/v1/client-registration',
      'patch',
      await http.patch('/api/v1/client-registration').set(tenant).send({ dynamic_registration: 'yes' }),
    );
    conforms('/.well-known/oauth-protected-resource', 'get', await http.get('/.well-known/oauth-protected-resource'));
    conforms(
      '/api/v1/role-claims',
      'patch',
      await http.patch('/api/v1/role-claims').set(tenant).send({ roles_claim: 'https://doc.example/roles' }),
    );
    conforms(
      '/api/v1/role-claims',
      'patch',
      await http.patch('/api/v1/role-claims').set(tenant).send({ roles_claim: 'sub' }),
    );
    conforms(
      '/api/v1/applications',
      'post',
      await http
        .post('/api/v1/applications')
        .set(tenant)
        .send({ kind: 'm2m', client_name: 'x', redirect_uris: ['https://a.example/cb'] }),
    );

    const endpoint = await http
      .post('/api/v1/webhooks')
      .set(tenant)
      .send({ url: 'http://127.0.0.1:9/hook', event_types: ['tenant.renamed'] });
    conforms('/api/v1/webhooks', 'post', endpoint);
    const id = endpoint.body.id as string;
    conforms('/api/v1/webhooks', 'get', await http.get('/api/v1/webhooks').set(tenant));
    conforms('/api/v1/webhooks/{id}', 'get', await http.get(`/api/v1/webhooks/${id}`).set(tenant));
    conforms(
      '/api/v1/webhooks/{id}',
      'patch',
      await http.patch(`/api/v1/webhooks/${id}`).set(tenant).send({ description: 'CRM' }),
    );
    conforms('/api/v1/webhooks/{id}/disable', 'post', await http.post(`/api/v1/webhooks/${id}/disable`).set(tenant));
    conforms(
      '/api/v1/webhooks/{id}/rotate-secret',
      'post',
      await http.post(`/api/v1/webhooks/${id}/rotate-secret`).set(tenant).send({ overlap_seconds: 0 }),
    );
    conforms('/api/v1/webhooks/event-types', 'get', await http.get('/api/v1/webhooks/event-types').set(tenant));
    conforms(
      '/api/v1/webhooks/{id}/replay',
      'post',
      await http.post(`/api/v1/webhooks/${id}/replay`).set(tenant).send({ after_position: 0 }),
    );
    const messages = await http.get(`/api/v1/webhooks/${id}/messages`).set(tenant);
    conforms('/api/v1/webhooks/{id}/messages', 'get', messages);
    const messageId = messages.body.data[0]?.id as string;
    expect(messageId).toBeDefined();
    conforms(
      '/api/v1/webhooks/{id}/messages/{messageId}',
      'get',
      await http.get(`/api/v1/webhooks/${id}/messages/${messageId}`).set(tenant),
    );
    conforms(
      '/api/v1/webhooks/{id}/messages/{messageId}/redeliver',
      'post',
      await http.post(`/api/v1/webhooks/${id}/messages/${messageId}/redeliver`).set(tenant),
    );
    conforms('/api/v1/webhooks/{id}/attempts', 'get', await http.get(`/api/v1/webhooks/${id}/attempts`).set(tenant));

    conforms('/api/v1/signing-keys', 'get', await http.get('/api/v1/signing-keys').set(tenant));
    conforms('/api/v1/signing-keys/rotate', 'post', await http.post('/api/v1/signing-keys/rotate').set(tenant));
    conforms(
      '/api/v1/signing-keys/rotate',
      'post',
      await http.post('/api/v1/signing-keys/rotate').set(tenant).send({ alg: 'RS256' }),
    );
    conforms('/api/v1/signing-keys', 'get', await http.get('/api/v1/signing-keys?status=retiring').set(tenant));

    conforms('/api/v1/audit-logs', 'get', await http.get('/api/v1/audit-logs').set(tenant));
    conforms('/api/v1/audit-logs/export', 'get', await http.get('/api/v1/audit-logs/export').set(tenant));
    conforms('/api/v1/events', 'get', await http.get('/api/v1/events').set(tenant));
    conforms('/healthz', 'get', await http.get('/healthz'));
    conforms('/readyz', 'get', await http.get('/readyz'));

    // Problems: each with its documented status and one of the codes documented for it.
    conforms(
      '/api/v1/webhooks/{id}',
      'get',
      await http.get('/api/v1/webhooks/whk_00000000000000000000000000').set(tenant),
    );
    conforms(
      '/api/v1/tenants',
      'post',
      await http.post('/api/v1/tenants').set(operator).send({ name: 'x', slug: 'NOT A SLUG' }),
    );
    conforms('/api/v1/api-keys', 'get', await http.get('/api/v1/api-keys'));
    const encoded = await http
      .post('/api/v1/api-keys')
      .set(tenant)
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'x-unknown')
      .send('{"name":"x"}');
    expect([encoded.status, encoded.body.code]).toEqual([415, 'unsupported_encoding']);
    conforms('/api/v1/api-keys', 'post', encoded);
    const latin1 = await http
      .post('/api/v1/api-keys')
      .set(tenant)
      .set('Content-Type', 'application/json; charset=latin1')
      .send('{"name":"x"}');
    expect([latin1.status, latin1.body.code]).toEqual([415, 'unsupported_charset']);
    conforms('/api/v1/api-keys', 'post', latin1);
    conforms(
      '/api/v1/tenants/{id}',
      'patch',
      await http.patch(`/api/v1/tenants/${tenantId}`).set(operator).set('If-Match', '"0"').send({ name: 'Stale' }),
    );
    conforms(
      '/api/v1/webhooks',
      'post',
      await http
        .post('/api/v1/webhooks')
        .set(tenant)
        .send({ url: 'https://[::1]/hook', event_types: ['*'] }),
    );
  });
});
