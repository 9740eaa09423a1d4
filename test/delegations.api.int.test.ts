import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;

type Tenant = { tenantId: string; key: string };

/**
 * `/api/v1/delegations` over HTTP against a real SigID: a delegation is created only within the
 * agent's delegation limits (400 naming the field otherwise, nothing written), listed by agent, user
 * and status, revoked (and in the audit log); bad input is a 4xx problem that writes nothing;
 * another tenant's delegation is a 404, another tenant's agent or user a 400.
 */
describe('delegations API', () => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  let ada: string;
  let theirUser: string;
  let agentId: string;
  let theirAgent: string;
  const identifier = 'https://billing.example.com/api';
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;
  const scopes = [{ value: 'invoices:read' }, { value: 'invoices:write' }, { value: 'payments:refund' }];

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

  async function agent(who: Tenant, owner: string) {
    const api = await t.http
      .post('/api/v1/apis')
      .set('Authorization', auth(who))
      .send({ name: 'Billing', identifier, scopes })
      .expect(201);
    const created = await t.http
      .post('/api/v1/agents')
      .set('Authorization', auth(who))
      .send({
        name: 'Invoice bot',
        owner: { type: 'user', id: owner },
        allowed_scopes: [{ api_id: api.body.id, scopes: ['invoices:read', 'invoices:write', 'payments:refund'] }],
        delegation: {
          scopes: ['invoices:read', 'invoices:write'],
          audiences: [identifier],
          max_lifetime_seconds: 600,
          max_chain_depth: 2,
        },
      })
      .expect(201);
    return created.body.id as string;
  }

  beforeAll(async () => {
    t = await startSigid();
    tenant = await t.createTenant('Delegations');
    other = await t.createTenant('Someone else');
    ada = await user('ada@delegations.example', tenant);
    theirUser = await user('bob@delegations.example', other);
    agentId = await agent(tenant, ada);
    theirAgent = await agent(other, theirUser);
  });
  afterAll(async () => {
    await t?.close();
  });

  const count = async (sql: string) => (await t.sigid.db.query<{ count: number }>(sql)).rows[0]?.count ?? 0;
  const footprint = async () => ({
    events: await count('select count(*)::int as count from sigid_events'),
    delegations: await count('select count(*)::int as count from delegations'),
  });
  const create = (body: Record<string, unknown>, who: Tenant = tenant) =>
    t.http.post('/api/v1/delegations').set('Authorization', auth(who)).send(body);
  const valid = () => ({
    agent_id: agentId,
    sub: ada,
    audience: identifier,
    scopes: ['invoices:read'],
    expires_in: 300,
  });

  it('creates a delegation within the limits, shows it, lists it by agent, user and status, and revokes it', async () => {
    const created = await create(valid());
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.headers.location).toBe(`/api/v1/delegations/${created.body.id}`);
    expect(created.body).toMatchObject({
      object: 'delegation',
      agent_id: agentId,
      sub: ada,
      audience: identifier,
      scopes: ['invoices:read'],
      depth: 1,
      max_chain_depth: 2,
      parent_delegation_id: null,
      consent: { type: 'api' },
      status: 'active',
    });
    expect(Date.parse(created.body.expires_at) - Date.now()).toBeLessThanOrEqual(300_000);
    const id = created.body.id as string;
    const shown = await t.http.get(`/api/v1/delegations/${id}`).set('Authorization', auth()).expect(200);
    expect(shown.body.id).toBe(id);
    const byAgent = await t.http
      .get(`/api/v1/delegations?agent_id=${agentId}&status=active`)
      .set('Authorization', auth())
      .expect(200);
    expect(byAgent.body.data.map((row: { id: string }) => row.id)).toContain(id);
    const bySub = await t.http.get(`/api/v1/delegations?sub=${theirUser}`).set('Authorization', auth()).expect(200);
    expect(bySub.body.data).toEqual([]);
    const revoked = await t.http
      .post(`/api/v1/delegations/${id}/revoke`)
      .set('Authorization', auth())
      .send({ reason: 'consent withdrawn' })
      .expect(200);
    expect(revoked.body).toMatchObject({ status: 'revoked', revoked_reason: 'consent withdrawn' });
    // Again: nothing more happens.
    await t.http.post(`/api/v1/delegations/${id}/revoke`).set('Authorization', auth()).send({}).expect(200);
    const listed = await t.http.get('/api/v1/delegations?status=revoked').set('Authorization', auth()).expect(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).toContain(id);
    const audit = await t.http.get('/api/v1/audit-logs').set('Authorization', auth()).expect(200);
    const actions = (audit.body.data as Array<{ action: string; target?: { id?: string } }>).map((e) => e.action);
    expect(actions).toContain('delegation.created');
    expect(actions.filter((action) => action === 'delegation.revoked')).toHaveLength(1);
  });

  it('refuses a delegation outside the agent’s limits, naming the field, and writes nothing', async () => {
    const before = await footprint();
    for (const [change, path, code] of [
      [{ scopes: ['payments:refund'] }, 'scopes.0', 'outside_delegation_limits'],
      [{ scopes: ['nope:nope'] }, 'scopes.0', 'unknown_scope'],
      [{ audience: 'https://crm.example.com/api' }, 'audience', 'unknown_api'],
      [{ expires_in: 601 }, 'expires_in', 'outside_delegation_limits'],
      [{ max_chain_depth: 3 }, 'max_chain_depth', 'outside_delegation_limits'],
      [{ agent_id: theirAgent }, 'agent_id', 'unknown_agent'],
      [{ sub: theirUser }, 'sub', 'unknown_user'],
      [{ parent_delegation_id: 'dlg_01m8ss33wqeezr2cmj3c9e6f7g' }, 'parent_delegation_id', 'unknown_delegation'],
    ] as Array<[Record<string, unknown>, string, string]>) {
      const refused = await create({ ...valid(), ...change });
      expect(refused.status, JSON.stringify(change)).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
      expect(refused.body.errors).toContainEqual(expect.objectContaining({ path, code }));
    }
    expect(await footprint()).toEqual(before);
  });

  it('refuses bad input with a 400 problem and writes nothing', async () => {
    const before = await footprint();
    for (const body of [
      {},
      { ...valid(), agent_id: 'not-an-agent' },
      { ...valid(), sub: 'ada' },
      { ...valid(), scopes: [] },
      { ...valid(), scopes: 'invoices:read' },
      { ...valid(), expires_in: 0 },
      { ...valid(), expires_in: 86_401 },
      { ...valid(), max_chain_depth: 6 },
      { ...valid(), audience: 'not a url\u0000' },
      { ...valid(), extra: true },
    ]) {
      const refused = await create(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
    }
    for (const query of ['status=nope', 'agent_id=x', 'limit=0', 'other=1']) {
      await t.http.get(`/api/v1/delegations?${query}`).set('Authorization', auth()).expect(400);
    }
    await t.http.post('/api/v1/delegations/dlg_x/revoke').set('Authorization', auth()).send({ extra: 1 }).expect(400);
    expect(await footprint()).toEqual(before);
  });

  it('keeps tenants apart: another tenant’s delegation is a 404, to read or revoke', async () => {
    const theirs = await create(
      { agent_id: theirAgent, sub: theirUser, audience: identifier, scopes: ['invoices:read'] },
      other,
    );
    expect(theirs.status).toBe(201);
    await t.http.get(`/api/v1/delegations/${theirs.body.id}`).set('Authorization', auth()).expect(404);
    await t.http.post(`/api/v1/delegations/${theirs.body.id}/revoke`).set('Authorization', auth()).send({}).expect(404);
    await t.http.get('/api/v1/delegations/not-an-id').set('Authorization', auth()).expect(404);
    const mine = await t.http.get('/api/v1/delegations').set('Authorization', auth()).expect(200);
    expect(mine.body.data.map((row: { id: string }) => row.id)).not.toContain(theirs.body.id);
    const still = await t.http
      .get(`/api/v1/delegations/${theirs.body.id}`)
      .set('Authorization', auth(other))
      .expect(200);
    expect(still.body.status).toBe('active');
  });

  it('refuses a delegation to a suspended agent, and a suspension with revoke_delegations revokes the agent’s', async () => {
    const created = await create(valid());
    expect(created.status).toBe(201);
    await t.http
      .post(`/api/v1/agents/${agentId}/suspend`)
      .set('Authorization', auth())
      .send({ revoke_delegations: true })
      .expect(200);
    const row = await t.http.get(`/api/v1/delegations/${created.body.id}`).set('Authorization', auth()).expect(200);
    expect(row.body).toMatchObject({ status: 'revoked', revoked_reason: 'agent_suspended' });
    const refused = await create(valid());
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toContainEqual(expect.objectContaining({ path: 'agent_id', code: 'agent_not_active' }));
    await t.http.post(`/api/v1/agents/${agentId}/reactivate`).set('Authorization', auth()).send({}).expect(200);
    const after = await t.http.get(`/api/v1/delegations/${created.body.id}`).set('Authorization', auth()).expect(200);
    expect(after.body.status).toBe('revoked');
  });
});
