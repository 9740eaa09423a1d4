import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/ids.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;

type Tenant = { tenantId: string; key: string };

/**
 * `/api/v1/apis`: a tenant's APIs and their grants, over HTTP against a real SigID and PostgreSQL.
 * Every change is an event in the audit log; bad input is a 400 problem that writes nothing; another
 * tenant's API or application is a 404.
 */
describe('APIs API', () => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;
  const scopes = [
    { value: 'invoices:read', description: 'Read invoices' },
    { value: 'invoices:write', description: 'Create and change invoices' },
  ];

  beforeAll(async () => {
    t = await startSigid();
    tenant = await t.createTenant('APIs');
    other = await t.createTenant('Someone else');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function count(sql: string, parameters: unknown[] = []): Promise<number> {
    const { rows } = await t.sigid.db.query<{ count: number }>(sql, parameters);
    return rows[0]?.count ?? 0;
  }
  const footprint = async () => ({
    events: await count('select count(*)::int as count from sigid_events'),
    apis: await count('select count(*)::int as count from apis'),
    grants: await count('select count(*)::int as count from api_grants'),
  });

  function createApi(body: Record<string, unknown>, who: Tenant = tenant) {
    return t.http.post('/api/v1/apis').set('Authorization', auth(who)).send(body);
  }
  async function application(who: Tenant = tenant) {
    const created = await t.http
      .post('/api/v1/applications')
      .set('Authorization', auth(who))
      .send({ kind: 'm2m', client_name: 'Worker' })
      .expect(201);
    return created.body.id as string;
  }

  it('creates, reads, lists, changes and deletes an API; each change is in the audit log', async () => {
    const created = await createApi({ name: 'Billing', identifier: 'https://billing.example.com/api', scopes });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/api/v1/apis/${created.body.id}`);
    expect(created.headers.etag).toBe('"0"');
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^api_[0-9a-z]{26}$/),
      object: 'api',
      name: 'Billing',
      identifier: 'https://billing.example.com/api',
      scopes,
      access_token_ttl_seconds: 3600,
      revision: 0,
    });
    const id = created.body.id as string;
    const read = await t.http.get(`/api/v1/apis/${id}`).set('Authorization', auth()).expect(200);
    expect(read.body).toEqual(created.body);

    // A scope without a description gets an empty one.
    const changed = await t.http
      .patch(`/api/v1/apis/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ name: 'Billing v2', scopes: [...scopes, { value: 'payments/refund' }], access_token_ttl_seconds: 600 })
      .expect(200);
    expect(changed.body).toMatchObject({
      name: 'Billing v2',
      identifier: 'https://billing.example.com/api',
      scopes: [...scopes, { value: 'payments/refund', description: '' }],
      access_token_ttl_seconds: 600,
      revision: 1,
    });
    // A stale If-Match is refused; the identifier cannot be changed.
    await t.http
      .patch(`/api/v1/apis/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ name: 'Lost update' })
      .expect(412);
    const fixed = await t.http
      .patch(`/api/v1/apis/${id}`)
      .set('Authorization', auth())
      .send({ identifier: 'https://elsewhere.example.com/' });
    expect(fixed.status).toBe(400);

    await t.http.delete(`/api/v1/apis/${id}`).set('Authorization', auth()).expect(204);
    await t.http.get(`/api/v1/apis/${id}`).set('Authorization', auth()).expect(404);
    // Its identifier is free again.
    const again = await createApi({ name: 'Billing again', identifier: 'https://billing.example.com/api' });
    expect(again.status).toBe(201);

    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${id}&order=asc`)
      .set('Authorization', auth())
      .expect(200);
    expect((audit.body.data as Array<{ action: string; target: unknown }>).map((entry) => entry.action)).toEqual([
      'api.created',
      'api.updated',
      'api.deleted',
    ]);
    expect(audit.body.data[0].target).toEqual({ type: 'api', id });
  });

  it('pages through APIs with a cursor, as applications do', async () => {
    const lister = await t.createTenant('Many APIs');
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      const created = await createApi({ name: `API ${index}`, identifier: `https://api${index}.example.com/` }, lister);
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&starting_after=${cursor}` : '?limit=2';
      const listed = await t.http.get(`/api/v1/apis${query}`).set('Authorization', auth(lister)).expect(200);
      expect(listed.body.object).toBe('list');
      expect(listed.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...listed.body.data.map((row: { id: string }) => row.id));
      cursor = listed.body.next_cursor;
      expect(listed.body.has_more).toBe(cursor !== null);
    } while (cursor);
    expect(seen).toEqual([...ids].sort());
  });

  it('refuses bad input with 400 problem+json and writes nothing', async () => {
    const good = { name: 'Good', identifier: 'https://good.example.com/api', scopes };
    const bad: Array<Record<string, unknown>> = [
      { ...good, identifier: 'http://api.example.com/' },
      { ...good, identifier: 'https://api.example.com/#section' },
      { ...good, identifier: 'not a uri' },
      { ...good, identifier: 'urn:example:api' },
      { ...good, identifier: 'https://nul\u0000.example.com/' },
      { ...good, name: 'nul\u0000' },
      { ...good, name: '' },
      { ...good, scopes: [{ value: 'has space' }] },
      { ...good, scopes: [{ value: '' }] },
      { ...good, scopes: [{ value: 'x'.repeat(129) }] },
      { ...good, scopes: [{ value: 'a\u0000b' }] },
      { ...good, scopes: [{ value: 'ok', description: 'nul\u0000' }] },
      { ...good, scopes: [{ value: 'dup' }, { value: 'dup' }] },
      { ...good, scopes: Array.from({ length: 101 }, (_, index) => ({ value: `s${index}` })) },
      { ...good, scopes: [{ value: 'ok', extra: true }] },
      { ...good, access_token_ttl_seconds: 59 },
      { ...good, access_token_ttl_seconds: 86_401 },
      { ...good, access_token_ttl_seconds: 1.5 },
      { ...good, unknown: 1 },
      { name: 'No identifier' },
    ];
    const before = await footprint();
    for (const body of bad) {
      const response = await createApi(body);
      expect(response.status, JSON.stringify(body).slice(0, 120)).toBe(400);
      expect(response.headers['content-type']).toMatch(problem);
      expect(response.body.code).toBe('invalid_request');
    }
    const duplicate = await createApi({ ...good, scopes: [{ value: 'dup' }, { value: 'dup' }] });
    expect(duplicate.body.errors).toEqual([expect.objectContaining({ path: 'scopes.1.value' })]);
    expect(await footprint()).toEqual(before);
    // http is fine for a loopback resource server.
    expect((await createApi({ name: 'Local', identifier: 'http://localhost:8080/api' })).status).toBe(201);
    expect((await createApi({ name: 'Local', identifier: 'http://127.0.0.1/api' })).status).toBe(201);
  });

  it('keeps an identifier unique within the tenant (409), independent between tenants', async () => {
    const identifier = 'https://shared.example.com/api';
    expect((await createApi({ name: 'First', identifier })).status).toBe(201);
    const before = await count('select count(*)::int as count from apis');
    const taken = await createApi({ name: 'Second', identifier });
    expect(taken.status).toBe(409);
    expect(taken.headers['content-type']).toMatch(problem);
    expect(taken.body.code).toBe('identifier_taken');
    expect(await count('select count(*)::int as count from apis')).toBe(before);
    // Another tenant registers the same identifier for its own API.
    expect((await createApi({ name: 'Theirs', identifier }, other)).status).toBe(201);
  });

  it('sets, lists and removes grants; scopes must be the API’s; deleting an API or an application ends its grants', async () => {
    const api = (await createApi({ name: 'Granting', identifier: 'https://granting.example.com/', scopes })).body;
    const appId = await application();
    const grantPath = `/api/v1/apis/${api.id}/grants/${appId}`;
    const set = await t.http
      .put(grantPath)
      .set('Authorization', auth())
      .send({ scopes: ['invoices:read'] })
      .expect(200);
    expect(set.body).toMatchObject({
      object: 'api_grant',
      api_id: api.id,
      application_id: appId,
      scopes: ['invoices:read'],
    });

    // A scope the API does not define: 400 naming it, nothing written.
    const before = await footprint();
    const unknown = await t.http
      .put(grantPath)
      .set('Authorization', auth())
      .send({ scopes: ['invoices:read', 'payments:refund'] });
    expect(unknown.status).toBe(400);
    expect(unknown.headers['content-type']).toMatch(problem);
    expect(unknown.body.errors).toEqual([expect.objectContaining({ path: 'scopes.1' })]);
    for (const body of [{ scopes: ['nul\u0000'] }, { scopes: 'invoices:read' }, {}, { scopes: [], extra: 1 }]) {
      expect((await t.http.put(grantPath).set('Authorization', auth()).send(body)).status).toBe(400);
    }
    expect(await footprint()).toEqual(before);

    const replaced = await t.http
      .put(grantPath)
      .set('Authorization', auth())
      .send({ scopes: ['invoices:write', 'invoices:read'] })
      .expect(200);
    expect(replaced.body.scopes).toEqual(['invoices:write', 'invoices:read']);
    const secondApp = await application();
    await t.http
      .put(`/api/v1/apis/${api.id}/grants/${secondApp}`)
      .set('Authorization', auth())
      .send({ scopes: ['invoices:read'] })
      .expect(200);
    const listed = await t.http.get(`/api/v1/apis/${api.id}/grants`).set('Authorization', auth()).expect(200);
    expect(listed.body.data.map((row: { application_id: string }) => row.application_id)).toEqual(
      [appId, secondApp].sort(),
    );

    // A scope removed from the API leaves the grants.
    await t.http
      .patch(`/api/v1/apis/${api.id}`)
      .set('Authorization', auth())
      .send({ scopes: [scopes[1]] })
      .expect(200);
    const narrowed = await t.http.get(`/api/v1/apis/${api.id}/grants`).set('Authorization', auth()).expect(200);
    expect(narrowed.body.data.map((row: { scopes: string[] }) => row.scopes)).toEqual(
      [appId, secondApp].sort().map((id) => (id === appId ? ['invoices:write'] : [])),
    );

    // Removing a grant; removing it again is a 404.
    await t.http.delete(grantPath).set('Authorization', auth()).expect(204);
    await t.http.delete(grantPath).set('Authorization', auth()).expect(404);

    // Deleting the application ends its grant.
    await t.http.delete(`/api/v1/applications/${secondApp}`).set('Authorization', auth()).expect(204);
    const afterApp = await t.http.get(`/api/v1/apis/${api.id}/grants`).set('Authorization', auth()).expect(200);
    expect(afterApp.body.data).toEqual([]);
    // And deleting the API ends every grant on it.
    const third = await application();
    await t.http
      .put(`/api/v1/apis/${api.id}/grants/${third}`)
      .set('Authorization', auth())
      .send({ scopes: ['invoices:write'] })
      .expect(200);
    await t.http.delete(`/api/v1/apis/${api.id}`).set('Authorization', auth()).expect(204);
    expect(await count('select count(*)::int as count from api_grants where api_id = $1', [api.id])).toBe(0);

    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${api.id}&order=asc&action=api.grant.set,api.grant.removed`)
      .set('Authorization', auth())
      .expect(200);
    expect((audit.body.data as Array<{ action: string }>).map((entry) => entry.action)).toEqual([
      'api.grant.set',
      'api.grant.set',
      'api.grant.set',
      'api.grant.removed',
      'api.grant.set',
    ]);
  });

  it("answers 404 for another tenant's API or application, and for ids of the wrong shape", async () => {
    const theirs = (await createApi({ name: 'Theirs', identifier: 'https://theirs.example.com/', scopes }, other)).body;
    const theirApp = await application(other);
    const mine = (await createApi({ name: 'Mine', identifier: 'https://mine.example.com/', scopes })).body;
    const before = await footprint();
    const refused = [
      t.http.get(`/api/v1/apis/${theirs.id}`).set('Authorization', auth()),
      t.http.patch(`/api/v1/apis/${theirs.id}`).set('Authorization', auth()).send({ name: 'Taken over' }),
      t.http.delete(`/api/v1/apis/${theirs.id}`).set('Authorization', auth()),
      t.http.get(`/api/v1/apis/${theirs.id}/grants`).set('Authorization', auth()),
      t.http
        .put(`/api/v1/apis/${theirs.id}/grants/${await application()}`)
        .set('Authorization', auth())
        .send({ scopes: [] }),
      t.http
        .put(`/api/v1/apis/${mine.id}/grants/${theirApp}`)
        .set('Authorization', auth())
        .send({ scopes: ['invoices:read'] }),
      t.http.delete(`/api/v1/apis/${mine.id}/grants/${theirApp}`).set('Authorization', auth()),
      t.http.get(`/api/v1/apis/${newId('api')}`).set('Authorization', auth()),
      t.http.get('/api/v1/apis/not-an-id').set('Authorization', auth()),
      t.http.put(`/api/v1/apis/${mine.id}/grants/not-an-id`).set('Authorization', auth()).send({ scopes: [] }),
    ];
    for (const request of refused) {
      const response = await request;
      expect(response.status).toBe(404);
      expect(response.headers['content-type']).toMatch(problem);
    }
    // The application made for the PUT above is the only write.
    const after = await footprint();
    expect(after.apis).toBe(before.apis);
    expect(after.grants).toBe(before.grants);
    const theirsNow = await t.http.get(`/api/v1/apis/${theirs.id}`).set('Authorization', auth(other)).expect(200);
    expect(theirsNow.body).toEqual(theirs);
  });
});
