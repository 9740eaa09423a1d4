import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { discoverRealm } from '../services/organizations.ts';
import { newId } from '../src/ids.ts';
import type { TxtResolver } from '../src/organizations/domains.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

const problem = /^application\/problem\+json/;

type Tenant = { tenantId: string; key: string };

/** A customer's DNS, which cannot run here: TXT records set by the test, NXDOMAIN for every other name. */
class FakeDns implements TxtResolver {
  readonly records = new Map<string, string[][]>();
  readonly asked: string[] = [];
  async resolveTxt(name: string): Promise<string[][]> {
    this.asked.push(name);
    const found = this.records.get(name);
    if (!found) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return found;
  }
}

/**
 * `/api/v1/organizations`: organizations, members and DNS-verified domains, over HTTP against a
 * real SigID (PGlite) with a fake DNS. Every change is an event in the audit log; bad input is a 4xx
 * problem that writes nothing; another tenant's organization, member or domain is a 404.
 */
describe('Organizations API', () => {
  let t: TestSigid;
  let tenant: Tenant;
  let other: Tenant;
  const dns = new FakeDns();
  const auth = (who: Tenant = tenant) => `Bearer ${who.key}`;

  beforeAll(async () => {
    t = await startSigid({ dns });
    tenant = await t.createTenant('Organizations');
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
    organizations: await count('select count(*)::int as count from organizations'),
    members: await count('select count(*)::int as count from organization_members'),
    domains: await count('select count(*)::int as count from organization_domains'),
  });

  function create(body: Record<string, unknown>, who: Tenant = tenant) {
    return t.http.post('/api/v1/organizations').set('Authorization', auth(who)).send(body);
  }
  const uniqueName = (prefix = 'acme') => `${prefix}-${randomBytes(4).toString('hex')}`;

  /** A person signed up and linked to the tenant: their pairwise sub there. */
  async function user(who: Tenant = tenant): Promise<string> {
    const person = { type: 'system', id: 'test' } as const;
    const signedUp = await signUpWithPassword(
      t.sigid,
      { email: `${randomBytes(5).toString('hex')}@people.example.com`, password: 'correct horse battery' },
      useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: newId('req') }),
    );
    if (signedUp.status !== 'created') throw new Error('sign-up');
    const { sub, written } = await linkAccount(
      t.sigid,
      signedUp.accountId,
      who.tenantId,
      useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: newId('req') }),
    );
    if (written.position !== null) await t.sigid.projections.waitFor(written.position);
    return sub;
  }
  /** A new role of the tenant: its id. */
  async function role(who: Tenant = tenant): Promise<string> {
    const made = await t.http
      .post('/api/v1/roles')
      .set('Authorization', auth(who))
      .send({ name: `Role ${newId('req')}` })
      .expect(201);
    return made.body.id as string;
  }

  it('creates, reads, lists, changes and deletes an organization; each change is in the audit log', async () => {
    const name = uniqueName();
    const created = await create({ name, display_name: 'Acme Corp', metadata: { tier: 'gold' } });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/api/v1/organizations/${created.body.id}`);
    expect(created.headers.etag).toBe('"0"');
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^org_[0-9a-z]{26}$/),
      object: 'organization',
      name,
      display_name: 'Acme Corp',
      metadata: { tier: 'gold' },
      revision: 0,
    });
    const id = created.body.id as string;
    expect((await t.http.get(`/api/v1/organizations/${id}`).set('Authorization', auth()).expect(200)).body).toEqual(
      created.body,
    );

    // A stale If-Match is refused and changes nothing.
    await t.http
      .patch(`/api/v1/organizations/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"7"')
      .send({ display_name: 'Stale' })
      .expect(412);
    const changed = await t.http
      .patch(`/api/v1/organizations/${id}`)
      .set('Authorization', auth())
      .set('If-Match', '"0"')
      .send({ display_name: 'Acme Corporation', metadata: { tier: 'platinum', region: 'eu' } })
      .expect(200);
    expect(changed.body).toMatchObject({
      display_name: 'Acme Corporation',
      metadata: { tier: 'platinum', region: 'eu' },
    });
    expect(changed.headers.etag).toBe('"1"');

    const listed = await t.http.get('/api/v1/organizations?limit=100').set('Authorization', auth()).expect(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).toContain(id);

    const audit = await t.http.get(`/api/v1/audit-logs?target=${id}`).set('Authorization', auth()).expect(200);
    expect(audit.body.data.map((entry: { action: string }) => entry.action)).toEqual(
      expect.arrayContaining(['organization.created', 'organization.updated']),
    );

    await t.http.delete(`/api/v1/organizations/${id}`).set('Authorization', auth()).set('If-Match', '"0"').expect(412);
    await t.http.delete(`/api/v1/organizations/${id}`).set('Authorization', auth()).expect(204);
    await t.http.get(`/api/v1/organizations/${id}`).set('Authorization', auth()).expect(404);
    // Its name is free again.
    await create({ name }).expect(201);
  });

  it('keeps names unique per tenant, and refuses bad input with a 400 that writes nothing', async () => {
    const name = uniqueName();
    await create({ name }).expect(201);
    const before = await footprint();
    const taken = await create({ name, display_name: 'Another' });
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe('organization_name_taken');
    for (const body of [
      { name: 'Upper-Case' },
      { name: '' },
      { name: '-leading' },
      { name: 'a'.repeat(51) },
      { name: 'ok-name', extra: 1 },
      { name: 'ok-name', metadata: { k: 1 } },
      { name: 'ok-name', metadata: Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`k${i}`, 'v'])) },
      { name: 'ok-name', display_name: '' },
    ]) {
      const refused = await create(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
    }
    expect(await footprint()).toEqual(before);
    // Another tenant may use the same name.
    await create({ name }, other).expect(201);
  });

  it('adds, changes, lists and removes members by sub; a sub not of the tenant is 404', async () => {
    const org = (await create({ name: uniqueName() }).expect(201)).body.id as string;
    const alice = await user();
    const bob = await user();
    const [admin, viewer] = [await role(), await role()];
    const put = (sub: string, roles: string[], who: Tenant = tenant, orgId = org) =>
      t.http.put(`/api/v1/organizations/${orgId}/members/${sub}`).set('Authorization', auth(who)).send({ roles });

    const added = await put(alice, [admin]).expect(200);
    expect(added.body).toMatchObject({
      object: 'organization_member',
      organization_id: org,
      sub: alice,
      roles: [admin],
    });
    await put(bob, []).expect(200);
    const changed = await put(alice, [admin, viewer]).expect(200);
    expect(changed.body.roles).toEqual([admin, viewer]);
    // The same roles again: nothing appended.
    const before = await footprint();
    await put(alice, [admin, viewer]).expect(200);
    expect(await footprint()).toEqual(before);

    const read = await t.http
      .get(`/api/v1/organizations/${org}/members/${alice}`)
      .set('Authorization', auth())
      .expect(200);
    expect(read.body.roles).toEqual([admin, viewer]);
    const first = await t.http
      .get(`/api/v1/organizations/${org}/members?limit=1`)
      .set('Authorization', auth())
      .expect(200);
    expect(first.body).toMatchObject({ has_more: true });
    const rest = await t.http
      .get(`/api/v1/organizations/${org}/members?limit=1&starting_after=${first.body.next_cursor}`)
      .set('Authorization', auth())
      .expect(200);
    expect([...first.body.data, ...rest.body.data].map((m: { sub: string }) => m.sub).sort()).toEqual(
      [alice, bob].sort(),
    );

    // A sub of another tenant, an unknown sub, a bad role id: refused, nothing written.
    const stranger = await user(other);
    const othersRole = await role(other);
    const unchanged = await footprint();
    expect((await put(stranger, [])).status).toBe(404);
    expect((await put(newId('sub'), [])).status).toBe(404);
    expect((await put(alice, ['admin'])).status).toBe(400);
    expect((await put(alice, [admin, admin])).status).toBe(400);
    // A role id of no role, and another tenant's role: 400 naming it.
    const unknownRole = await put(alice, [admin, newId('key').replace(/^key_/, 'rol_')]);
    expect(unknownRole.status).toBe(400);
    expect(unknownRole.body.errors).toEqual([expect.objectContaining({ path: 'roles.1', code: 'unknown_role' })]);
    expect((await put(alice, [othersRole])).status).toBe(400);
    expect(await footprint()).toEqual(unchanged);

    await t.http.delete(`/api/v1/organizations/${org}/members/${bob}`).set('Authorization', auth()).expect(204);
    await t.http.get(`/api/v1/organizations/${org}/members/${bob}`).set('Authorization', auth()).expect(404);
    await t.http.delete(`/api/v1/organizations/${org}/members/${bob}`).set('Authorization', auth()).expect(404);
  });

  it('verifies a domain by its TXT proof: wrong or missing proof stays pending, the right one verifies', async () => {
    const org = (await create({ name: uniqueName() }).expect(201)).body.id as string;
    const domain = `${uniqueName('corp')}.example.com`;
    const added = await t.http
      .post(`/api/v1/organizations/${org}/domains`)
      .set('Authorization', auth())
      .send({ domain: ` ${domain.toUpperCase()}. ` })
      .expect(201);
    expect(added.body).toMatchObject({
      object: 'organization_domain',
      domain,
      status: 'pending',
      verification: {
        type: 'TXT',
        name: `_sigid-challenge.${domain}`,
        value: expect.stringMatching(/^sigid-domain-verification=/),
      },
      verified_at: null,
    });
    const token = added.body.verification.value as string;
    // Added again: the same pending domain, the same token.
    const again = await t.http
      .post(`/api/v1/organizations/${org}/domains`)
      .set('Authorization', auth())
      .send({ domain });
    expect(again.status).toBe(200);
    expect(again.body.verification.value).toBe(token);

    const verify = () =>
      t.http.post(`/api/v1/organizations/${org}/domains/${domain}/verify`).set('Authorization', auth());
    const missing = await verify();
    expect(missing.status).toBe(422);
    expect(missing.body.code).toBe('domain_not_verified');
    expect(missing.body.detail).toContain(`_sigid-challenge.${domain}`);
    expect(missing.body.detail).not.toContain(token);
    dns.records.set(`_sigid-challenge.${domain}`, [['v=spf1 -all'], ['sigid-domain-verification=wrong']]);
    expect((await verify()).body.code).toBe('domain_not_verified');
    const pending = await t.http.get(`/api/v1/organizations/${org}/domains/${domain}`).set('Authorization', auth());
    expect(pending.body.status).toBe('pending');

    // The right value, split in chunks as DNS does with long TXT values.
    dns.records.set(`_sigid-challenge.${domain}`, [['v=spf1 -all'], [token.slice(0, 20), token.slice(20)]]);
    const verified = await verify();
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ domain, status: 'verified', verified_at: expect.any(String) });
    expect((await verify()).status).toBe(200);

    const listed = await t.http.get(`/api/v1/organizations/${org}/domains`).set('Authorization', auth()).expect(200);
    expect(listed.body.data.map((row: { domain: string }) => row.domain)).toEqual([domain]);

    // Home-realm discovery: an address at exactly that domain finds the organization; a subdomain does not.
    expect((await discoverRealm(t.sigid, tenant.tenantId, `Jane@${domain.toUpperCase()}`))?.organization_id).toBe(org);
    expect(await discoverRealm(t.sigid, tenant.tenantId, `jane@eu.${domain}`)).toBeNull();
    expect(await discoverRealm(t.sigid, other.tenantId, `jane@${domain}`)).toBeNull();
    expect(await discoverRealm(t.sigid, tenant.tenantId, 'not-an-address')).toBeNull();

    // A second organization may add it, but not verify it while the first holds it.
    const second = (await create({ name: uniqueName() }).expect(201)).body.id as string;
    const secondAdded = await t.http
      .post(`/api/v1/organizations/${second}/domains`)
      .set('Authorization', auth())
      .send({ domain })
      .expect(201);
    dns.records.set(`_sigid-challenge.${domain}`, [[secondAdded.body.verification.value]]);
    const taken = await t.http
      .post(`/api/v1/organizations/${second}/domains/${domain}/verify`)
      .set('Authorization', auth());
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe('domain_taken');
    expect(
      (await t.http.get(`/api/v1/organizations/${second}/domains/${domain}`).set('Authorization', auth())).body.status,
    ).toBe('pending');

    // Once the first removes it, the second can verify it; discovery follows.
    await t.http.delete(`/api/v1/organizations/${org}/domains/${domain}`).set('Authorization', auth()).expect(204);
    await t.http
      .post(`/api/v1/organizations/${second}/domains/${domain}/verify`)
      .set('Authorization', auth())
      .expect(200);
    expect((await discoverRealm(t.sigid, tenant.tenantId, `jane@${domain}`))?.organization_id).toBe(second);

    // Deleting the organization removes its domains (and frees the verified one) and its members.
    const member = await user();
    await t.http
      .put(`/api/v1/organizations/${second}/members/${member}`)
      .set('Authorization', auth())
      .send({ roles: [] })
      .expect(200);
    await t.http.delete(`/api/v1/organizations/${second}`).set('Authorization', auth()).expect(204);
    expect(
      await count('select count(*)::int as count from organization_domains where organization_id = $1', [second]),
    ).toBe(0);
    expect(
      await count('select count(*)::int as count from organization_members where organization_id = $1', [second]),
    ).toBe(0);
    expect(await discoverRealm(t.sigid, tenant.tenantId, `jane@${domain}`)).toBeNull();
    const third = (await create({ name: uniqueName() }).expect(201)).body.id as string;
    const thirdAdded = await t.http
      .post(`/api/v1/organizations/${third}/domains`)
      .set('Authorization', auth())
      .send({ domain });
    dns.records.set(`_sigid-challenge.${domain}`, [[thirdAdded.body.verification.value]]);
    await t.http
      .post(`/api/v1/organizations/${third}/domains/${domain}/verify`)
      .set('Authorization', auth())
      .expect(200);
  });

  it('normalises domains (IDNA) and refuses what no organization can own', async () => {
    const org = (await create({ name: uniqueName() }).expect(201)).body.id as string;
    const idn = await t.http
      .post(`/api/v1/organizations/${org}/domains`)
      .set('Authorization', auth())
      .send({ domain: 'Bücher.example' })
      .expect(201);
    expect(idn.body.domain).toBe('xn--bcher-kva.example');
    await t.http
      .get(`/api/v1/organizations/${org}/domains/B%C3%BCcher.example`)
      .set('Authorization', auth())
      .expect(200);
    const before = await footprint();
    for (const domain of [
      'com',
      'co.uk',
      '192.168.0.1',
      '[::1]',
      'acme.123',
      'http://acme.com',
      'a..b.com',
      '-acme.com',
      `${'x'.repeat(64)}.com`,
      '',
    ]) {
      const refused = await t.http
        .post(`/api/v1/organizations/${org}/domains`)
        .set('Authorization', auth())
        .send({ domain });
      expect(refused.status, domain).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
    }
    expect(await footprint()).toEqual(before);
  });

  it("never shows or changes another tenant's organization, member or domain (404 for each route)", async () => {
    const org = (await create({ name: uniqueName() }).expect(201)).body.id as string;
    const alice = await user();
    await t.http
      .put(`/api/v1/organizations/${org}/members/${alice}`)
      .set('Authorization', auth())
      .send({ roles: [] })
      .expect(200);
    const domain = `${uniqueName('iso')}.example.org`;
    await t.http.post(`/api/v1/organizations/${org}/domains`).set('Authorization', auth()).send({ domain }).expect(201);
    const before = await footprint();
    const asOther = auth(other);
    const attempts = [
      t.http.get(`/api/v1/organizations/${org}`).set('Authorization', asOther),
      t.http.patch(`/api/v1/organizations/${org}`).set('Authorization', asOther).send({ display_name: 'Mine' }),
      t.http.delete(`/api/v1/organizations/${org}`).set('Authorization', asOther),
      t.http.get(`/api/v1/organizations/${org}/members`).set('Authorization', asOther),
      t.http.get(`/api/v1/organizations/${org}/members/${alice}`).set('Authorization', asOther),
      t.http.put(`/api/v1/organizations/${org}/members/${alice}`).set('Authorization', asOther).send({ roles: [] }),
      t.http.delete(`/api/v1/organizations/${org}/members/${alice}`).set('Authorization', asOther),
      t.http.get(`/api/v1/organizations/${org}/domains`).set('Authorization', asOther),
      t.http
        .post(`/api/v1/organizations/${org}/domains`)
        .set('Authorization', asOther)
        .send({ domain: 'other.example.net' }),
      t.http.get(`/api/v1/organizations/${org}/domains/${domain}`).set('Authorization', asOther),
      t.http.post(`/api/v1/organizations/${org}/domains/${domain}/verify`).set('Authorization', asOther),
      t.http.delete(`/api/v1/organizations/${org}/domains/${domain}`).set('Authorization', asOther),
    ];
    for (const attempt of attempts) {
      const answer = await attempt;
      expect(answer.status).toBe(404);
      expect(answer.body.code).toBe('not_found');
      expect(String(answer.body.detail)).not.toContain(domain);
    }
    const listed = await t.http.get('/api/v1/organizations?limit=100').set('Authorization', asOther).expect(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).not.toContain(org);
    // Tenant B's own member route cannot take tenant A's sub either.
    const mine = (await create({ name: uniqueName() }, other).expect(201)).body.id as string;
    const footprintNow = await footprint();
    await t.http
      .put(`/api/v1/organizations/${mine}/members/${alice}`)
      .set('Authorization', asOther)
      .send({ roles: [] })
      .expect(404);
    expect((await footprint()).events).toBe(footprintNow.events);
    expect((await footprint()).members).toBe(before.members);
  });

  it('makes a retried create with the same Idempotency-Key one organization', async () => {
    const name = uniqueName();
    const send = () =>
      t.http
        .post('/api/v1/organizations')
        .set('Authorization', auth())
        .set('Idempotency-Key', `org-${name}`)
        .send({ name });
    const first = await send();
    const second = await send();
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
  });
});
