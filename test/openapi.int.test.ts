import { readFileSync } from 'node:fs';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument, openApiText, operations } from '../src/http/openapi.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Json = Record<string, unknown>;
const document = () => structuredClone(openApiDocument()) as unknown as Json;

interface RouterLayer {
  rawPath?: string | string[];
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: RouterLayer[] };
}

/** Every `METHOD /path` the express app serves, mount paths joined, `:id` written `{id}`. */
function servedRoutes(app: Express): Set<string> {
  const routes = new Set<string>();
  const walk = (stack: RouterLayer[], prefix: string) => {
    for (const layer of stack) {
      const raw = layer.route?.path ?? layer.rawPath;
      if (typeof raw !== 'string') continue;
      const path = raw === '/' ? prefix : `${prefix}${raw}`;
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          if (method === '_all') continue;
          routes.add(`${method.toUpperCase()} ${path.replace(/\/$/, '') || '/'}`.replace(/:(\w+)/g, '{$1}'));
        }
      } else if (layer.handle.stack) walk(layer.handle.stack, path);
    }
  };
  walk((app as unknown as { router: { stack: RouterLayer[] } }).router.stack, '');
  return routes;
}

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
