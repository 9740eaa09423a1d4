import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { createPolicy as createPolicyElsewhere } from '../services/policies.ts';
import { newId } from '../src/ids.ts';
import { POLICY_CACHE_MS } from '../src/policies/directory.ts';
import { settled } from './support/settled.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;

type Tenant = { tenantId: string; key: string };

/**
 * `/api/v1/policies` and `POST /api/v1/authorize`, over HTTP against a real SigID, PostgreSQL and
 * cedar-wasm: Cedar decisions on a table of cases; a policy that fails validation is refused with
 * Cedar's diagnostics and nothing is stored; every version is kept; another tenant's policies can be
 * neither read, changed nor felt.
 */
describe('policies API', () => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;

  beforeAll(async () => {
    t = await startSigid();
    tenant = await t.createTenant('Policies');
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
    policies: await count('select count(*)::int as count from policies'),
  });

  function createPolicy(body: Record<string, unknown>, who: Tenant = tenant) {
    return t.http.post('/api/v1/policies').set('Authorization', auth(who)).send(body);
  }
  async function created(who: Tenant, name: string, cedar: string) {
    const response = await createPolicy({ name, cedar }, who);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body.id as string;
  }
  function authorize(body: Record<string, unknown>, who: Tenant = tenant) {
    return t.http.post('/api/v1/authorize').set('Authorization', auth(who)).send(body);
  }

  it('publishes the Cedar schema, in Cedar text and JSON', async () => {
    const schema = await t.http.get('/api/v1/policies/schema').set('Authorization', auth()).expect(200);
    expect(schema.body).toMatchObject({ object: 'policy_schema', namespace: 'SigID' });
    expect(schema.body.cedar).toContain('namespace SigID');
    expect(schema.body.actions).toEqual(
      expect.arrayContaining(['issue_token', 'read', 'list', 'create', 'update', 'delete', 'invoke']),
    );
    expect(Object.keys(schema.body.json.SigID.entityTypes)).toEqual(
      expect.arrayContaining(['User', 'Agent', 'Application', 'Organization', 'Api', 'Scope', 'Resource']),
    );
    expect(Object.keys(schema.body.json.SigID.commonTypes.RequestContext.attributes)).toEqual(
      expect.arrayContaining(['ip', 'time', 'mfa_age_seconds', 'amr', 'organization', 'delegation_depth']),
    );
  });

  it('creates, reads, lists, changes, disables and deletes a policy; every version is kept; each change is audited', async () => {
    const cedar = 'permit(principal, action == SigID::Action::"read", resource);';
    const made = await createPolicy({ name: 'Readers', description: 'Anyone may read', cedar });
    expect(made.status).toBe(201);
    expect(made.headers.location).toBe(`/api/v1/policies/${made.body.id}`);
    expect(made.headers.etag).toBe('"0"');
    expect(made.body).toMatchObject({
      id: expect.stringMatching(/^pol_[0-9a-z]{26}$/),
      object: 'policy',
      name: 'Readers',
      description: 'Anyone may read',
      cedar,
      enabled: true,
      version: 1,
      revision: 0,
    });
    const id = made.body.id as string;
    expect((await t.http.get(`/api/v1/policies/${id}`).set('Authorization', auth()).expect(200)).body).toEqual(
      made.body,
    );

    const cedar2 = 'permit(principal, action in [SigID::Action::"read", SigID::Action::"list"], resource);';
    const changed = await t.http
      .patch(`/api/v1/policies/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ cedar: cedar2 })
      .expect(200);
    expect(changed.body).toMatchObject({ cedar: cedar2, version: 2, revision: 1, enabled: true });
    // A stale If-Match is refused.
    await t.http
      .patch(`/api/v1/policies/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ name: 'Lost update' })
      .expect(412);
    // Disabling is no new version; renaming is.
    const disabled = await t.http
      .patch(`/api/v1/policies/${id}`)
      .set('Authorization', auth())
      .send({ enabled: false })
      .expect(200);
    expect(disabled.body).toMatchObject({ enabled: false, version: 2 });
    const renamed = await t.http
      .patch(`/api/v1/policies/${id}`)
      .set('Authorization', auth())
      .send({ name: 'Readers and listers', enabled: true })
      .expect(200);
    expect(renamed.body).toMatchObject({ name: 'Readers and listers', enabled: true, version: 3 });

    const versions = await t.http.get(`/api/v1/policies/${id}/versions`).set('Authorization', auth()).expect(200);
    expect(
      versions.body.data.map((v: { version: number; cedar: string; name: string }) => [v.version, v.name, v.cedar]),
    ).toEqual([
      [1, 'Readers', cedar],
      [2, 'Readers', cedar2],
      [3, 'Readers and listers', cedar2],
    ]);
    const paged = await t.http
      .get(`/api/v1/policies/${id}/versions?limit=2&starting_after=1`)
      .set('Authorization', auth())
      .expect(200);
    expect(paged.body.data.map((v: { version: number }) => v.version)).toEqual([2, 3]);
    expect(paged.body.has_more).toBe(false);
    const first = await t.http.get(`/api/v1/policies/${id}/versions?limit=1`).set('Authorization', auth()).expect(200);
    expect(first.body).toMatchObject({ has_more: true, next_cursor: '1' });
    await t.http.get(`/api/v1/policies/${id}/versions?starting_after=one`).set('Authorization', auth()).expect(400);

    const listed = await t.http.get('/api/v1/policies').set('Authorization', auth()).expect(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).toContain(id);

    await t.http.delete(`/api/v1/policies/${id}`).set('Authorization', auth()).expect(204);
    await t.http.get(`/api/v1/policies/${id}`).set('Authorization', auth()).expect(404);
    await t.http.get(`/api/v1/policies/${id}/versions`).set('Authorization', auth()).expect(404);

    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${id}&order=asc`)
      .set('Authorization', auth())
      .expect(200);
    expect((audit.body.data as Array<{ action: string }>).map((entry) => entry.action)).toEqual([
      'policy.created',
      'policy.updated',
      'policy.disabled',
      'policy.updated',
      'policy.enabled',
      'policy.deleted',
    ]);
    expect(audit.body.data[0].target).toEqual({ type: 'policy', id });
  });

  it("refuses a policy that fails Cedar's parser or validator with its diagnostics, and stores nothing", async () => {
    const fresh = await t.createTenant('Invalid policies');
    const before = await footprint();
    const cases: Array<{ cedar: string; path: string; message: RegExp }> = [
      // Does not parse.
      {
        cedar: 'permit(principal, action, resource) when { context.time > };',
        path: 'cedar',
        message: /unexpected token/,
      },
      // An action the schema does not have.
      {
        cedar: 'permit(principal, action == SigID::Action::"drop_tables", resource);',
        path: 'cedar.0',
        message: /unrecognized action/,
      },
      // An optional attribute used without `has`: strict validation refuses it.
      {
        cedar:
          'permit(principal, action == SigID::Action::"read", resource);\nforbid(principal, action, resource) when { context.mfa_age_seconds > 300 };',
        path: 'cedar.1',
        message: /optional attribute `mfa_age_seconds`/,
      },
      // A type error: time is a Long.
      {
        cedar: 'forbid(principal, action, resource) when { context.time == "noon" };',
        path: 'cedar.0',
        message: /type/,
      },
      // An entity type the schema does not have.
      { cedar: 'permit(principal is SigID::Robot, action, resource);', path: 'cedar.0', message: /Robot/ },
      // Templates are not policies.
      { cedar: 'permit(principal == ?principal, action, resource);', path: 'cedar', message: /\?principal/ },
    ];
    for (const { cedar, path, message } of cases) {
      const response = await createPolicy({ name: 'Bad', cedar }, fresh);
      expect(response.status, cedar).toBe(400);
      expect(response.headers['content-type']).toMatch(problem);
      expect(response.body.code).toBe('invalid_request');
      const errors = response.body.errors as Array<{ path: string; message: string; locations?: unknown[] }>;
      expect(errors.length, cedar).toBeGreaterThan(0);
      expect(errors[0]?.path, cedar).toBe(path);
      expect(errors.map((error) => error.message).join('\n'), cedar).toMatch(message);
    }
    // Where: a parse error points at its place in the text.
    const located = await createPolicy(
      { name: 'Bad', cedar: 'permit(principal, action, resource) when { context.time > };' },
      fresh,
    );
    expect(located.body.errors[0].locations[0]).toEqual({ start: expect.any(Number), end: expect.any(Number) });
    expect(await footprint()).toEqual(before);
    const listed = await t.http.get('/api/v1/policies').set('Authorization', auth(fresh)).expect(200);
    expect(listed.body.data).toEqual([]);

    // An invalid change is refused the same way, and the policy stays at its version.
    const id = await created(fresh, 'Good', 'permit(principal, action == SigID::Action::"read", resource);');
    const refused = await t.http
      .patch(`/api/v1/policies/${id}`)
      .set('Authorization', auth(fresh))
      .send({ cedar: 'permit(principal, action == SigID::Action::"nope", resource);' });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('invalid_request');
    const still = await t.http.get(`/api/v1/policies/${id}`).set('Authorization', auth(fresh)).expect(200);
    expect(still.body.version).toBe(1);
  });

  it('refuses bad shapes with 400 problem+json and writes nothing', async () => {
    const before = await footprint();
    const good = { name: 'Good', cedar: 'permit(principal, action, resource);' };
    for (const body of [
      { ...good, name: '' },
      { ...good, name: 'nul\u0000' },
      { ...good, cedar: '' },
      { ...good, cedar: 'x'.repeat(20_001) },
      { ...good, cedar: 42 },
      { ...good, enabled: 'yes' },
      { ...good, extra: 1 },
      { name: 'No text' },
    ]) {
      const response = await createPolicy(body);
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(response.headers['content-type']).toMatch(problem);
      expect(response.body.code).toBe('invalid_request');
    }
    const request = {
      principal: { type: 'User', id: 'alice' },
      action: 'read',
      resource: { type: 'invoice', id: 'inv_1' },
    };
    for (const body of [
      {},
      { ...request, principal: { type: 'Robot', id: 'r2' } },
      { ...request, principal: { type: 'User', id: '' } },
      { ...request, action: 'drop_tables' },
      { ...request, resource: { type: 'in voice', id: 'x' } },
      { ...request, resource: { ...request.resource, attributes: { owner: 7 } } },
      { ...request, context: { ip: 'not an ip' } },
      { ...request, context: { time: -1 } },
      { ...request, context: { amr: 'pwd' } },
      { ...request, context: { unknown: true } },
      // Cedar refuses a resource the action does not apply to: issue_token is for APIs and scopes.
      { ...request, action: 'issue_token' },
    ]) {
      const response = await authorize(body);
      expect(response.status, JSON.stringify(body).slice(0, 120)).toBe(400);
      expect(response.headers['content-type']).toMatch(problem);
      expect(response.body.code).toBe('invalid_request');
    }
    expect(await footprint()).toEqual(before);
  });

  describe('decisions on a table of cases', () => {
    let decider: Tenant;
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      decider = await t.createTenant('Decisions');
      const policies: Record<string, string> = {
        office_reads: `permit(principal, action == SigID::Action::"read", resource is SigID::Resource)
          when { resource.kind == "invoice" && context has ip && context.ip.isInRange(ip("10.0.0.0/8")) };`,
        fresh_mfa_deletes: `permit(principal is SigID::User, action == SigID::Action::"delete", resource is SigID::Resource)
          when { resource.kind == "invoice" && context has mfa_age_seconds && context.mfa_age_seconds <= 300
                 && context.amr.contains("hwk") };`,
        suspended_org: `forbid(principal, action, resource)
          when { context has organization && context.organization == "suspended-org" };`,
        updates: `permit(principal, action == SigID::Action::"update", resource);
          forbid(principal, action == SigID::Action::"update", resource) when { context.time < 1767225600 };`,
        approver: `permit(principal, action == SigID::Action::"invoke", resource is SigID::Resource)
          when { context has operation && context.operation == "approve_invoice"
                 && resource.hasTag("approver") && resource.getTag("approver") == "alice" };`,
        overflowing: `permit(principal, action == SigID::Action::"list", resource)
          when { context.delegation_depth * 9223372036854775807 > 1 };`,
      };
      for (const [name, cedar] of Object.entries(policies)) ids[name] = await created(decider, name, cedar);
    });

    const alice = { type: 'User', id: 'alice' };
    const invoice = { type: 'invoice', id: 'inv_1' };
    const cases: Array<{
      name: string;
      request: Record<string, unknown>;
      decision: 'allow' | 'deny';
      policies: string[];
      errors?: string[];
    }> = [
      {
        name: 'permit: a read from the office network',
        request: { principal: alice, action: 'read', resource: invoice, context: { ip: '10.1.2.3' } },
        decision: 'allow',
        policies: ['office_reads'],
      },
      {
        name: 'when on ip: a read from elsewhere',
        request: { principal: alice, action: 'read', resource: invoice, context: { ip: '192.168.1.1' } },
        decision: 'deny',
        policies: [],
      },
      {
        name: 'an IPv4 address mapped into IPv6 is the IPv4 address',
        request: { principal: alice, action: 'read', resource: invoice, context: { ip: '::ffff:10.9.9.9' } },
        decision: 'allow',
        policies: ['office_reads'],
      },
      {
        name: 'no ip in the context: the permit does not apply',
        request: { principal: alice, action: 'read', resource: invoice },
        decision: 'deny',
        policies: [],
      },
      {
        name: 'a resource of another kind',
        request: {
          principal: alice,
          action: 'read',
          resource: { type: 'report', id: 'r1' },
          context: { ip: '10.1.2.3' },
        },
        decision: 'deny',
        policies: [],
      },
      {
        name: 'forbid overrides permit: the organization is suspended',
        request: {
          principal: alice,
          action: 'read',
          resource: invoice,
          context: { ip: '10.1.2.3', organization: 'suspended-org' },
        },
        decision: 'deny',
        policies: ['suspended_org'],
      },
      {
        name: 'another organization is not suspended',
        request: {
          principal: alice,
          action: 'read',
          resource: invoice,
          context: { ip: '10.1.2.3', organization: 'acme' },
        },
        decision: 'allow',
        policies: ['office_reads'],
      },
      {
        name: 'mfa and amr: a delete with a fresh hardware key',
        request: {
          principal: alice,
          action: 'delete',
          resource: invoice,
          context: { mfa_age_seconds: 120, amr: ['pwd', 'hwk'] },
        },
        decision: 'allow',
        policies: ['fresh_mfa_deletes'],
      },
      {
        name: 'mfa too old',
        request: {
          principal: alice,
          action: 'delete',
          resource: invoice,
          context: { mfa_age_seconds: 900, amr: ['pwd', 'hwk'] },
        },
        decision: 'deny',
        policies: [],
      },
      {
        name: 'amr without a hardware key',
        request: {
          principal: alice,
          action: 'delete',
          resource: invoice,
          context: { mfa_age_seconds: 60, amr: ['pwd', 'otp'] },
        },
        decision: 'deny',
        policies: [],
      },
      {
        name: 'the principal type matters: an application may not delete',
        request: {
          principal: { type: 'Application', id: 'client_1' },
          action: 'delete',
          resource: invoice,
          context: { mfa_age_seconds: 60, amr: ['hwk'] },
        },
        decision: 'deny',
        policies: [],
      },
      {
        name: 'time: an update before 2026 is forbidden',
        request: { principal: alice, action: 'update', resource: invoice, context: { time: 1_700_000_000 } },
        decision: 'deny',
        policies: ['updates'],
      },
      {
        name: 'time: an update after it is permitted (two statements of one policy, one id)',
        request: { principal: alice, action: 'update', resource: invoice, context: { time: 1_800_000_000 } },
        decision: 'allow',
        policies: ['updates'],
      },
      {
        name: "a tenant's own operation and the resource's attributes",
        request: {
          principal: alice,
          action: 'invoke',
          resource: { type: 'invoice', id: 'inv_9', attributes: { approver: 'alice' } },
          context: { operation: 'approve_invoice' },
        },
        decision: 'allow',
        policies: ['approver'],
      },
      {
        name: 'another approver',
        request: {
          principal: alice,
          action: 'invoke',
          resource: { type: 'invoice', id: 'inv_9', attributes: { approver: 'bob' } },
          context: { operation: 'approve_invoice' },
        },
        decision: 'deny',
        policies: [],
      },
      {
        name: 'errors reported: a statement that overflows is skipped and named',
        request: { principal: alice, action: 'list', resource: invoice, context: { delegation_depth: 2 } },
        decision: 'deny',
        policies: [],
        errors: ['overflowing'],
      },
      {
        name: 'default deny: nothing permits a create',
        request: { principal: alice, action: 'create', resource: invoice },
        decision: 'deny',
        policies: [],
      },
    ];

    it.each(cases)('$name', async ({ request, decision, policies, errors }) => {
      const response = await authorize(request, decider);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body).toMatchObject({ object: 'authorization_decision', decision });
      expect([...response.body.policies].sort()).toEqual(policies.map((name) => ids[name]).sort());
      const errored = (response.body.errors as Array<{ policy_id: string; message: string }>).map((e) => e.policy_id);
      expect(errored).toEqual((errors ?? []).map((name) => ids[name]));
      for (const error of response.body.errors) expect(error.message).toMatch(/overflow/);
    });

    it('follows a change at once: a disabled forbid stops denying; a deleted permit stops allowing', async () => {
      const suspended = {
        principal: alice,
        action: 'read',
        resource: invoice,
        context: { ip: '10.1.2.3', organization: 'suspended-org' },
      };
      await t.http
        .patch(`/api/v1/policies/${ids.suspended_org}`)
        .set('Authorization', auth(decider))
        .send({ enabled: false })
        .expect(200);
      expect((await authorize(suspended, decider)).body).toMatchObject({
        decision: 'allow',
        policies: [ids.office_reads],
      });
      await t.http.delete(`/api/v1/policies/${ids.office_reads}`).set('Authorization', auth(decider)).expect(204);
      expect((await authorize(suspended, decider)).body).toMatchObject({ decision: 'deny', policies: [] });
    });

    it("never lets one tenant's policies decide for another, nor be read or changed by it", async () => {
      // The same request that tenant "Decisions" permits is denied in a tenant without policies.
      const request = {
        principal: alice,
        action: 'delete',
        resource: invoice,
        context: { mfa_age_seconds: 1, amr: ['hwk'] },
      };
      expect((await authorize(request, decider)).body.decision).toBe('allow');
      expect((await authorize(request, other)).body).toMatchObject({ decision: 'deny', policies: [], errors: [] });

      const theirs = ids.fresh_mfa_deletes as string;
      const before = await footprint();
      for (const refused of [
        t.http.get(`/api/v1/policies/${theirs}`).set('Authorization', auth(other)),
        t.http.get(`/api/v1/policies/${theirs}/versions`).set('Authorization', auth(other)),
        t.http.patch(`/api/v1/policies/${theirs}`).set('Authorization', auth(other)).send({ enabled: false }),
        t.http.delete(`/api/v1/policies/${theirs}`).set('Authorization', auth(other)),
        t.http.get(`/api/v1/policies/${newId('pol')}`).set('Authorization', auth(other)),
        t.http.get('/api/v1/policies/not-an-id').set('Authorization', auth(other)),
      ]) {
        const response = await refused;
        expect(response.status).toBe(404);
        expect(response.headers['content-type']).toMatch(problem);
      }
      expect(await footprint()).toEqual(before);
      const listed = await t.http.get('/api/v1/policies').set('Authorization', auth(other)).expect(200);
      expect(listed.body.data.map((row: { id: string }) => row.id)).not.toContain(theirs);
      expect((await authorize(request, decider)).body.decision).toBe('allow');
    });
  });

  it("decides on the principal's organizations and an agent's attributes: members and the organization's active agents only", async () => {
    const c = await t.createTenant('Principals');
    const admin = (path: string, body: Record<string, unknown>) =>
      t.http.post(path).set('Authorization', auth(c)).send(body);
    const person = async () => {
      const made = await signUpWithPassword(
        t.sigid,
        { email: `principal.${newId('req')}@example.com`, password: 'correct horse battery' },
        useCase({ tenantId: PLATFORM_TENANT, actor: { type: 'system', id: 'test' }, correlationId: newId('req') }),
      );
      if (made.status !== 'created') throw new Error('sign-up');
      const linked = await linkAccount(
        t.sigid,
        made.accountId,
        c.tenantId,
        useCase({ tenantId: PLATFORM_TENANT, actor: { type: 'system', id: 'test' }, correlationId: newId('req') }),
      );
      await settled(t.sigid);
      return linked.sub;
    };
    const org = (await admin('/api/v1/organizations', { name: 'finance' }).expect(201)).body.id as string;
    const member = await person();
    const outsider = await person();
    await t.http
      .put(`/api/v1/organizations/${org}/members/${member}`)
      .set('Authorization', auth(c))
      .send({ roles: [] })
      .expect((answer) => expect([200, 201]).toContain(answer.status));
    const agent = async (owner: { type: string; id: string }) =>
      (await admin('/api/v1/agents', { name: 'Reader', owner }).expect(201)).body.id as string;
    const orgAgent = await agent({ type: 'organization', id: org });
    const userAgent = await agent({ type: 'user', id: member });
    await created(
      c,
      'finance reads',
      [
        `permit(principal in SigID::Organization::"${org}", action == SigID::Action::"read", resource);`,
        'forbid(principal is SigID::Agent, action == SigID::Action::"read", resource)',
        '  unless { principal has status && principal.status == "active" && principal has owner_type && principal.owner_type == "organization" };',
      ].join('\n'),
    );
    await settled(t.sigid);
    const decision = async (type: string, id: string) => {
      const answer = await authorize(
        { principal: { type, id }, action: 'read', resource: { type: 'invoice', id: 'inv_1' } },
        c,
      );
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      return answer.body.decision as string;
    };
    expect(await decision('User', member)).toBe('allow');
    expect(await decision('User', outsider)).toBe('deny');
    expect(await decision('Agent', orgAgent)).toBe('allow');
    expect(await decision('Agent', userAgent)).toBe('deny');
    expect(await decision('Agent', newId('agt'))).toBe('deny');
    // Suspended, the organization's agent is refused by the forbid on its status.
    await admin(`/api/v1/agents/${orgAgent}/suspend`, {}).expect(200);
    await settled(t.sigid);
    expect(await decision('Agent', orgAgent)).toBe('deny');
    // Removed from the organization, the member is no longer in it.
    await t.http.delete(`/api/v1/organizations/${org}/members/${member}`).set('Authorization', auth(c)).expect(204);
    await settled(t.sigid);
    expect(await decision('User', member)).toBe('deny');
  });

  it('sees a policy written by another process within POLICY_CACHE_MS, from the projected read model', async () => {
    const fresh = await t.createTenant('Written elsewhere');
    const request = { principal: { type: 'User', id: 'u' }, action: 'read', resource: { type: 'doc', id: 'd' } };
    expect((await authorize(request, fresh)).body.decision).toBe('deny');
    // Written through the service, not the HTTP route: nothing tells this process's directory.
    const { written } = await createPolicyElsewhere(
      t.sigid,
      { name: 'Readers', cedar: 'permit(principal, action == SigID::Action::"read", resource);' },
      useCase({ tenantId: fresh.tenantId, actor: { type: 'system', id: 'test' }, correlationId: 'elsewhere' }),
    );
    await t.sigid.projections.waitFor(written.position ?? 0);
    await new Promise((resolve) => setTimeout(resolve, POLICY_CACHE_MS + 150));
    expect((await authorize(request, fresh)).body.decision).toBe('allow');
  });

  it('makes a retried create with the same Idempotency-Key one policy', async () => {
    const fresh = await t.createTenant('Idempotent policies');
    const body = { name: 'Once', cedar: 'permit(principal, action == SigID::Action::"read", resource);' };
    const first = await t.http
      .post('/api/v1/policies')
      .set('Authorization', auth(fresh))
      .set('Idempotency-Key', 'policy-once')
      .send(body)
      .expect(201);
    const again = await t.http
      .post('/api/v1/policies')
      .set('Authorization', auth(fresh))
      .set('Idempotency-Key', 'policy-once')
      .send(body)
      .expect(201);
    expect(again.body.id).toBe(first.body.id);
    const listed = await t.http.get('/api/v1/policies').set('Authorization', auth(fresh)).expect(200);
    expect(listed.body.data).toHaveLength(1);
  });
});
