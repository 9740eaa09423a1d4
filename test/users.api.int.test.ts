import { randomBytes } from 'node:crypto';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountAggregate } from '../commands/account.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { handleCommand } from '../src/command-handler.ts';
import { newId } from '../src/ids.ts';
import { authorizationUrl, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';
import { settled } from './support/settled.ts';

const problem = /^application\/problem\+json/;
const password = 'correct horse battery staple';

type Tenant = Awaited<ReturnType<HostedSigid['t']['createTenant']>>;

/**
 * `/api/v1/users`: a tenant's users over HTTP against a real SigID, its hosted pages and its issuer
 * (openid-client as the relying party): a person who signs in becomes a user; search and pages;
 * profile changes with If-Match; block refuses sign-in and refresh, unblock lets them back; sessions
 * listed and revoked; delete erases what the tenant held and leaves the sub; another tenant's key
 * sees nothing.
 */
describe('users API', () => {
  let h: HostedSigid;
  let a: Tenant;
  let b: Tenant;
  let rpA: oauth.Configuration;
  const auth = (who: Tenant = a) => `Bearer ${who.key}`;
  const system = { actor: { type: 'system', id: 'test' } as const, correlationId: 'test' };

  beforeAll(async () => {
    h = await startHostedSigid();
    a = await h.t.createTenant('Acme');
    b = await h.t.createTenant('Globex');
    rpA = await h.relyingParty(a.slug, await h.webApp(a.key));
  });
  afterAll(async () => {
    await h?.close();
  });

  const settle = async () => settled(h.t.sigid);

  /** A SigID account with a verified address (made through the services, as sign-up and its link would). */
  async function person(label: string) {
    const email = `${label}.${randomBytes(3).toString('hex')}@example.test`;
    const made = await signUpWithPassword(
      h.t.sigid,
      { email, password },
      useCase({ tenantId: PLATFORM_TENANT, ...system }),
    );
    if (made.status !== 'created') throw new Error('sign-up');
    await handleCommand(
      h.t.sigid.log,
      accountAggregate,
      made.accountId,
      { type: 'verify_email' },
      {
        tenantId: PLATFORM_TENANT,
        ...system,
      },
    );
    await settle();
    return { email, accountId: made.accountId };
  }

  /** Links an account to tenant A, as its first sign-in there would: the sub of its user. */
  async function userOf(who: { accountId: string }, tenant: Tenant = a) {
    const { sub } = await linkAccount(
      h.t.sigid,
      who.accountId,
      tenant.tenantId,
      useCase({ tenantId: tenant.tenantId, ...system }),
    );
    await settle();
    return sub;
  }

  /** Signs in at tenant A's hosted pages and redeems the code: the browser (its session cookie) and the tokens. */
  async function signIn(email: string) {
    const browser = h.browser();
    const request = await authorizationUrl(rpA, { scope: 'openid email offline_access', prompt: 'consent' });
    await browser.request(request.url);
    await browser.submit('#email', { email, password });
    if (browser.page.$('button[value=allow]').length > 0) {
      await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    }
    if (!browser.leftTo) return { browser, tokens: undefined, sub: undefined };
    const tokens = await oauth.authorizationCodeGrant(rpA, browser.leftTo, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    return { browser, tokens, sub: String(tokens.claims()?.sub) };
  }

  /** Whether the browser's session at tenant A still signs it in without a prompt. */
  async function sessionWorks(browser: ReturnType<HostedSigid['browser']>) {
    const request = await authorizationUrl(rpA, { prompt: 'none' });
    await browser.request(request.url);
    return browser.leftTo?.searchParams.has('code') === true;
  }

  async function auditOf(sub: string, who: Tenant = a) {
    const response = await h.t.http
      .get('/api/v1/audit-logs')
      .query({ target: sub, order: 'asc' })
      .set('Authorization', auth(who))
      .expect(200);
    return response.body.data as {
      action: string;
      target: { type: string; id: string };
      data: Record<string, unknown>;
    }[];
  }

  const eventCount = async () =>
    (await h.t.sigid.db.query<{ count: number }>('select count(*)::int as count from sigid_events')).rows[0]?.count;

  it('makes a user of a person who signs in, with their address and their last sign-in', async () => {
    const ada = await person('ada');
    const { sub } = await signIn(ada.email);
    expect(sub).toMatch(/^sub_/);
    await settle();
    const read = await h.t.http.get(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(200);
    expect(read.body).toMatchObject({
      id: sub,
      object: 'user',
      status: 'active',
      email: ada.email,
      email_verified: true,
      name: null,
      metadata: {},
      deleted_at: null,
    });
    expect(read.headers.etag).toBe(`"${read.body.revision}"`);
    expect(read.body.last_sign_in_at).not.toBeNull();
    const audit = await auditOf(String(sub));
    expect(audit[0]).toMatchObject({
      action: 'user.created',
      target: { type: 'user', id: sub },
      data: { sub, email: ada.email, email_verified: true },
    });
    // The address is sealed in the stored event, never in the clear.
    const { rows } = await h.t.sigid.db.query<{ data: unknown }>(
      `select data from sigid_events where event_type = 'user.created' and data->>'sub' = $1`,
      [sub],
    );
    expect(JSON.stringify(rows)).not.toContain(ada.email);
  });

  it('keeps an unverified address unverified until the account verifies it, then follows at the next sign-in', async () => {
    const email = `late.${randomBytes(3).toString('hex')}@example.test`;
    const made = await signUpWithPassword(
      h.t.sigid,
      { email, password },
      useCase({ tenantId: PLATFORM_TENANT, ...system }),
    );
    if (made.status !== 'created') throw new Error('sign-up');
    await settle();
    const sub = await userOf(made);
    let read = await h.t.http.get(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(200);
    expect(read.body.email_verified).toBe(false);
    await handleCommand(
      h.t.sigid.log,
      accountAggregate,
      made.accountId,
      { type: 'verify_email' },
      {
        tenantId: PLATFORM_TENANT,
        ...system,
      },
    );
    await settle();
    expect(await userOf(made)).toBe(sub);
    read = await h.t.http.get(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(200);
    expect(read.body.email_verified).toBe(true);
  });

  it('lists users oldest first in pages, searched by e-mail prefix (any case), name and status', async () => {
    const tenant = await h.t.createTenant('Search');
    const people = [await person('grace.hopper'), await person('grace.kelly'), await person('alan')];
    const subs = [];
    for (const who of people) subs.push(await userOf(who, tenant));
    const names = ['Grace Hopper', 'Grace Kelly', 'Alan Turing'];
    for (const [index, sub] of subs.entries()) {
      await h.t.http
        .patch(`/api/v1/users/${sub}`)
        .set('Authorization', auth(tenant))
        .send({ name: names[index] })
        .expect(200);
    }
    const list = (query: Record<string, string | number>) =>
      h.t.http.get('/api/v1/users').query(query).set('Authorization', auth(tenant)).expect(200);

    const first = await list({ limit: 2 });
    expect(first.body.data.map((user: { id: string }) => user.id)).toEqual(subs.slice(0, 2));
    expect(first.body).toMatchObject({ object: 'list', has_more: true, next_cursor: subs[1] });
    const second = await list({ limit: 2, starting_after: first.body.next_cursor });
    expect(second.body.data.map((user: { id: string }) => user.id)).toEqual([subs[2]]);
    expect(second.body.has_more).toBe(false);

    const byEmail = await list({ email: 'GRACE.' });
    expect(byEmail.body.data.map((user: { id: string }) => user.id)).toEqual(subs.slice(0, 2));
    const exact = await list({ email: people[2]?.email.toUpperCase() ?? '' });
    expect(exact.body.data.map((user: { id: string }) => user.id)).toEqual([subs[2]]);
    // `%` and `_` are letters to the search, not wildcards.
    expect((await list({ email: '%' })).body.data).toEqual([]);
    expect((await list({ name: 'g_ace' })).body.data).toEqual([]);
    const byName = await list({ name: 'ace k' });
    expect(byName.body.data.map((user: { name: string }) => user.name)).toEqual(['Grace Kelly']);

    await h.t.http.post(`/api/v1/users/${subs[0]}/block`).set('Authorization', auth(tenant)).expect(200);
    const blocked = await list({ status: 'blocked' });
    expect(blocked.body.data.map((user: { id: string }) => user.id)).toEqual([subs[0]]);
    expect((await list({ status: 'active' })).body.data).toHaveLength(2);

    for (const query of [{ status: 'gone' }, { limit: 0 }, { limit: 101 }, { email: '' }, { colour: 'red' }]) {
      const refused = await h.t.http.get('/api/v1/users').query(query).set('Authorization', auth(tenant));
      expect(refused.status).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
    }
  });

  it('changes the profile fields the tenant owns, honouring If-Match, and refuses bad input without writing', async () => {
    const sub = await userOf(await person('profile'));
    const before = await h.t.http.get(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(200);
    const changed = await h.t.http
      .patch(`/api/v1/users/${sub}`)
      .set('Authorization', auth())
      .set('If-Match', before.headers.etag as string)
      .send({
        name: 'Ada Lovelace',
        given_name: 'Ada',
        family_name: 'Lovelace',
        picture: 'https://images.example.test/ada.png',
        metadata: { plan: 'pro', seats: 3 },
      })
      .expect(200);
    expect(changed.body).toMatchObject({
      name: 'Ada Lovelace',
      given_name: 'Ada',
      family_name: 'Lovelace',
      picture: 'https://images.example.test/ada.png',
      metadata: { plan: 'pro', seats: 3 },
    });
    expect(changed.headers.etag).not.toBe(before.headers.etag);

    // The stale ETag: 412, nothing changes.
    const stale = await h.t.http
      .patch(`/api/v1/users/${sub}`)
      .set('Authorization', auth())
      .set('If-Match', before.headers.etag as string)
      .send({ name: 'Someone else' });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('precondition_failed');

    const events = await eventCount();
    for (const body of [
      {},
      { email: 'new@example.test' },
      { status: 'blocked' },
      { name: '' },
      { name: 'x'.repeat(201) },
      { picture: 'http://images.example.test/ada.png' },
      { picture: 'not a url' },
      { metadata: 'plan' },
      { metadata: { big: 'x'.repeat(5000) } },
      { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, index) => [`k${index}`, index])) },
    ]) {
      const refused = await h.t.http.patch(`/api/v1/users/${sub}`).set('Authorization', auth()).send(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.headers['content-type']).toMatch(problem);
    }
    expect(await eventCount()).toBe(events);
    const after = await h.t.http.get(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(200);
    expect(after.body.name).toBe('Ada Lovelace');

    // null clears a field; the audit log holds what changed and what it was.
    await h.t.http.patch(`/api/v1/users/${sub}`).set('Authorization', auth()).send({ picture: null }).expect(200);
    const audit = await auditOf(sub);
    expect(audit.at(-1)).toMatchObject({
      action: 'user.updated',
      data: { changes: { picture: null }, previous: { picture: 'https://images.example.test/ada.png' } },
    });
  });

  it('blocks a user: their sign-in is refused with a message, their refresh token and session stop working; unblock lets them back', async () => {
    const bea = await person('bea');
    const { browser, tokens, sub } = await signIn(bea.email);
    expect(tokens?.refresh_token).toBeTruthy();
    expect(await sessionWorks(browser)).toBe(true);
    const sessions = await h.t.http.get(`/api/v1/users/${sub}/sessions`).set('Authorization', auth()).expect(200);
    expect(sessions.body.data).toHaveLength(1);

    const blocked = await h.t.http.post(`/api/v1/users/${sub}/block`).set('Authorization', auth()).expect(200);
    expect(blocked.body.status).toBe('blocked');
    await expect(oauth.refreshTokenGrant(rpA, String(tokens?.refresh_token))).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    await expect(oauth.fetchUserInfo(rpA, String(tokens?.access_token), String(sub))).rejects.toThrow();
    expect(await sessionWorks(browser)).toBe(false);
    expect(
      (await h.t.http.get(`/api/v1/users/${sub}/sessions`).set('Authorization', auth()).expect(200)).body.data,
    ).toEqual([]);

    const refused = await signIn(bea.email);
    expect(refused.tokens).toBeUndefined();
    expect(refused.browser.page.status).toBe(403);
    expect(refused.browser.page.$('h1').text()).toBe('You cannot sign in here');
    expect(refused.browser.text('main')).toContain('Your account is blocked at Acme');
    const failed = await h.events(a.tenantId, ['sign_in.failed']);
    expect(failed.at(-1)?.data).toMatchObject({ sub, reason: 'user_blocked' });

    // Blocking again changes nothing; unblocking lets the person sign in, under the same sub.
    const again = await h.t.http.post(`/api/v1/users/${sub}/block`).set('Authorization', auth()).expect(200);
    expect(again.body.revision).toBe(blocked.body.revision);
    const unblocked = await h.t.http.post(`/api/v1/users/${sub}/unblock`).set('Authorization', auth()).expect(200);
    expect(unblocked.body.status).toBe('active');
    const back = await signIn(bea.email);
    expect(back.sub).toBe(sub);
    expect((await oauth.refreshTokenGrant(rpA, String(back.tokens?.refresh_token))).access_token).toBeTruthy();
    expect((await auditOf(String(sub))).map((entry) => entry.action)).toEqual([
      'user.created',
      'user.blocked',
      'user.unblocked',
    ]);
  });

  it("lists a user's sessions and revokes one (it no longer signs in) or all", async () => {
    const cy = await person('cy');
    const one = await signIn(cy.email);
    const two = await signIn(cy.email);
    const sub = String(one.sub);
    const listed = await h.t.http.get(`/api/v1/users/${sub}/sessions`).set('Authorization', auth()).expect(200);
    expect(listed.body.data).toHaveLength(2);
    expect(listed.body.data[0]).toMatchObject({ object: 'session', clients: [rpA.clientMetadata().client_id] });
    // The cookie's value never shows: the API names a session by its uid.
    const cookieIds = (
      await h.t.sigid.db.query<{ id: string }>(
        `select id from oidc_payloads where model = 'Session' and payload->>'accountId' = $1`,
        [sub],
      )
    ).rows.map((row) => row.id);
    expect(JSON.stringify(listed.body)).not.toContain(cookieIds[0]);

    const uids = await h.t.sigid.db.query<{ uid: string }>(
      `select payload->>'uid' as uid from oidc_payloads where model = 'Session' and payload->>'accountId' = $1
       order by (payload->>'loginTs')::bigint, id`,
      [sub],
    );
    expect(await sessionWorks(one.browser)).toBe(true);
    // Which session is the first browser's: revoke each in turn and watch.
    const firstUid = listed.body.data.find((session: { id: string }) => uids.rows.some((row) => row.uid === session.id))
      ?.id as string;
    expect(firstUid).toBeTruthy();
    await h.t.http
      .delete(`/api/v1/users/${sub}/sessions/${newId('req')}`)
      .set('Authorization', auth())
      .expect(404);
    await h.t.http.delete(`/api/v1/users/${sub}/sessions/${firstUid}`).set('Authorization', auth()).expect(204);
    const left = await h.t.http.get(`/api/v1/users/${sub}/sessions`).set('Authorization', auth()).expect(200);
    expect(left.body.data.map((session: { id: string }) => session.id)).not.toContain(firstUid);
    expect(left.body.data).toHaveLength(1);
    const stillWorking = [await sessionWorks(one.browser), await sessionWorks(two.browser)];
    expect(stillWorking.filter(Boolean)).toHaveLength(1);
    const ended = await h.events(a.tenantId, ['session.ended']);
    expect(ended.at(-1)?.data).toMatchObject({ session_id: firstUid, sub, reason: 'revoked' });

    const all = await h.t.http.post(`/api/v1/users/${sub}/sessions/revoke`).set('Authorization', auth()).expect(200);
    expect(all.body).toEqual({ object: 'session_revocation', revoked: 1 });
    expect([await sessionWorks(one.browser), await sessionWorks(two.browser)]).toEqual([false, false]);
  });

  it("deletes a user: their tokens end, the tenant's events about them read as erased, the sub stays, and a new sign-in is a new sub", async () => {
    const dee = await person('dee');
    const { tokens, sub } = await signIn(dee.email);
    await h.t.http.patch(`/api/v1/users/${sub}`).set('Authorization', auth()).send({ name: 'Dee Doe' }).expect(200);
    await h.t.http.delete(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(204);

    await h.t.http.get(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(404);
    await h.t.http.patch(`/api/v1/users/${sub}`).set('Authorization', auth()).send({ name: 'x' }).expect(404);
    await h.t.http.post(`/api/v1/users/${sub}/block`).set('Authorization', auth()).expect(404);
    await h.t.http.get(`/api/v1/users/${sub}/sessions`).set('Authorization', auth()).expect(404);
    await expect(oauth.refreshTokenGrant(rpA, String(tokens?.refresh_token))).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const listed = await h.t.http.get('/api/v1/users').set('Authorization', auth()).expect(200);
    expect(listed.body.data.map((user: { id: string }) => user.id)).not.toContain(sub);
    const tombstones = await h.t.http
      .get('/api/v1/users')
      .query({ status: 'deleted' })
      .set('Authorization', auth())
      .expect(200);
    expect(tombstones.body.data.find((user: { id: string }) => user.id === sub)).toMatchObject({
      status: 'deleted',
      email: null,
      name: null,
      deleted_at: expect.any(String),
    });

    const audit = await auditOf(String(sub));
    expect(audit.map((entry) => entry.action)).toEqual([
      'user.created',
      'user.updated',
      'user.deleted',
      'subject.personal_data.erased',
    ]);
    expect(audit[0]).toMatchObject({ target: { type: 'user', id: sub }, data: { sub, email: null } });
    expect(audit[1]?.data).toMatchObject({ sub, changes: null, previous: null });
    // The sign-in trail keeps the sub.
    expect((await h.events(a.tenantId, ['sign_in.succeeded'])).some((event) => event.data.sub === sub)).toBe(true);

    // Deleting again finishes nothing more and answers the same.
    const events = await eventCount();
    await h.t.http.delete(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(204);
    expect(await eventCount()).toBe(events);

    const again = await signIn(dee.email);
    expect(again.sub).toMatch(/^sub_/);
    expect(again.sub).not.toBe(sub);
    const fresh = await h.t.http.get(`/api/v1/users/${again.sub}`).set('Authorization', auth()).expect(200);
    expect(fresh.body).toMatchObject({ email: dee.email, name: null });
  });

  it('takes a deleted user out of every role they held and every organization they were a member of', async () => {
    const eve = await person('eve');
    const sub = await userOf(eve);
    const role = await h.t.http
      .post('/api/v1/roles')
      .set('Authorization', auth())
      .send({ name: `Auditor ${randomBytes(3).toString('hex')}` })
      .expect(201);
    await h.t.http.put(`/api/v1/roles/${role.body.id}/users/${sub}`).set('Authorization', auth()).expect(200);
    const organization = await h.t.http
      .post('/api/v1/organizations')
      .set('Authorization', auth())
      .send({ name: `eve-${randomBytes(3).toString('hex')}` })
      .expect(201);
    const memberPath = `/api/v1/organizations/${organization.body.id}/members/${sub}`;
    await h.t.http.put(memberPath).set('Authorization', auth()).send({ roles: [] }).expect(200);

    await h.t.http.delete(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(204);
    await settle();

    const holders = await h.t.http.get(`/api/v1/roles/${role.body.id}/users`).set('Authorization', auth()).expect(200);
    expect(holders.body.data).toEqual([]);
    const held = await h.t.http.get('/api/v1/role-assignments').query({ sub }).set('Authorization', auth()).expect(200);
    expect(held.body.data).toEqual([]);
    const members = await h.t.http
      .get(`/api/v1/organizations/${organization.body.id}/members`)
      .set('Authorization', auth())
      .expect(200);
    expect(members.body.data).toEqual([]);
    await h.t.http.get(memberPath).set('Authorization', auth()).expect(404);
  });

  it("answers another tenant's key with 404 on every route of a user, and changes nothing", async () => {
    const sub = await userOf(await person('private'));
    const events = await eventCount();
    const other = auth(b);
    const answers = [
      await h.t.http.get(`/api/v1/users/${sub}`).set('Authorization', other),
      await h.t.http.patch(`/api/v1/users/${sub}`).set('Authorization', other).send({ name: 'Mallory' }),
      await h.t.http.post(`/api/v1/users/${sub}/block`).set('Authorization', other),
      await h.t.http.post(`/api/v1/users/${sub}/unblock`).set('Authorization', other),
      await h.t.http.delete(`/api/v1/users/${sub}`).set('Authorization', other),
      await h.t.http.get(`/api/v1/users/${sub}/sessions`).set('Authorization', other),
      await h.t.http.post(`/api/v1/users/${sub}/sessions/revoke`).set('Authorization', other),
      await h.t.http.delete(`/api/v1/users/${sub}/sessions/${newId('req')}`).set('Authorization', other),
      // A malformed sub is a 404 too.
      await h.t.http.get('/api/v1/users/not-a-sub').set('Authorization', auth()),
    ];
    expect(answers.map((answer) => answer.status)).toEqual(Array(answers.length).fill(404));
    for (const answer of answers) expect(answer.body.code).toBe('not_found');
    // Neither do B's lists show A's user.
    const listed = await h.t.http.get('/api/v1/users').query({ limit: 100 }).set('Authorization', other).expect(200);
    expect(listed.body.data.map((user: { id: string }) => user.id)).not.toContain(sub);
    expect(await eventCount()).toBe(events);
    const read = await h.t.http.get(`/api/v1/users/${sub}`).set('Authorization', auth()).expect(200);
    expect(read.body).toMatchObject({ status: 'active', name: null });
  });
});
