import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { postgresReachable } from './support/databases.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;

describe('webhook endpoints API', () => {
  let t: TestSigid;
  let tenant: { tenantId: string; key: string };
  let other: { tenantId: string; key: string };
  const auth = () => `Bearer ${tenant.key}`;

  beforeAll(async () => {
    t = await startSigid({
      backend: postgresReachable ? 'postgres' : 'pglite',
      config: {
        webhooks: {
          ...loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' }),
          // The API tests check configuration, not delivery.
          worker: false,
        },
      },
    });
    tenant = await t.createTenant('Webhooks API');
    other = await t.createTenant('Someone else');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function eventCount() {
    const { rows } = await t.sigid.db.query<{ count: number }>('select count(*)::int as count from sigid_events');
    return rows[0]?.count ?? 0;
  }

  async function auditActions(key = tenant.key) {
    const audit = await t.http.get('/api/v1/audit-logs?limit=200').set('Authorization', `Bearer ${key}`).expect(200);
    return audit.body.data as Array<{ action: string; actor: { type: string }; target: { id: string }; data: unknown }>;
  }

  async function create(body: Record<string, unknown> = {}) {
    return t.http
      .post('/api/v1/webhooks')
      .set('Authorization', auth())
      .send({ url: 'http://127.0.0.1:9/hooks', event_types: ['*'], ...body })
      .expect(201);
  }

  it('creates an endpoint, shows its whsec_ secret once, and records the creation in the audit log', async () => {
    const created = await create({ event_types: ['agent.*', 'tenant.renamed'], description: 'CRM sync' });
    expect(created.body).toMatchObject({
      object: 'webhook_endpoint',
      url: 'http://127.0.0.1:9/hooks',
      event_types: ['agent.*', 'tenant.renamed'],
      description: 'CRM sync',
      status: 'enabled',
    });
    expect(created.body.id).toMatch(/^whk_[0-9a-z]{26}$/);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.headers.location).toBe(`/api/v1/webhooks/${created.body.id}`);
    const secret: string = created.body.secret;

    const fetched = await t.http.get(`/api/v1/webhooks/${created.body.id}`).set('Authorization', auth()).expect(200);
    expect(fetched.body.secret).toBeUndefined();
    expect(fetched.headers.etag).toBe('"0"');
    const listed = await t.http.get('/api/v1/webhooks').set('Authorization', auth()).expect(200);
    expect(listed.body.data.map((endpoint: { id: string }) => endpoint.id)).toContain(created.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(secret.slice(6, 30));

    const entry = (await auditActions()).find((record) => record.action === 'webhook.endpoint.created');
    expect(entry).toMatchObject({ actor: { type: 'api_key' }, target: { id: created.body.id } });
    // The secret is in no event, no read model and no audit record: only its id is.
    const { rows } = await t.sigid.db.query<{ hits: number }>(
      `select count(*)::int as hits from sigid_events where data::text like '%' || $1 || '%'`,
      [secret.slice(6, 30)],
    );
    expect(rows[0]?.hits).toBe(0);
    expect(JSON.stringify(entry)).not.toContain(secret.slice(6, 30));
    // Secret ids have a prefix of their own: secret scanners flag `whsec_`, and an export or a
    // webhook body carrying the id is no leak.
    const ids = await t.sigid.db.query<{ data: { secret_id: string } }>(
      `select data from sigid_events where event_type = 'webhook.endpoint.created' and data->>'endpoint_id' = $1`,
      [created.body.id],
    );
    expect(ids.rows[0]?.data.secret_id).toMatch(/^wss_[0-9a-z]{26}$/);
    const exported = await t.http.get('/api/v1/audit-logs/export').set('Authorization', auth()).expect(200);
    expect(exported.text).not.toContain('whsec_');
    const sealed = await t.sigid.db.query<{ sealed: Uint8Array }>('select sealed from webhook_secrets');
    for (const row of sealed.rows)
      expect(Buffer.from(row.sealed).toString('latin1')).not.toContain(secret.slice(6, 30));
  });

  it('updates with If-Match, refuses a stale ETag, and audits the change with the previous values', async () => {
    const { body } = await create();
    const updated = await t.http
      .patch(`/api/v1/webhooks/${body.id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ event_types: ['tenant.*'], description: 'only tenant events' })
      .expect(200);
    expect(updated.body).toMatchObject({ event_types: ['tenant.*'], description: 'only tenant events' });
    expect(updated.headers.etag).toBe('"1"');
    const before = await eventCount();
    const stale = await t.http
      .patch(`/api/v1/webhooks/${body.id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ description: 'lost update' })
      .expect(412);
    expect(stale.headers['content-type']).toMatch(problem);
    expect(await eventCount()).toBe(before);
    const entry = (await auditActions()).find(
      (record) => record.action === 'webhook.endpoint.updated' && record.target.id === body.id,
    );
    expect(entry?.data).toMatchObject({
      changes: { event_types: ['tenant.*'], description: 'only tenant events' },
      previous: { event_types: ['*'], description: null },
    });
  });

  it('disables, enables and deletes, each an audited event', async () => {
    const { body } = await create();
    const disabled = await t.http.post(`/api/v1/webhooks/${body.id}/disable`).set('Authorization', auth()).expect(200);
    expect(disabled.body).toMatchObject({ status: 'disabled', disabled_reason: 'manual' });
    const enabled = await t.http.post(`/api/v1/webhooks/${body.id}/enable`).set('Authorization', auth()).expect(200);
    expect(enabled.body).toMatchObject({ status: 'enabled', disabled_reason: null });
    await t.http.delete(`/api/v1/webhooks/${body.id}`).set('Authorization', auth()).expect(204);
    await t.http.get(`/api/v1/webhooks/${body.id}`).set('Authorization', auth()).expect(404);
    const { rows } = await t.sigid.db.query('select 1 from webhook_secrets where endpoint_id = $1', [body.id]);
    expect(rows).toHaveLength(0);
    const actions = (await auditActions())
      .filter((record) => record.target.id === body.id)
      .map((record) => record.action)
      .reverse();
    expect(actions).toEqual([
      'webhook.endpoint.created',
      'webhook.endpoint.disabled',
      'webhook.endpoint.enabled',
      'webhook.endpoint.deleted',
    ]);
  });

  it('rotates the secret: the new one is shown once, the old one is kept only for the overlap window', async () => {
    const { body } = await create();
    const rotated = await t.http
      .post(`/api/v1/webhooks/${body.id}/rotate-secret`)
      .set('Authorization', auth())
      .send({ overlap_seconds: 3600 })
      .expect(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(body.secret);
    const expires = Date.parse(rotated.body.previous_secret_expires_at);
    expect(expires - Date.now()).toBeGreaterThan(3500_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(3600_000);
    const entry = (await auditActions()).find(
      (record) => record.action === 'webhook.endpoint.secret_rotated' && record.target.id === body.id,
    );
    expect(entry).toBeDefined();
    expect(JSON.stringify(entry)).not.toContain(rotated.body.secret.slice(6, 30));
  });

  it('refuses bad input with problem+json and changes nothing', async () => {
    const before = await eventCount();
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ event_types: ['*'] }, 400, 'invalid_request'],
      [{ url: 'http://127.0.0.1:9/x', event_types: [] }, 400, 'invalid_request'],
      [{ url: 'http://127.0.0.1:9/x', event_types: ['Agent Created'] }, 400, 'invalid_request'],
      [{ url: 'http://127.0.0.1:9/x', event_types: ['tenant.exploded'] }, 400, 'invalid_request'],
      [{ url: 'http://127.0.0.1:9/x', event_types: ['*'], colour: 'red' }, 400, 'invalid_request'],
      [{ url: 'not a url', event_types: ['*'] }, 400, 'invalid_request'],
      [{ url: 'ftp://127.0.0.1/x', event_types: ['*'] }, 422, 'scheme_not_allowed'],
      [{ url: 'https://10.0.0.5/hook', event_types: ['*'] }, 422, 'forbidden_address'],
      [{ url: 'https://169.254.169.254/latest/meta-data', event_types: ['*'] }, 422, 'forbidden_address'],
      [{ url: 'https://[::ffff:127.0.0.2]/hook', event_types: ['*'] }, 422, 'forbidden_address'],
      [{ url: 'https://[::1]/hook', event_types: ['*'] }, 422, 'forbidden_address'],
      [{ url: 'https://metadata.google.internal/', event_types: ['*'] }, 422, 'forbidden_address'],
      [{ url: 'http://93.184.216.34/hook', event_types: ['*'] }, 422, 'scheme_not_allowed'],
    ];
    for (const [body, status, code] of cases) {
      const response = await t.http.post('/api/v1/webhooks').set('Authorization', auth()).send(body);
      expect({ body, status: response.status, code: response.body.code }).toEqual({ body, status, code });
      expect(response.headers['content-type']).toMatch(problem);
    }
    const unknownType = await t.http
      .post('/api/v1/webhooks')
      .set('Authorization', auth())
      .send({ url: 'http://127.0.0.1:9/x', event_types: ['tenant.exploded'] });
    expect(unknownType.body.errors[0]).toMatchObject({ path: 'event_types.0' });
    const { body: endpoint } = await create();
    const afterCreate = await eventCount();
    await t.http
      .patch(`/api/v1/webhooks/${endpoint.id}`)
      .set('Authorization', auth())
      .send({ url: 'https://192.168.1.1/' })
      .expect(422);
    await t.http.patch(`/api/v1/webhooks/${endpoint.id}`).set('Authorization', auth()).send({}).expect(400);
    await t.http
      .post(`/api/v1/webhooks/${endpoint.id}/replay`)
      .set('Authorization', auth())
      .send({ since: '2026-01-01T00:00:00Z', after_position: 3 })
      .expect(400);
    expect(await eventCount()).toBe(afterCreate);
    expect(afterCreate).toBe(before + 1);
  });

  it("answers 404 for another tenant's endpoint, whatever the route", async () => {
    const { body } = await create();
    const stranger = `Bearer ${other.key}`;
    const before = await eventCount();
    await t.http.get(`/api/v1/webhooks/${body.id}`).set('Authorization', stranger).expect(404);
    await t.http
      .patch(`/api/v1/webhooks/${body.id}`)
      .set('Authorization', stranger)
      .send({ description: 'x' })
      .expect(404);
    await t.http.post(`/api/v1/webhooks/${body.id}/disable`).set('Authorization', stranger).expect(404);
    await t.http.post(`/api/v1/webhooks/${body.id}/rotate-secret`).set('Authorization', stranger).expect(404);
    await t.http.get(`/api/v1/webhooks/${body.id}/messages`).set('Authorization', stranger).expect(404);
    await t.http
      .post(`/api/v1/webhooks/${body.id}/replay`)
      .set('Authorization', stranger)
      .send({ after_position: 0 })
      .expect(404);
    await t.http.delete(`/api/v1/webhooks/${body.id}`).set('Authorization', stranger).expect(404);
    await t.http.get('/api/v1/webhooks/whk_nope').set('Authorization', stranger).expect(404);
    const listed = await t.http.get('/api/v1/webhooks').set('Authorization', stranger).expect(200);
    expect(listed.body.data).toEqual([]);
    expect(await eventCount()).toBe(before);
    await t.http.get(`/api/v1/webhooks/${body.id}`).set('Authorization', auth()).expect(200);
  });

  it('publishes the catalog of event types it delivers, generated from the event definitions', async () => {
    const response = await t.http.get('/api/v1/webhooks/event-types').set('Authorization', auth()).expect(200);
    const types = response.body.data.map((entry: { type: string }) => entry.type);
    expect(types).toEqual(t.sigid.log.catalog.types());
    expect(
      response.body.data.find((entry: { type: string }) => entry.type === 'webhook.endpoint.disabled'),
    ).toMatchObject({
      version: 1,
      description: expect.stringContaining('410 Gone'),
    });
  });
});
