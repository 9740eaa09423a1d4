import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { claimReservation } from '../services/reservations.ts';
import { newId } from '../src/ids.ts';
import { backends } from './support/databases.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problemType = /^application\/problem\+json/;

describe.each(backends)('tenants and API keys over HTTP ($name)', ({ name }) => {
  let t: TestSigid;

  beforeAll(async () => {
    t = await startSigid({ backend: name });
  });
  afterAll(async () => {
    await t?.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** How many events the store holds: bad input must leave it unchanged. */
  async function eventCount() {
    const { rows } = await t.sigid.db.query<{ count: number }>('select count(*)::int as count from sigid_events');
    return rows[0]?.count ?? 0;
  }

  it('creates a tenant that shows in its read model and in its own audit log, with its first key shown once', async () => {
    const created = await t.http
      .post('/api/v1/tenants')
      .set('Authorization', t.operator)
      .send({ name: 'Acme Corp', slug: `acme-${name}` })
      .expect(201);
    expect(created.body.tenant).toMatchObject({ name: 'Acme Corp', slug: `acme-${name}`, status: 'active' });
    expect(created.body.tenant.id).toMatch(/^ten_[0-9a-z]{26}$/);
    expect(created.body.tenant.issuer).toMatch(new RegExp(`/t/acme-${name}$`));
    expect(created.body.api_key.key).toMatch(/^sigid_sk_/);
    expect(created.headers.etag).toBe('"0"');
    const tenantId = created.body.tenant.id;
    const key = created.body.api_key.key;

    // Read your writes: the very next read sees it.
    const fetched = await t.http.get(`/api/v1/tenants/${tenantId}`).set('Authorization', t.operator).expect(200);
    expect(fetched.body).toEqual(created.body.tenant);

    const audit = await t.http.get('/api/v1/audit-logs').set('Authorization', `Bearer ${key}`).expect(200);
    const actions = audit.body.data.map((entry: { action: string }) => entry.action);
    expect(actions).toEqual(['api_key.created', 'tenant.created']);
    const createdEntry = audit.body.data[1];
    expect(createdEntry).toMatchObject({
      action: 'tenant.created',
      actor: { type: 'operator' },
      target: { type: 'tenant', id: tenantId },
      tenant_id: tenantId,
      data: { tenant_id: tenantId, slug: `acme-${name}`, name: 'Acme Corp' },
    });
    expect(createdEntry.correlation_id).toBe(created.headers['x-request-id']);

    // Only a hash is kept: the key appears in no event and in no read model.
    const { rows } = await t.sigid.db.query<{ hits: number }>(
      `select count(*)::int as hits from sigid_events where data::text like '%' || $1 || '%'`,
      [key.slice(-20)],
    );
    expect(rows[0]?.hits).toBe(0);
    const listed = await t.http.get('/api/v1/api-keys').set('Authorization', `Bearer ${key}`).expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(key.slice(-20));
  });

  it('lists tenants with cursor pagination', async () => {
    await t.createTenant('List one');
    await t.createTenant('List two');
    const first = await t.http.get('/api/v1/tenants?limit=1').set('Authorization', t.operator).expect(200);
    expect(first.body.data).toHaveLength(1);
    expect(first.body.has_more).toBe(true);
    const second = await t.http
      .get(`/api/v1/tenants?limit=1&starting_after=${first.body.next_cursor}`)
      .set('Authorization', t.operator)
      .expect(200);
    expect(second.body.data[0].id > first.body.data[0].id).toBe(true);
  });

  it('renames with If-Match, refuses a stale ETag with 412 and changes nothing', async () => {
    const { tenantId } = await t.createTenant('Before');
    const renamed = await t.http
      .patch(`/api/v1/tenants/${tenantId}`)
      .set('Authorization', t.operator)
      .set('If-Match', '"0"')
      .send({ name: 'After' })
      .expect(200);
    expect(renamed.body.name).toBe('After');
    expect(renamed.headers.etag).toBe('"1"');
    const before = await eventCount();
    const stale = await t.http
      .patch(`/api/v1/tenants/${tenantId}`)
      .set('Authorization', t.operator)
      .set('If-Match', '"0"')
      .send({ name: 'Lost update' })
      .expect(412);
    expect(stale.headers['content-type']).toMatch(problemType);
    expect(stale.body.code).toBe('precondition_failed');
    expect(await eventCount()).toBe(before);
    const current = await t.http.get(`/api/v1/tenants/${tenantId}`).set('Authorization', t.operator).expect(200);
    expect(current.body.name).toBe('After');
  });

  it('gives a slug whose tenant was never created (its creator died in between) to the next create', async () => {
    const slug = `orphan-${name}`;
    const orphanId = newId('ten');
    // What a creator that died between the two appends leaves: the reservation, a minute ago.
    await claimReservation(
      t.sigid,
      { scope: PLATFORM_TENANT, kind: 'slug', value: slug, ownerId: orphanId },
      { actor: { type: 'operator', id: 'op_crashed' }, correlationId: 'crashed' },
    );
    const create = (tenantName: string) =>
      t.http.post('/api/v1/tenants').set('Authorization', t.operator).send({ name: tenantName, slug });
    const recent = await create('Too soon').expect(409);
    expect(recent.body.code).toBe('slug_taken');
    // Two minutes later (only the clock is moved: events are append-only).
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 120_000 });
    const created = await create('Orphan adopted').expect(201);
    vi.useRealTimers();
    expect(created.body.tenant).toMatchObject({ id: orphanId, slug, name: 'Orphan adopted' });
    const again = await create('Second').expect(409);
    expect(again.body.code).toBe('slug_taken');
  });

  it('keeps the slug unique under concurrent creates and never lets it change', async () => {
    const slug = `race-${name}`;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        t.http
          .post('/api/v1/tenants')
          .set('Authorization', t.operator)
          .send({ name: `Racer ${index}`, slug }),
      ),
    );
    const statuses = results.map((result) => result.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409]);
    expect(results.find((result) => result.status === 409)?.body.code).toBe('slug_taken');
    const winner = results.find((result) => result.status === 201)?.body.tenant.id;
    const patched = await t.http
      .patch(`/api/v1/tenants/${winner}`)
      .set('Authorization', t.operator)
      .send({ slug: 'other-slug' })
      .expect(400);
    expect(patched.body.errors[0].message).toMatch(/slug/);
  });

  it('suspends a tenant (its keys get 403), reactivates it, and deletes it (404, keys 401)', async () => {
    const { tenantId, key } = await t.createTenant('Suspendable');
    await t.http
      .patch(`/api/v1/tenants/${tenantId}`)
      .set('Authorization', t.operator)
      .send({ status: 'suspended', suspension_reason: 'unpaid' })
      .expect(200);
    const refused = await t.http.get('/api/v1/api-keys').set('Authorization', `Bearer ${key}`).expect(403);
    expect(refused.body.code).toBe('forbidden');
    await t.http
      .patch(`/api/v1/tenants/${tenantId}`)
      .set('Authorization', t.operator)
      .send({ status: 'active' })
      .expect(200);
    const audit = await t.http.get('/api/v1/audit-logs').set('Authorization', `Bearer ${key}`).expect(200);
    expect(audit.body.data.slice(0, 2).map((entry: { action: string }) => entry.action)).toEqual([
      'tenant.reactivated',
      'tenant.suspended',
    ]);
    expect(audit.body.data[1].data).toEqual({ reason: 'unpaid' });

    await t.http.delete(`/api/v1/tenants/${tenantId}`).set('Authorization', t.operator).expect(204);
    await t.http.get(`/api/v1/tenants/${tenantId}`).set('Authorization', t.operator).expect(404);
    await t.http.get('/api/v1/api-keys').set('Authorization', `Bearer ${key}`).expect(401);
    const listed = await t.http.get('/api/v1/tenants?limit=100').set('Authorization', t.operator).expect(200);
    expect(listed.body.data.map((tenant: { id: string }) => tenant.id)).not.toContain(tenantId);
  });

  it('issues, lists and revokes tenant admin keys; a revoked key is refused at once', async () => {
    const { key } = await t.createTenant('Keys');
    const created = await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${key}`)
      .send({ name: 'CI deploys' })
      .expect(201);
    expect(created.body).toMatchObject({ name: 'CI deploys', object: 'api_key' });
    const second = created.body.key;
    const listed = await t.http.get('/api/v1/api-keys').set('Authorization', `Bearer ${second}`).expect(200);
    expect(listed.body.data.map((row: { name: string }) => row.name).sort()).toEqual([
      'CI deploys',
      'Initial admin key',
    ]);
    expect(listed.body.data.every((row: Record<string, unknown>) => !('key' in row))).toBe(true);

    await t.http.delete(`/api/v1/api-keys/${created.body.id}`).set('Authorization', `Bearer ${key}`).expect(204);
    const revoked = await t.http.get('/api/v1/api-keys').set('Authorization', `Bearer ${second}`).expect(401);
    expect(revoked.headers['content-type']).toMatch(problemType);
    await t.http.delete(`/api/v1/api-keys/${created.body.id}`).set('Authorization', `Bearer ${key}`).expect(404);
  });

  it('lets the operator issue an admin key for a tenant (break-glass), audited as the operator', async () => {
    const { tenantId, key: tenantKey } = await t.createTenant('Locked out');
    const before = await eventCount();
    // Bad input, a tenant key instead of the operator's, an unknown tenant: refused, nothing written.
    const invalid = await t.http
      .post(`/api/v1/tenants/${tenantId}/api-keys`)
      .set('Authorization', t.operator)
      .send({ name: '' })
      .expect(400);
    expect(invalid.headers['content-type']).toMatch(problemType);
    await t.http
      .post(`/api/v1/tenants/${tenantId}/api-keys`)
      .set('Authorization', `Bearer ${tenantKey}`)
      .send({ name: 'Recovery' })
      .expect(401);
    await t.http
      .post('/api/v1/tenants/ten_00000000000000000000000000/api-keys')
      .set('Authorization', t.operator)
      .send({ name: 'Recovery' })
      .expect(404);
    expect(await eventCount()).toBe(before);

    const issued = await t.http
      .post(`/api/v1/tenants/${tenantId}/api-keys`)
      .set('Authorization', t.operator)
      .send({ name: 'Recovery' })
      .expect(201);
    expect(issued.body).toMatchObject({ object: 'api_key', name: 'Recovery' });
    expect(issued.body.key).toMatch(/^sigid_sk_/);
    const listed = await t.http.get('/api/v1/api-keys').set('Authorization', `Bearer ${issued.body.key}`).expect(200);
    expect(listed.body.data.map((row: { name: string }) => row.name).sort()).toEqual(['Initial admin key', 'Recovery']);
    const audit = await t.http
      .get('/api/v1/audit-logs?action=api_key.created')
      .set('Authorization', `Bearer ${issued.body.key}`)
      .expect(200);
    const entry = audit.body.data.find((row: { target: { id: string } }) => row.target.id === issued.body.id);
    expect(entry.actor.type).toBe('operator');
    expect(JSON.stringify(audit.body)).not.toContain(issued.body.key);
  });

  it("isolates tenants: another tenant's key id is a 404 and its events never show", async () => {
    const a = await t.createTenant('Tenant A');
    const b = await t.createTenant('Tenant B');
    const before = await eventCount();
    const response = await t.http
      .delete(`/api/v1/api-keys/${b.keyId}`)
      .set('Authorization', `Bearer ${a.key}`)
      .expect(404);
    expect(response.body.code).toBe('not_found');
    expect(await eventCount()).toBe(before);
    await t.http.get('/api/v1/api-keys').set('Authorization', `Bearer ${b.key}`).expect(200);

    const audit = await t.http.get('/api/v1/audit-logs?limit=200').set('Authorization', `Bearer ${a.key}`).expect(200);
    expect(audit.body.data.every((entry: { tenant_id: string }) => entry.tenant_id === a.tenantId)).toBe(true);
    const exported = await t.http.get('/api/v1/events').set('Authorization', `Bearer ${a.key}`).expect(200);
    const lines = exported.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((event: { tenant_id: string }) => event.tenant_id === a.tenantId)).toBe(true);
    // A tenant key is not an operator key.
    await t.http.get(`/api/v1/tenants/${a.tenantId}`).set('Authorization', `Bearer ${a.key}`).expect(401);
  });

  it('answers bad input with a 4xx problem and appends nothing', async () => {
    const { key } = await t.createTenant('Bad input');
    const before = await eventCount();
    const cases: Array<
      [
        string,
        () => Promise<{ status: number; headers: Record<string, string>; body: { code: string } }>,
        number,
        string,
      ]
    > = [
      [
        'malformed JSON',
        () =>
          t.http
            .post('/api/v1/tenants')
            .set('Authorization', t.operator)
            .set('Content-Type', 'application/json')
            .send('{"name":'),
        400,
        'malformed_json',
      ],
      [
        'wrong type',
        () => t.http.post('/api/v1/tenants').set('Authorization', t.operator).send({ name: 42, slug: 'x-y-z' }),
        400,
        'invalid_request',
      ],
      [
        'unknown field',
        () => t.http.post('/api/v1/api-keys').set('Authorization', `Bearer ${key}`).send({ name: 'k', admin: true }),
        400,
        'invalid_request',
      ],
      [
        'bad slug',
        () => t.http.post('/api/v1/tenants').set('Authorization', t.operator).send({ name: 'n', slug: 'Not A Slug' }),
        400,
        'invalid_request',
      ],
      [
        'not JSON at all',
        () =>
          t.http
            .post('/api/v1/api-keys')
            .set('Authorization', `Bearer ${key}`)
            .set('Content-Type', 'text/plain')
            .send('name=k'),
        400,
        'invalid_request',
      ],
      [
        'a JSON array',
        () =>
          t.http
            .post('/api/v1/api-keys')
            .set('Authorization', `Bearer ${key}`)
            .send([{ name: 'k' }]),
        400,
        'invalid_request',
      ],
      [
        'oversized body',
        () =>
          t.http
            .post('/api/v1/api-keys')
            .set('Authorization', `Bearer ${key}`)
            .send({ name: 'x'.repeat(200_000) }),
        413,
        'payload_too_large',
      ],
      ['missing key', () => t.http.get('/api/v1/api-keys'), 401, 'unauthorized'],
      [
        'wrong key',
        () => t.http.get('/api/v1/api-keys').set('Authorization', `Bearer ${key.slice(0, -2)}xx`),
        401,
        'unauthorized',
      ],
      [
        'garbage key',
        () => t.http.get('/api/v1/api-keys').set('Authorization', 'Bearer nonsense'),
        401,
        'unauthorized',
      ],
      [
        'operator key on tenant route',
        () => t.http.post('/api/v1/tenants').set('Authorization', `Bearer ${key}`).send({ name: 'n', slug: 'abc-def' }),
        401,
        'unauthorized',
      ],
      [
        'bad If-Match',
        () => t.http.delete('/api/v1/tenants/ten_x').set('Authorization', t.operator).set('If-Match', 'yesterday'),
        400,
        'invalid_request',
      ],
      [
        'unknown tenant id',
        () => t.http.get('/api/v1/tenants/ten_00000000000000000000000000').set('Authorization', t.operator),
        404,
        'not_found',
      ],
      [
        'unknown query parameter',
        () => t.http.get('/api/v1/audit-logs?colour=red').set('Authorization', `Bearer ${key}`),
        400,
        'invalid_request',
      ],
      [
        'bad limit',
        () => t.http.get('/api/v1/audit-logs?limit=-4').set('Authorization', `Bearer ${key}`),
        400,
        'invalid_request',
      ],
      [
        'bad cursor',
        () => t.http.get('/api/v1/audit-logs?starting_after=%00%01').set('Authorization', `Bearer ${key}`),
        400,
        'invalid_request',
      ],
      [
        'bad date',
        () => t.http.get('/api/v1/audit-logs?since=tuesday').set('Authorization', `Bearer ${key}`),
        400,
        'invalid_request',
      ],
      ['unknown route', () => t.http.get('/nope'), 404, 'route_not_found'],
    ];
    for (const [label, send, status, code] of cases) {
      const response = await send();
      expect({ label, status: response.status, code: response.body.code }).toEqual({ label, status, code });
      expect(response.headers['content-type'], label).toMatch(problemType);
    }
    expect(await eventCount()).toBe(before);
  });

  it('returns the first answer again for a repeated Idempotency-Key, and refuses the key with another body', async () => {
    const { key } = await t.createTenant('Idempotent');
    const first = await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${key}`)
      .set('Idempotency-Key', 'make-deploy-key-1')
      .send({ name: 'deploy' })
      .expect(201);
    const before = await eventCount();
    const again = await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${key}`)
      .set('Idempotency-Key', 'make-deploy-key-1')
      .send({ name: 'deploy' })
      .expect(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await eventCount()).toBe(before);
    const reused = await t.http
      .post('/api/v1/api-keys')
      .set('Authorization', `Bearer ${key}`)
      .set('Idempotency-Key', 'make-deploy-key-1')
      .send({ name: 'something else' })
      .expect(422);
    expect(reused.body.code).toBe('idempotency_key_reused');
    // A stored answer holding a key shown once is sealed at rest.
    const { rows } = await t.sigid.db.query<{ response: Uint8Array }>('select response from idempotency_keys');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.some((row) => Buffer.from(row.response).toString().includes('sigid_sk_'))).toBe(false);
  });
});
