import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../src/http/input-guard.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { type Fixture, makeFixture, readRoutes, type WriteRoute, writeRoutes } from './support/routes.ts';
import { settled } from './support/settled.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;

/** Strings no field may hold: NUL, lone and reversed surrogates, other controls, a noncharacter. */
const hostileStrings = ['\u0000', 'Acme\u0000', '\ud800', 'a\udc00b', '\udc00\ud800', 'bell\u0007', '\u009b', '\ufffe'];

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

interface BadRequest {
  label: string;
  /** Raw JSON text, so keys such as `__proto__` and escapes such as `\ud800` go out exactly as written. */
  json?: string;
  query?: string;
}

/** The bad requests for one route: hostile text, deep nesting, wrong shapes and types, unknown fields and parameters. */
function badRequests(route: WriteRoute, f: Fixture): BadRequest[] {
  const sample = route.body?.(f, 'sample') ?? {};
  const fields = Object.keys(sample);
  const bodyFor = (label: string) => route.body?.(f, label) ?? {};
  const cases: BadRequest[] = [];
  const textFields = fields.filter((field) => typeof sample[field] === 'string' || Array.isArray(sample[field]));
  for (const field of textFields.length > 0 ? textFields : ['note']) {
    hostileStrings.forEach((hostile, index) => {
      const label = `${field} hostile ${index}`;
      const value = Array.isArray(sample[field]) ? [hostile] : hostile;
      cases.push({ label, json: JSON.stringify({ ...bodyFor(label), [field]: value }) });
    });
  }
  cases.push(
    { label: 'key nul', json: JSON.stringify({ ...bodyFor('key nul'), 'na\u0000me': 'x' }) },
    { label: 'key surrogate', json: JSON.stringify({ ...bodyFor('key surrogate'), '\ud800': 'x' }) },
    {
      label: 'proto',
      json: `{"__proto__":{"polluted":true}${JSON.stringify(bodyFor('proto'))
        .slice(1, -1)
        .replace(/^(?=.)/, ',')}}`,
    },
    { label: 'deep 5000', json: `{"${fields[0] ?? 'note'}":${nested(5000)}}` },
    { label: 'deep limit', json: `{"${fields[0] ?? 'note'}":${nested(MAX_JSON_DEPTH)}}` },
    { label: 'top-level array', json: JSON.stringify([bodyFor('top-level array')]) },
    { label: 'query nul', query: 'x=%00' },
    { label: 'query repeated', query: 'limit=1&limit=2' },
    { label: 'query object', query: 'a[b]=c' },
    { label: 'query unknown', query: 'dry_run=true' },
  );
  if (route.body) {
    for (const field of fields) {
      for (const [kind, value] of [
        ['number', 12345],
        ['object', { a: 1 }],
        ['boolean', true],
        ['long', 'x'.repeat(5000)],
      ] as const) {
        const label = `${field} ${kind}`;
        const body = bodyFor(label);
        // A number field given a number is fine, a boolean one given a boolean too: give it a string instead.
        const wrong =
          typeof body[field] === 'number' && kind === 'number'
            ? 'twelve'
            : typeof body[field] === 'boolean' && kind === 'boolean'
              ? 'yes'
              : value;
        cases.push({ label, json: JSON.stringify({ ...body, [field]: wrong }) });
      }
    }
    cases.push({ label: 'unknown field', json: JSON.stringify({ ...bodyFor('unknown field'), extra: 'x' }) });
  }
  return cases;
}

