import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';
import { settled } from './support/settled.ts';

const problem = /^application\/problem\+json/;
const password = 'an invited passphrase';

type Tenant = Awaited<ReturnType<HostedSigid['t']['createTenant']>>;

/**
 * `/api/v1/invitations` over HTTP, and their acceptance at the hosted pages driven as a browser
 * without JavaScript would (forms, cookies): the link from the outbox signs the person up (or in,
 * when the address has an account), makes them a user granted the invitation's roles (at tenant
 * level, or in its organization's membership; what was deleted since is skipped and recorded), and
 * works once; roles and organizations that are not the tenant's are refused at invite; a resend replaces the link, a revoke ends it; another tenant's key sees nothing.
 */
describe('invitations', () => {
  let h: HostedSigid;
  let a: Tenant;
  let b: Tenant;
  const auth = (who: Tenant = a) => `Bearer ${who.key}`;
  const address = (label: string) => `${label}.${randomBytes(3).toString('hex')}@example.test`;

  beforeAll(async () => {
    h = await startHostedSigid();
    a = await h.t.createTenant('Acme');
    b = await h.t.createTenant('Globex');
  });
  afterAll(async () => {
    await h?.close();
  });

  const invite = (body: Record<string, unknown>, who: Tenant = a) =>
    h.t.http.post('/api/v1/invitations').set('Authorization', auth(who)).send(body);

  /** Opens the link and submits the password; the browser ends on the answer page. */
  async function accept(link: string, secret = password) {
    const browser = h.browser();
    await browser.request(link);
    if (browser.page.status !== 200) return browser;
    await browser.submit('#password', { password: secret });
    return browser;
  }

  const role = async (name: string, who: Tenant = a) =>
    (await h.t.http.post('/api/v1/roles').set('Authorization', auth(who)).send({ name }).expect(201)).body.id as string;
  const organization = async (name: string, who: Tenant = a) =>
    (await h.t.http.post('/api/v1/organizations').set('Authorization', auth(who)).send({ name }).expect(201)).body
      .id as string;
  /** The ids of the roles `sub` holds at tenant level. */
  const tenantRolesOf = async (sub: string) =>
    (
      await h.t.http.get('/api/v1/role-assignments').query({ sub }).set('Authorization', auth()).expect(200)
    ).body.data.map((row: { role_id: string }) => row.role_id);
  const grantsOf = async (invitationId: string) =>
    (await h.events(a.tenantId, ['invitation.grants.applied'])).filter(
      (event) => event.data.invitation_id === invitationId,
    );

  const eventCount = async () =>
    (await h.t.sigid.db.query<{ count: number }>('select count(*)::int as count from sigid_events')).rows[0]?.count;

  it('invites by e-mail; the link signs a new person up, makes them a user with the roles, and works once', async () => {
    const email = address('newcomer');
    const editor = await role(`Editor ${randomBytes(2).toString('hex')}`);
    const billing = await role(`Billing ${randomBytes(2).toString('hex')}`);
    const created = await invite({ email, roles: [editor, billing] });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/api/v1/invitations/${created.body.id}`);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^inv_/),
      object: 'invitation',
      status: 'pending',
      email,
      roles: [editor, billing],
      organization_id: null,
      accepted_sub: null,
    });
    const link = await h.linkSentTo(email, '/invitation');
    expect(link).toContain(`/t/${a.slug}/invitation?token=`);

    const browser = await accept(link);
    expect(browser.page.$('h1').text()).toBe('You have joined Acme');
    const read = await h.t.http.get(`/api/v1/invitations/${created.body.id}`).set('Authorization', auth()).expect(200);
    expect(read.body).toMatchObject({ status: 'accepted', accepted_sub: expect.stringMatching(/^sub_/) });
    const sub = read.body.accepted_sub as string;
    const user = await h.t.http.get(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(200);
    expect(user.body).toMatchObject({ email, email_verified: true, status: 'active' });
    // Granted before the page answered: the roles at tenant level, each once.
    expect((await tenantRolesOf(sub)).sort()).toEqual([editor, billing].sort());
    const assigned = await h.events(a.tenantId, ['role.assigned']);
    expect(assigned.filter((event) => event.data.sub === sub)).toHaveLength(2);

    const audit = await h.t.http
      .get('/api/v1/audit-logs')
      .query({ target: created.body.id, order: 'asc' })
      .set('Authorization', auth())
      .expect(200);
    expect(audit.body.data.map((entry: { action: string }) => entry.action)).toEqual([
      'invitation.created',
      'invitation.accepted',
      'invitation.grants.applied',
    ]);
    expect(audit.body.data[1]).toMatchObject({
      actor: { type: 'user', id: sub },
      target: { type: 'invitation', id: created.body.id },
      data: { sub, roles: [editor, billing], organization_id: null },
    });
    expect(audit.body.data[2]).toMatchObject({
      actor: { type: 'system', id: 'invitations' },
      data: { sub, roles: [editor, billing], organization_id: null, skipped: [] },
    });

    // The link works once.
    const again = h.browser();
    await again.request(link);
    expect(again.page.status).toBe(400);
    expect(again.page.$('h1').text()).toBe('This link cannot be used');
  });

  it('signs in a person whose address has an account (a wrong password is refused), under their existing account', async () => {
    const email = address('member');
    const made = await signUpWithPassword(
      h.t.sigid,
      { email, password },
      useCase({ tenantId: PLATFORM_TENANT, actor: { type: 'system', id: 'test' }, correlationId: 'test' }),
    );
    expect(made.status).toBe('created');
    await settled(h.t.sigid);
    const created = await invite({ email });
    const link = await h.linkSentTo(email, '/invitation');
    const wrong = await accept(link, 'not the password');
    expect(wrong.page.status).toBe(400);
    expect(wrong.text('main')).toContain('The password is not right.');
    const browser = await accept(link);
    expect(browser.page.$('h1').text()).toBe('You have joined Acme');
    const read = await h.t.http.get(`/api/v1/invitations/${created.body.id}`).set('Authorization', auth()).expect(200);
    expect(read.body.status).toBe('accepted');
    expect(read.body.roles).toEqual([]);
  });

  it('makes a person invited to an organization its member with the roles, and grants them no tenant-level role', async () => {
    const email = address('org-member');
    const lead = await role(`Lead ${randomBytes(2).toString('hex')}`);
    const org = await organization(`sales-${randomBytes(2).toString('hex')}`);
    const created = await invite({ email, roles: [lead], organization_id: org });
    expect(created.status).toBe(201);
    const browser = await accept(await h.linkSentTo(email, '/invitation'));
    expect(browser.page.$('h1').text()).toBe('You have joined Acme');
    const read = await h.t.http.get(`/api/v1/invitations/${created.body.id}`).set('Authorization', auth()).expect(200);
    const sub = read.body.accepted_sub as string;
    const member = await h.t.http
      .get(`/api/v1/organizations/${org}/members/${sub}`)
      .set('Authorization', auth())
      .expect(200);
    expect(member.body).toMatchObject({ sub, roles: [lead] });
    expect(await tenantRolesOf(sub)).toEqual([]);
    expect(await grantsOf(created.body.id)).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ organization_id: org, roles: [lead], skipped: [] }) }),
    ]);
  });

  it('grants what still exists when a role or the organization went since the invitation, and records what it skipped', async () => {
    const kept = await role(`Kept ${randomBytes(2).toString('hex')}`);
    const gone = await role(`Gone ${randomBytes(2).toString('hex')}`);
    const tenantWide = await invite({ email: address('partly'), roles: [kept, gone] });
    const org = await organization(`gone-${randomBytes(2).toString('hex')}`);
    const toGoneOrg = await invite({ email: address('orphan'), roles: [kept], organization_id: org });
    await h.t.http.delete(`/api/v1/roles/${gone}`).set('Authorization', auth()).expect(204);
    await h.t.http.delete(`/api/v1/organizations/${org}`).set('Authorization', auth()).expect(204);

    const first = await accept(await h.linkSentTo(tenantWide.body.email, '/invitation'));
    expect(first.page.status).toBe(200);
    expect(first.page.$('h1').text()).toBe('You have joined Acme');
    const [applied] = await grantsOf(tenantWide.body.id);
    expect(applied?.data).toMatchObject({
      roles: [kept],
      skipped: [{ kind: 'role', id: gone, reason: 'deleted' }],
    });
    expect(await tenantRolesOf(String(applied?.data.sub))).toEqual([kept]);

    const second = await accept(await h.linkSentTo(toGoneOrg.body.email, '/invitation'));
    expect(second.page.status).toBe(200);
    const [orphaned] = await grantsOf(toGoneOrg.body.id);
    expect(orphaned?.data).toMatchObject({
      organization_id: null,
      roles: [],
      skipped: [
        { kind: 'organization', id: org, reason: 'deleted' },
        { kind: 'role', id: kept, reason: 'organization_deleted' },
      ],
    });
    expect(await tenantRolesOf(String(orphaned?.data.sub))).toEqual([]);
  });

  it('resends with a new link (the old one stops working) and revokes (the link stops working, no resend)', async () => {
    const email = address('resent');
    const created = await invite({ email, expires_in_seconds: 3600 });
    const first = await h.linkSentTo(email, '/invitation');
    const resent = await h.t.http
      .post(`/api/v1/invitations/${created.body.id}/resend`)
      .set('Authorization', auth())
      .set('If-Match', created.headers.etag as string)
      .expect(200);
    expect(resent.body.status).toBe('pending');
    let second = first;
    while (second === first) second = await h.linkSentTo(email, '/invitation');
    const old = h.browser();
    await old.request(first);
    expect(old.page.status).toBe(400);

    const revoked = await h.t.http
      .post(`/api/v1/invitations/${created.body.id}/revoke`)
      .set('Authorization', auth())
      .expect(200);
    expect(revoked.body.status).toBe('revoked');
    const dead = h.browser();
    await dead.request(second);
    expect(dead.page.status).toBe(400);
    const noResend = await h.t.http.post(`/api/v1/invitations/${created.body.id}/resend`).set('Authorization', auth());
    expect(noResend.status).toBe(409);
    expect(noResend.body.code).toBe('invitation_not_pending');
    const listed = await h.t.http
      .get('/api/v1/invitations')
      .query({ status: 'revoked' })
      .set('Authorization', auth())
      .expect(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).toContain(created.body.id);
  });

  it('refuses bad input with 400 and writes nothing; another tenant sees none of them', async () => {
    const theirRole = await role(`Theirs ${randomBytes(2).toString('hex')}`, b);
    const theirOrg = await organization(`theirs-${randomBytes(2).toString('hex')}`, b);
    const ours = await role(`Ours ${randomBytes(2).toString('hex')}`);
    await settled(h.t.sigid);
    const events = await eventCount();
    const unknown = await invite({
      email: address('x'),
      roles: [ours, 'rol_nope', theirRole],
      organization_id: theirOrg,
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([
      expect.objectContaining({ path: 'roles.1', code: 'unknown_role' }),
      expect.objectContaining({ path: 'roles.2', code: 'unknown_role' }),
      expect.objectContaining({ path: 'organization_id', code: 'unknown_organization' }),
    ]);
    for (const body of [
      {},
      { email: 'not an address' },
      { email: address('x'), roles: 'editor' },
      { email: address('x'), roles: [''] },
      { email: address('x'), expires_in_seconds: 60 },
      { email: address('x'), expires_in_seconds: 8 * 24 * 3600 },
      { email: address('x'), colour: 'red' },
    ]) {
      const refused = await invite(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
    }
    expect(await eventCount()).toBe(events);

    const created = await invite({ email: address('private') });
    const id = created.body.id as string;
    const answers = [
      await h.t.http.get(`/api/v1/invitations/${id}`).set('Authorization', auth(b)),
      await h.t.http.post(`/api/v1/invitations/${id}/resend`).set('Authorization', auth(b)),
      await h.t.http.post(`/api/v1/invitations/${id}/revoke`).set('Authorization', auth(b)),
      await h.t.http.get('/api/v1/invitations/not-an-id').set('Authorization', auth()),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([404, 404, 404, 404]);
    const listed = await h.t.http.get('/api/v1/invitations').set('Authorization', auth(b)).expect(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).not.toContain(id);
    const read = await h.t.http.get(`/api/v1/invitations/${id}`).set('Authorization', auth()).expect(200);
    expect(read.body.status).toBe('pending');
  });
});
