import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { newId } from '../src/ids.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;

type Tenant = { tenantId: string; key: string };

/**
 * `/api/v1/roles`, `/api/v1/role-assignments` and `/api/v1/role-claims`, over HTTP against a real
 * SigID and PostgreSQL: roles with permissions on the tenant's APIs, names unique per tenant (case
 * insensitive), assignments to the tenant's users by sub. Every change is in the audit log; bad input
 * is a 4xx problem that writes nothing; another tenant's role, API or user is a 404 (or an unknown API).
 */
describe('roles API', () => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  let apiId: string;
  let otherApiId: string;
  let ada: string;
  let bob: string;
  let theirs: string;
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;
  const scopes = [
    { value: 'invoices:read', description: 'Read invoices' },
    { value: 'invoices:write', description: 'Create and change invoices' },
  ];

  async function user(email: string, who: Tenant): Promise<string> {
    const context = useCase({
      tenantId: PLATFORM_TENANT,
      actor: { type: 'system', id: 'test' },
      correlationId: 'test',
    });
    const signedUp = await signUpWithPassword(t.sigid, { email, password: 'correct horse battery staple' }, context);
    if (signedUp.status !== 'created') throw new Error(`${email} exists`);
    const linked = await linkAccount(t.sigid, signedUp.accountId, who.tenantId, context);
    if (linked.written.position !== null) await t.sigid.projections.waitFor(linked.written.position);
    return linked.sub;
  }

  beforeAll(async () => {
    t = await startSigid();
    tenant = await t.createTenant('Roles');
    other = await t.createTenant('Someone else');
    const api = await t.http
      .post('/api/v1/apis')
      .set('Authorization', auth())
      .send({ name: 'Billing', identifier: 'https://billing.example.com/api', scopes })
      .expect(201);
    apiId = api.body.id;
    const theirApi = await t.http
      .post('/api/v1/apis')
      .set('Authorization', auth(other))
      .send({ name: 'Billing', identifier: 'https://billing.example.com/api', scopes })
      .expect(201);
    otherApiId = theirApi.body.id;
    ada = await user('ada@roles.example', tenant);
    bob = await user('bob@roles.example', tenant);
    theirs = await user('eve@roles.example', other);
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
    roles: await count('select count(*)::int as count from roles'),
    assignments: await count('select count(*)::int as count from role_assignments'),
  });

  function createRole(body: Record<string, unknown>, who: Tenant = tenant) {
    return t.http.post('/api/v1/roles').set('Authorization', auth(who)).send(body);
  }

  it('creates, reads, lists, changes and deletes a role; each change is in the audit log', async () => {
    const created = await createRole({
      name: 'Accountant',
      description: 'Keeps the books',
      permissions: [{ api_id: apiId, scope: 'invoices:read' }],
    });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/api/v1/roles/${created.body.id}`);
    expect(created.headers.etag).toBe('"0"');
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^rol_[0-9a-z]{26}$/),
      object: 'role',
      name: 'Accountant',
      description: 'Keeps the books',
      permissions: [{ api_id: apiId, scope: 'invoices:read' }],
      revision: 0,
    });
    const id = created.body.id as string;
    expect((await t.http.get(`/api/v1/roles/${id}`).set('Authorization', auth()).expect(200)).body).toEqual(
      created.body,
    );
    const listed = await t.http.get('/api/v1/roles?limit=100').set('Authorization', auth()).expect(200);
    expect((listed.body.data as Array<{ id: string }>).map((row) => row.id)).toContain(id);

    const changed = await t.http
      .patch(`/api/v1/roles/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({
        name: 'Senior accountant',
        permissions: [
          { api_id: apiId, scope: 'invoices:read' },
          { api_id: apiId, scope: 'invoices:write' },
        ],
      })
      .expect(200);
    expect(changed.body).toMatchObject({ name: 'Senior accountant', description: 'Keeps the books', revision: 1 });
    expect(changed.headers.etag).toBe('"1"');
    await t.http
      .patch(`/api/v1/roles/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ description: 'Lost update' })
      .expect(412);
    // The old name is free again after a rename; the new one is taken.
    const reused = await createRole({ name: 'accountant' });
    expect(reused.status).toBe(201);
    const clash = await createRole({ name: 'SENIOR ACCOUNTANT' });
    expect(clash.status).toBe(409);
    expect(clash.body.code).toBe('role_name_taken');

    await t.http.delete(`/api/v1/roles/${id}`).set('Authorization', auth()).expect(204);
    await t.http.get(`/api/v1/roles/${id}`).set('Authorization', auth()).expect(404);
    await t.http.delete(`/api/v1/roles/${id}`).set('Authorization', auth()).expect(404);
    // Its name is free again.
    expect((await createRole({ name: 'Senior Accountant' })).status).toBe(201);

    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${id}&order=asc`)
      .set('Authorization', auth())
      .expect(200);
    expect((audit.body.data as Array<{ action: string; target: unknown }>).map((entry) => entry.action)).toEqual([
      'role.created',
      'role.updated',
      'role.deleted',
    ]);
    expect(audit.body.data[0].target).toEqual({ type: 'role', id });
  });

  it('keeps names unique per tenant whatever their case, and independent between tenants', async () => {
    expect((await createRole({ name: 'Auditor' })).status).toBe(201);
    const before = await footprint();
    for (const name of ['Auditor', 'auditor', 'AUDITOR']) {
      const again = await createRole({ name });
      expect(again.status).toBe(409);
      expect(again.headers['content-type']).toMatch(problem);
      expect(again.body.code).toBe('role_name_taken');
    }
    expect((await footprint()).roles).toBe(before.roles);
    // Another tenant has its own names.
    expect((await createRole({ name: 'Auditor' }, other)).status).toBe(201);
  });

  it('refuses a permission on an unknown API, another tenant’s API or a scope the API does not define, naming it', async () => {
    const before = await footprint();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ api_id: newId('api'), scope: 'invoices:read' }, 'permissions.0.api_id'],
      [{ api_id: otherApiId, scope: 'invoices:read' }, 'permissions.0.api_id'],
      [{ api_id: apiId, scope: 'payments:refund' }, 'permissions.0.scope'],
      [{ api_id: 'not-an-id', scope: 'invoices:read' }, 'permissions.0.api_id'],
      [{ api_id: apiId, scope: 'has space' }, 'permissions.0.scope'],
    ];
    for (const [permission, path] of cases) {
      const refused = await createRole({ name: 'Refused', permissions: [permission] });
      expect(refused.status, JSON.stringify(permission)).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
      expect(refused.body.code).toBe('invalid_request');
      expect((refused.body.errors as Array<{ path: string }>).map((issue) => issue.path)).toContain(path);
    }
    for (const body of [{}, { name: '' }, { name: 'x', extra: true }, { name: 'x', permissions: 'all' }]) {
      const refused = await createRole(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
    }
    const role = await createRole({ name: 'Patched' }).expect(201);
    const patched = await t.http
      .patch(`/api/v1/roles/${role.body.id}`)
      .set('Authorization', auth())
      .send({ permissions: [{ api_id: apiId, scope: 'invoices:delete' }] });
    expect(patched.status).toBe(400);
    expect(patched.body.errors[0].path).toBe('permissions.0.scope');
    expect(patched.body.errors[0].message).toContain('invoices:delete');
    const after = await footprint();
    expect(after.roles).toBe(before.roles + 1);
  });

  it('assigns a role to the tenant’s users, lists its holders and a user’s roles, and takes it back', async () => {
    const role = await createRole({ name: 'Clerk', permissions: [{ api_id: apiId, scope: 'invoices:read' }] }).expect(
      201,
    );
    const id = role.body.id as string;
    const assigned = await t.http.put(`/api/v1/roles/${id}/users/${ada}`).set('Authorization', auth()).expect(200);
    expect(assigned.body).toMatchObject({ object: 'role_assignment', role_id: id, sub: ada, organization_id: null });
    // Again: the same answer, no second event.
    const before = await footprint();
    await t.http.put(`/api/v1/roles/${id}/users/${ada}`).set('Authorization', auth()).expect(200);
    expect(await footprint()).toEqual(before);
    await t.http.put(`/api/v1/roles/${id}/users/${bob}`).set('Authorization', auth()).expect(200);
    const holders = await t.http.get(`/api/v1/roles/${id}/users?limit=1`).set('Authorization', auth()).expect(200);
    expect(holders.body.data).toHaveLength(1);
    expect(holders.body.has_more).toBe(true);
    const rest = await t.http
      .get(`/api/v1/roles/${id}/users?starting_after=${holders.body.next_cursor}`)
      .set('Authorization', auth())
      .expect(200);
    expect([...holders.body.data, ...rest.body.data].map((row: { sub: string }) => row.sub).sort()).toEqual(
      [ada, bob].sort(),
    );
    const ofAda = await t.http.get(`/api/v1/role-assignments?sub=${ada}`).set('Authorization', auth()).expect(200);
    expect(ofAda.body.data.map((row: { role_id: string }) => row.role_id)).toEqual([id]);

    await t.http.delete(`/api/v1/roles/${id}/users/${ada}`).set('Authorization', auth()).expect(204);
    await t.http.delete(`/api/v1/roles/${id}/users/${ada}`).set('Authorization', auth()).expect(404);
    expect(
      (await t.http.get(`/api/v1/role-assignments?sub=${ada}`).set('Authorization', auth()).expect(200)).body.data,
    ).toEqual([]);
    // A sub that is no user of the tenant, or no sub at all: 404, nothing written.
    const unchanged = await footprint();
    for (const sub of [newId('sub'), 'nobody', theirs]) {
      const refused = await t.http.put(`/api/v1/roles/${id}/users/${sub}`).set('Authorization', auth());
      expect(refused.status, sub).toBe(404);
      expect(refused.headers['content-type']).toMatch(problem);
    }
    expect(await footprint()).toEqual(unchanged);
    await t.http.get('/api/v1/role-assignments?sub=nobody').set('Authorization', auth()).expect(400);
    await t.http.get('/api/v1/role-assignments').set('Authorization', auth()).expect(400);

    // Deleting the role ends its assignments, each an event.
    await t.http.delete(`/api/v1/roles/${id}`).set('Authorization', auth()).expect(204);
    expect(
      (await t.http.get(`/api/v1/role-assignments?sub=${bob}`).set('Authorization', auth()).expect(200)).body.data,
    ).toEqual([]);
    expect(await count('select count(*)::int as count from role_assignments where role_id = $1', [id])).toBe(0);
    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${id}&order=asc&action=role.unassigned`)
      .set('Authorization', auth())
      .expect(200);
    expect(audit.body.data.map((entry: { data: { sub: string; reason: string } }) => entry.data)).toEqual([
      expect.objectContaining({ sub: ada, reason: 'unassigned' }),
      expect.objectContaining({ sub: bob, reason: 'role_deleted' }),
    ]);
  });

  it("keeps one tenant's roles and users from another: neither read, changed, assigned nor inferred", async () => {
    const role = await createRole({ name: 'Private', permissions: [{ api_id: apiId, scope: 'invoices:read' }] }).expect(
      201,
    );
    const id = role.body.id as string;
    await t.http.put(`/api/v1/roles/${id}/users/${ada}`).set('Authorization', auth()).expect(200);
    const before = await footprint();
    const attempts = [
      t.http.get(`/api/v1/roles/${id}`),
      t.http.patch(`/api/v1/roles/${id}`).send({ name: 'Taken over' }),
      t.http.delete(`/api/v1/roles/${id}`),
      t.http.get(`/api/v1/roles/${id}/users`),
      t.http.put(`/api/v1/roles/${id}/users/${ada}`),
      t.http.put(`/api/v1/roles/${id}/users/${theirs}`),
      t.http.delete(`/api/v1/roles/${id}/users/${ada}`),
    ];
    for (const attempt of attempts) {
      const answer = await attempt.set('Authorization', auth(other));
      expect(answer.status).toBe(404);
      expect(answer.body.code).toBe('not_found');
    }
    // B's own role cannot be given to A's user: the sub is no user of B.
    const mine = await createRole({ name: 'Their role' }, other).expect(201);
    await t.http.put(`/api/v1/roles/${mine.body.id}/users/${ada}`).set('Authorization', auth(other)).expect(404);
    // Nor can B see what A's user holds, or that A's role exists.
    const peek = await t.http.get(`/api/v1/role-assignments?sub=${ada}`).set('Authorization', auth(other)).expect(200);
    expect(peek.body.data).toEqual([]);
    const listed = await t.http.get('/api/v1/roles?limit=100').set('Authorization', auth(other)).expect(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).not.toContain(id);
    const after = await footprint();
    expect(after.assignments).toBe(before.assignments);
    expect(after.roles).toBe(before.roles + 1);
    expect(
      (await t.http.get(`/api/v1/roles/${id}/users`).set('Authorization', auth()).expect(200)).body.data,
    ).toHaveLength(1);
  });

  it('reads and changes the role claims: defaults, claim names checked, two claims of one name refused', async () => {
    const read = await t.http.get('/api/v1/role-claims').set('Authorization', auth()).expect(200);
    expect(read.body).toEqual({
      object: 'role_claims',
      roles_claim: 'roles',
      permissions_claim: 'permissions',
      enforce_permissions: false,
    });
    const etag = read.headers.etag as string;
    const changed = await t.http
      .patch('/api/v1/role-claims')
      .set('Authorization', auth())
      .set('If-Match', etag)
      .send({ roles_claim: 'https://roles.example/roles', enforce_permissions: true })
      .expect(200);
    expect(changed.body).toMatchObject({ roles_claim: 'https://roles.example/roles', enforce_permissions: true });
    await t.http
      .patch('/api/v1/role-claims')
      .set('Authorization', auth())
      .set('If-Match', etag)
      .send({ roles_claim: 'r' })
      .expect(412);
    const before = await footprint();
    for (const body of [
      { roles_claim: 'sub' },
      { permissions_claim: 'scope' },
      { roles_claim: 'with space' },
      { permissions_claim: 'https://roles.example/roles' },
      { enforce_permissions: 'yes' },
      {},
    ]) {
      const refused = await t.http.patch('/api/v1/role-claims').set('Authorization', auth()).send(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
    }
    expect(await footprint()).toEqual(before);
    // Another tenant's settings are its own.
    const theirsRead = await t.http.get('/api/v1/role-claims').set('Authorization', auth(other)).expect(200);
    expect(theirsRead.body.roles_claim).toBe('roles');
    await t.http
      .patch('/api/v1/role-claims')
      .set('Authorization', auth())
      .send({ roles_claim: 'roles', enforce_permissions: false })
      .expect(200);
  });
});