describe('a refused request writes nothing anywhere', () => {
  let t: TestSigid;
  let f: Fixture;

  beforeAll(async () => {
    t = await startSigid({
      config: { webhooks: { ...loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' }), worker: false } },
    });
    f = await makeFixture(t, 'Refusals');
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Rows in every table: events, streams (slug reservations), secrets, idempotency keys, read models. */
  async function footprint(): Promise<Record<string, number>> {
    const { rows: tables } = await t.sigid.db.query<{ name: string }>(
      `select table_name as name from information_schema.tables
       where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`,
    );
    const counts: Record<string, number> = {};
    for (const { name } of tables) {
      // An Idempotency-Key a refused request claimed is forgotten with the refusal: no row remains.
      const { rows } = await t.sigid.db.query<{ count: number }>(`select count(*)::int as count from "${name}"`);
      counts[name] = rows[0]?.count ?? 0;
    }
    return counts;
  }

  it('answers 400 to every bad request on every write route, with and without Idempotency-Key, and nothing changes', async () => {
    // Every projection has read the fixture's events (and saved its checkpoint) before the count.
    await settled(t.sigid);
    const before = await footprint();
    const tenantBefore = await t.http.get(`/api/v1/tenants/${f.tenantId}`).set('Authorization', t.operator);
    const endpointBefore = await t.http
      .get(`/api/v1/webhooks/${f.endpointId}`)
      .set('Authorization', `Bearer ${f.tenantKey}`);
    const wrong: string[] = [];
    let sent = 0;
    let idempotencyKey = 0;
    const requests: Array<() => Promise<void>> = [];
    for (const [name, route] of Object.entries(writeRoutes)) {
      for (const bad of badRequests(route, f)) {
        for (const withKey of [false, true]) {
          const key = withKey ? `refused-${++idempotencyKey}` : undefined;
          requests.push(async () => {
            let request = t.http[route.method](`${route.path(f)}${bad.query ? `?${bad.query}` : ''}`).set(
              'Authorization',
              route.auth(f),
            );
            if (key) request = request.set('Idempotency-Key', key);
            if (bad.json !== undefined) request = request.set('Content-Type', 'application/json').send(bad.json);
            const response = await request;
            sent++;
            const isProblem = problem.test(response.headers['content-type'] ?? '');
            if (response.status !== 400 || !isProblem || response.body.code !== 'invalid_request') {
              wrong.push(
                `${name} ${bad.label}${key ? ' (Idempotency-Key)' : ''}: ${response.status} ${response.body?.code}`,
              );
            }
          });
        }
      }
    }
    // A few at a time, as clients would send them: thousands one after another outlast the test's time.
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let next = requests.shift(); next; next = requests.shift()) await next();
      }),
    );
    expect(sent).toBeGreaterThan(500);
    expect(wrong).toEqual([]);
    expect(await footprint()).toEqual(before);
    const tenantAfter = await t.http.get(`/api/v1/tenants/${f.tenantId}`).set('Authorization', t.operator);
    expect(tenantAfter.body).toEqual(tenantBefore.body);
    // A refused request's key is free at once: the corrected retry runs, no 409 request_in_progress.
    for (const refused of [{ name: 12345 }, { name: 'nul\u0000' }]) {
      await t.http
        .post('/api/v1/api-keys')
        .set('Authorization', `Bearer ${f.tenantKey}`)
        .set('Idempotency-Key', 'corrected-later')
        .send(refused)
        .expect(400);
    }
    await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${f.tenantKey}`)
      .set('Idempotency-Key', 'corrected-later')
      .send({ name: 'corrected' })
      .expect(201);
    const endpointAfter = await t.http
      .get(`/api/v1/webhooks/${f.endpointId}`)
      .set('Authorization', `Bearer ${f.tenantKey}`);
    expect(endpointAfter.body).toEqual(endpointBefore.body);
  });

  it('leaves no slug reserved: a clean create of every slug a refused create named succeeds at once', async () => {
    const route = writeRoutes['POST /tenants'] as WriteRoute;
    const slugs = new Set(
      badRequests(route, f)
        .filter((bad) => bad.json?.includes('"slug"'))
        .map((bad) => (JSON.parse(bad.json as string) as { slug?: unknown }).slug)
        .filter((slug): slug is string => typeof slug === 'string' && /^refused-/.test(slug)),
    );
    expect(slugs.size).toBeGreaterThan(10);
    for (const slug of slugs) {
      await t.http.post('/api/v1/tenants').set('Authorization', t.operator).send({ name: 'Clean', slug }).expect(201);
    }
  });

  it('names the offending path in errors[]', async () => {
    const renamed = await t.http
      .patch(`/api/v1/tenants/${f.tenantId}`)
      .set('Authorization', t.operator)
      .set('Content-Type', 'application/json')
      .send('{"name":"Fine","suspension_reason":"\\ud800","status":"suspended"}')
      .expect(400);
    expect(renamed.body.errors).toEqual([expect.objectContaining({ path: 'suspension_reason' })]);
    const webhook = await t.http
      .post('/api/v1/webhooks')
      .set('Authorization', `Bearer ${f.tenantKey}`)
      .send({ url: 'http://127.0.0.1:9/hooks', event_types: ['*', 'tenant.\u0000'] })
      .expect(400);
    expect(webhook.body.errors).toEqual([expect.objectContaining({ path: 'event_types.1' })]);
    const deep = await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${f.tenantKey}`)
      .set('Idempotency-Key', 'deep-one')
      .set('Content-Type', 'application/json')
      .send(`{"name":${nested(5000)}}`)
      .expect(400);
    expect(deep.body.errors[0].message).toBe(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    expect(deep.body.errors[0].path).toMatch(/^name(\.0)+$/);
    // A header SigID reads: HTTP lets bytes 0x80-0xFF through as Latin-1, so a C1 control arrives.
    const header = await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${f.tenantKey}`)
      .set('Idempotency-Key', 'retry\u009b1')
      .send({ name: 'fine' })
      .expect(400);
    expect(header.body.errors).toEqual([expect.objectContaining({ path: 'idempotency-key' })]);
  });

  it('accepts every text SigID promises to: other scripts, emoji, combining marks, line breaks in free text', async () => {
    const name = 'Ünïcødé 株式会社 مرحبا 👩🏽‍💻 e\u0301';
    const created = await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${f.tenantKey}`)
      .send({ name })
      .expect(201);
    expect(created.body.name).toBe(name);
    const described = await t.http
      .patch(`/api/v1/webhooks/${f.endpointId}`)
      .set('Authorization', `Bearer ${f.tenantKey}`)
      .send({ description: 'line one\nline two\tand a tab' })
      .expect(200);
    expect(described.body.description).toBe('line one\nline two\tand a tab');
    // A name is one line.
    await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${f.tenantKey}`)
      .send({ name: 'two\nlines' })
      .expect(400);
  });
});

describe('every GET route is strict about its query', () => {
  let t: TestSigid;
  let f: Fixture;

  beforeAll(async () => {
    t = await startSigid({
      config: { webhooks: { ...loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' }), worker: false } },
    });
    f = await makeFixture(t, 'Strict queries');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers each GET route as before when the query is one it knows', async () => {
    for (const route of readRoutes) {
      const response = await t.http
        .get(`${route.path(f)}${route.known ? `?${route.known}` : ''}`)
        .set('Authorization', route.auth(f));
      expect(response.status, route.path(f)).toBe(route.status ?? 200);
    }
  });

  it('refuses unknown, repeated, nested and NUL-bearing parameters with 400 problem+json, streams included', async () => {
    const wrong: string[] = [];
    for (const route of readRoutes) {
      const [name = 'x', value = '1'] = (route.known ?? '').split('=');
      const bad = [
        'unknown_parameter=1',
        `${route.known ? `${route.known}&` : ''}unknown_parameter=1`,
        route.known ? `${name}=${value}&${name}=${value}` : 'x=1&x=2',
        route.known ? `${name}=%00` : 'x=%00',
        route.known ? `${name}=a%00b` : 'x=a%00b',
        route.known ? `${name}[a]=b` : 'x[a]=b',
        route.known ? `${name}[]=${value}` : 'x[]=1',
        '%00=1',
        `${route.known ?? 'x=1'}&__proto__=1`,
      ];
      for (const query of bad) {
        const response = await t.http
          .get(`${route.path(f)}?${query}`)
          .set('Authorization', route.auth(f))
          .catch((error: Error) => ({
            status: `cut: ${error.message}`,
            headers: {} as Record<string, string>,
            body: {},
          }));
        const isProblem = problem.test(response.headers['content-type'] ?? '');
        if (response.status !== 400 || !isProblem || (response.body as { code?: string }).code !== 'invalid_request') {
          wrong.push(`${route.path(f)}?${query}: ${response.status} ${response.headers['content-type']}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
