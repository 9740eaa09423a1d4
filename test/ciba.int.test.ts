import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountAggregate } from '../commands/account.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { confirmTotpEnrollment, currentTotp, startTotpEnrollment } from '../services/mfa.ts';
import { handleCommand } from '../src/command-handler.ts';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { type HostedSigid, insecure, startHostedSigid } from './support/hosted-flow.ts';
import { settled } from './support/settled.ts';

const CIBA = 'urn:openid:params:grant-type:ciba';
const password = 'correct horse battery staple';
const system = { actor: { type: 'system', id: 'ciba-test' } as const, correlationId: 'ciba-test' };

/**
 * CIBA at a tenant's issuer, end to end: openid-client asks for a person's approval, the person is
 * e-mailed (the outbox), opens the link in a browser without JavaScript, signs in, and approves or
 * denies on the approval page; the client's poll then gets tokens (with the approved scopes and the
 * person's tenant sub) or `access_denied`, and in ping mode a local receiver is notified first.
 * Another tenant's person is refused as a login hint; every step is in the tenant's audit log.
 */
describe('human approval through CIBA', () => {
  let h: HostedSigid;
  let a: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let b: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let rp: oauth.Configuration;
  let app: { clientId: string; secret: string };
  let receiver: Server;
  let receiverUrl: string;
  let graceSecret = '';
  const pings: Array<{ authorization: string | undefined; body: string }> = [];
  const stamp = Date.now();
  const ada = { email: `ada.${stamp}@example.test`, sub: '' };
  const grace = { email: `grace.${stamp}@example.test`, sub: '' };
  const bob = { email: `bob.${stamp}@example.test`, sub: '' };
  const carol = { email: `carol.${stamp}@example.test`, sub: '' };
  /** Approval links already opened: each request's e-mail carries a new one. */
  const seen = new Set<string>();

  async function person(email: string, tenantId: string) {
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
      useCase({ tenantId: PLATFORM_TENANT, ...system }),
    );
    const { sub } = await linkAccount(h.t.sigid, made.accountId, tenantId, useCase({ tenantId, ...system }));
    return { accountId: made.accountId, sub };
  }

  const settle = async () => settled(h.t.sigid);

  beforeAll(async () => {
    receiver = createServer((request: IncomingMessage, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        pings.push({ authorization: request.headers.authorization, body });
        response.statusCode = 204;
        response.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/ciba/notify`;
    h = await startHostedSigid({
      config: { webhooks: loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1', SIGID_WEBHOOK_WORKER: 'false' }) },
    });
    a = await h.t.createTenant('Acme');
    b = await h.t.createTenant('Globex');
    app = await h.webApp(a.key, { grant_types: ['authorization_code', 'refresh_token', CIBA] });
    rp = await h.relyingParty(a.slug, app);
    ada.sub = (await person(ada.email, a.tenantId)).sub;
    bob.sub = (await person(bob.email, b.tenantId)).sub;
    carol.sub = (await person(carol.email, a.tenantId)).sub;
    const graceAccount = await person(grace.email, a.tenantId);
    grace.sub = graceAccount.sub;
    // Grace has an authenticator app: approving needs a fresh code of it.
    const enrolling = await startTotpEnrollment(
      h.t.sigid,
      graceAccount.accountId,
      useCase({ tenantId: PLATFORM_TENANT, ...system }),
    );
    graceSecret = enrolling.secret;
    await confirmTotpEnrollment(
      h.t.sigid,
      graceAccount.accountId,
      enrolling.enrollmentId,
      currentTotp(enrolling.secret, Date.now() - 30_000),
      useCase({ tenantId: PLATFORM_TENANT, ...system }),
    );
    await settle();
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  /** Polls at once and then every 100 ms (the default is 5 s), for at most `ms`. */
  const poll = (config: oauth.Configuration, started: oauth.BackchannelAuthenticationResponse, ms = 15_000) =>
    oauth.pollBackchannelAuthenticationGrant(config, { ...started, interval: 0.1 }, undefined, {
      signal: AbortSignal.timeout(ms),
    });

  /** The approval link of the newest e-mail to `email`, once one not seen before has arrived. */
  async function newLink(email: string): Promise<string> {
    for (let waited = 0; waited < 20_000; waited += 50) {
      const link = await h.linkSentTo(email, '/approvals/');
      if (!seen.has(link)) {
        seen.add(link);
        return link;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no new approval e-mail to ${email}`);
  }

  /** Opens the approval link of the newest e-mail to `email` in `browser`, signing in if asked. */
  async function openApproval(browser: ReturnType<HostedSigid['browser']>, email: string) {
    const link = await newLink(email);
    await browser.request(link);
    if (browser.page.$('#password').length > 0) {
      await browser.submit('#email', { email, password });
    }
    return link;
  }

  it('announces CIBA in the discovery document with poll and ping', async () => {
    const metadata = rp.serverMetadata();
    expect(metadata.backchannel_authentication_endpoint).toBe(`${h.base}/t/${a.slug}/backchannel`);
    expect(metadata.backchannel_token_delivery_modes_supported).toEqual(['poll', 'ping']);
    expect(metadata.grant_types_supported).toContain(CIBA);
  });

  it('asks a person by e-mail, who signs in and approves: the poll gets tokens for their sub', async () => {
    const started = await oauth.initiateBackchannelAuthentication(rp, {
      scope: 'openid email',
      login_hint: ada.email,
      binding_message: 'AB-1234',
    });
    expect(started.auth_req_id).toEqual(expect.any(String));
    const polling = poll(rp, started);
    const browser = h.browser();
    const link = await openApproval(browser, ada.email);
    expect(new URL(link).pathname).toMatch(new RegExp(`^/t/${a.slug}/approvals/apr_`));
    expect(browser.page.$('h1').text()).toBe('Acme Notes asks for your approval');
    expect(browser.text('.scopes')).toContain('See your e-mail address');
    expect(browser.text('.binding-message')).toContain('AB-1234');
    // Ada has no second factor: no code is asked.
    expect(browser.page.$('#code').length).toBe(0);
    await browser.submit('button[value=approve]', {}, { name: 'decision', value: 'approve' });
    expect(browser.page.$('h1').text()).toBe('You approved the request');

    const tokens = await polling;
    expect(tokens.claims()?.sub).toBe(ada.sub);
    expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'openid']);
    const userinfo = await oauth.fetchUserInfo(rp, tokens.access_token, ada.sub);
    expect(userinfo.email).toBe(ada.email);

    // Decided once: the link now says so (409), and nothing more is recorded.
    await browser.request(link);
    expect(browser.page.status).toBe(409);
    expect(browser.page.$('h1').text()).toBe('This request was approved already');

    const events = await h.events(a.tenantId, ['approval.requested', 'approval.granted', 'approval.delivered']);
    expect(events.map((event) => event.event_type)).toEqual([
      'approval.requested',
      'approval.granted',
      'approval.delivered',
    ]);
    expect(events[0]?.data).toMatchObject({
      client_id: app.clientId,
      sub: ada.sub,
      scopes: ['openid', 'email'],
      binding_message: 'AB-1234',
      delivery_mode: 'poll',
    });
    expect(events[1]?.data).toMatchObject({ sub: ada.sub, scopes: ['openid', 'email'], amr: ['pwd'] });
    expect(events[2]?.data).toEqual({
      approval_id: events[0]?.data.approval_id,
      result: 'tokens_ready',
      notified: false,
    });
    // No token, no auth_req_id and no address in any approval event.
    expect(JSON.stringify(events)).not.toContain(started.auth_req_id);
    expect(JSON.stringify(events)).not.toContain(ada.email);
  });

  it('gives the client access_denied when the person denies', async () => {
    const started = await oauth.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: ada.sub });
    const polling = poll(rp, started).then(
      () => 'tokens',
      (error: unknown) => (error as { error?: string }).error,
    );
    const browser = h.browser();
    await openApproval(browser, ada.email);
    await browser.submit('button[value=deny]', {}, { name: 'decision', value: 'deny' });
    expect(browser.page.$('h1').text()).toBe('You denied the request');
    expect(await polling).toBe('access_denied');
    const denied = await h.events(a.tenantId, ['approval.denied']);
    expect(denied.at(-1)?.data).toMatchObject({ sub: ada.sub, client_id: app.clientId });
  });

  it('asks a person with an authenticator app for a fresh code before approving', async () => {
    const started = await oauth.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: grace.email });
    const polling = poll(rp, started);
    const browser = h.browser();
    await openApproval(browser, grace.email);
    // Signing in asked for the code already; approving asks for a fresh one.
    if (browser.page.$('h1').text() === 'Two-step verification') {
      await browser.submit('#code', { code: currentTotp(graceSecret) });
    }
    expect(browser.page.$('h1').text()).toBe('Acme Notes asks for your approval');
    expect(browser.page.$('#code').length).toBe(1);
    await browser.submit('button[value=approve]', {}, { name: 'decision', value: 'approve' });
    expect(browser.page.status).toBe(400);
    expect(browser.text('.error')).toContain('authenticator app');
    await browser.submit('button[value=approve]', { code: '000000' }, { name: 'decision', value: 'approve' });
    expect(browser.page.status).toBe(400);
    // A code of the next time step (the sign-in used the current one).
    await browser.submit(
      'button[value=approve]',
      { code: currentTotp(graceSecret, Date.now() + 30_000) },
      { name: 'decision', value: 'approve' },
    );
    expect(browser.page.$('h1').text()).toBe('You approved the request');
    const tokens = await polling;
    expect(tokens.claims()?.sub).toBe(grace.sub);
    const granted = await h.events(a.tenantId, ['approval.granted']);
    expect(granted.at(-1)?.data).toMatchObject({ sub: grace.sub, amr: expect.arrayContaining(['otp', 'mfa']) });
  });

  it('pings a ping-mode client at its notification endpoint, which then gets the tokens', async () => {
    const created = await h.t.http
      .post('/api/v1/applications')
      .set('Authorization', `Bearer ${a.key}`)
      .send({
        kind: 'm2m',
        client_name: 'Acme agent',
        grant_types: ['client_credentials', CIBA],
        backchannel_token_delivery_mode: 'ping',
        backchannel_client_notification_endpoint: receiverUrl,
      })
      .expect(201);
    expect(created.body).toMatchObject({
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: receiverUrl,
    });
    const agent = await oauth.discovery(
      new URL(`${h.base}/t/${a.slug}`),
      created.body.client_id,
      created.body.client_secret,
      undefined,
      insecure,
    );
    const notificationToken = 'ping-token-0123456789';
    const started = await oauth.initiateBackchannelAuthentication(agent, {
      scope: 'openid',
      login_hint: ada.email,
      client_notification_token: notificationToken,
    });
    const browser = h.browser();
    await openApproval(browser, ada.email);
    expect(browser.page.$('h1').text()).toBe('Acme agent asks for your approval');
    await browser.submit('button[value=approve]', {}, { name: 'decision', value: 'approve' });
    expect(browser.page.$('h1').text()).toBe('You approved the request');
    const ping = pings.find((received) => received.body.includes(started.auth_req_id));
    expect(ping).toEqual({
      authorization: `Bearer ${notificationToken}`,
      body: JSON.stringify({ auth_req_id: started.auth_req_id }),
    });
    const tokens = await poll(agent, started);
    expect(tokens.claims()?.sub).toBe(ada.sub);
    const delivered = await h.events(a.tenantId, ['approval.delivered']);
    expect(delivered.at(-1)?.data).toMatchObject({ result: 'tokens_ready', notified: true });
  });

  it("refuses another tenant's person, an unknown one and a bad binding message, recording nothing", async () => {
    const before = (await h.events(a.tenantId, ['approval.requested'])).length;
    for (const login_hint of [bob.email, bob.sub, `nobody.${stamp}@example.test`, 'not a hint']) {
      const refused = await oauth.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint }).then(
        () => 'accepted',
        (error: unknown) => (error as { error?: string }).error,
      );
      expect(refused, login_hint).toBe('unknown_user_id');
    }
    for (const binding_message of ['x'.repeat(65), 'line\nbreak', ' ']) {
      const refused = await oauth
        .initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: ada.email, binding_message })
        .then(
          () => 'accepted',
          (error: unknown) => (error as { error?: string }).error,
        );
      expect(refused, JSON.stringify(binding_message)).toBe('invalid_binding_message');
    }
    expect((await h.events(a.tenantId, ['approval.requested'])).length).toBe(before);
  });

  it("shows another tenant's or another person's approval as not found, and refuses a forged link", async () => {
    await oauth.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: ada.email });
    const link = new URL(await newLink(ada.email));
    const id = link.pathname.split('/').pop() as string;
    // Carol, signed in at Acme, opens Ada's approval, with Ada's link too.
    const browser = h.browser();
    await browser.request(`/t/${a.slug}/account`);
    await browser.submit('#email', { email: carol.email, password });
    expect(browser.page.$('h1').text()).toBe('Your account');
    await browser.request(`/t/${a.slug}/approvals/${id}`);
    expect(browser.page.status).toBe(404);
    expect(browser.page.$('h1').text()).toBe('This request was not found');
    await browser.request(link.pathname + link.search);
    expect(browser.page.status).toBe(404);
    // The same id under another tenant's slug, and a made-up id.
    const stranger = h.browser();
    await stranger.request(`/t/${b.slug}/approvals/${id}`);
    expect(stranger.page.status).toBe(404);
    await stranger.request(`/t/${a.slug}/approvals/apr_00000000000000000000000000`);
    expect(stranger.page.status).toBe(404);
    // A token that is not SigID's.
    await stranger.request(`/t/${a.slug}/approvals/${id}?token=forged.token`);
    expect(stranger.page.status).toBe(400);
    // A decision without the form's CSRF token changes nothing.
    await browser.request(`/t/${a.slug}/approvals/${id}`, { form: { decision: 'approve' } });
    expect(browser.page.status).toBe(403);
    const decided = await h.events(a.tenantId, ['approval.granted', 'approval.denied']);
    expect(decided.some((event) => event.data.approval_id === id)).toBe(false);
  });

  it('shows requested, granted and denied approvals in the audit log', async () => {
    await settle();
    const response = await h.t.http
      .get('/api/v1/audit-logs?limit=200&action=approval.requested,approval.granted,approval.denied')
      .set('Authorization', `Bearer ${a.key}`)
      .expect(200);
    const actions = new Set(response.body.data.map((entry: { action: string }) => entry.action));
    expect(actions).toEqual(new Set(['approval.requested', 'approval.granted', 'approval.denied']));
    const requested = response.body.data.find((entry: { action: string }) => entry.action === 'approval.requested');
    expect(requested.actor).toEqual({ type: 'application', id: expect.any(String) });
    expect(requested.target.type).toBe('approval');
    const granted = response.body.data.find((entry: { action: string }) => entry.action === 'approval.granted');
    expect(granted.actor).toEqual({ type: 'user', id: expect.stringMatching(/^sub_/) });
    // Another tenant sees none of them.
    const other = await h.t.http
      .get('/api/v1/audit-logs?limit=200&action=approval.requested')
      .set('Authorization', `Bearer ${b.key}`)
      .expect(200);
    expect(other.body.data).toEqual([]);
  });

  it('refuses CIBA settings an application cannot have, with a 4xx and nothing written', async () => {
    const auth = `Bearer ${a.key}`;
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [
        { kind: 'spa', redirect_uris: ['https://spa.example/cb'], grant_types: ['authorization_code', CIBA] },
        422,
        'invalid_client_metadata',
      ],
      [
        { kind: 'm2m', grant_types: ['client_credentials', CIBA], backchannel_token_delivery_mode: 'ping' },
        422,
        'invalid_client_metadata',
      ],
      [
        { kind: 'm2m', grant_types: ['client_credentials'], backchannel_token_delivery_mode: 'poll' },
        422,
        'invalid_client_metadata',
      ],
      [
        {
          kind: 'm2m',
          grant_types: [CIBA],
          backchannel_token_delivery_mode: 'poll',
          backchannel_client_notification_endpoint: 'https://agent.example/cb',
        },
        422,
        'invalid_client_metadata',
      ],
      [
        {
          kind: 'm2m',
          grant_types: [CIBA],
          backchannel_token_delivery_mode: 'ping',
          backchannel_client_notification_endpoint: 'ftp://agent.example/cb',
        },
        422,
        'invalid_client_metadata',
      ],
      [
        {
          kind: 'm2m',
          grant_types: [CIBA],
          backchannel_token_delivery_mode: 'ping',
          backchannel_client_notification_endpoint: 'https://10.1.2.3/cb',
        },
        422,
        'forbidden_address',
      ],
      [
        {
          kind: 'm2m',
          grant_types: [CIBA],
          backchannel_token_delivery_mode: 'ping',
          backchannel_client_notification_endpoint: 'http://192.0.2.1/cb',
        },
        422,
        'scheme_not_allowed',
      ],
      [{ kind: 'm2m', grant_types: [CIBA], backchannel_token_delivery_mode: 'push' }, 400, 'invalid_request'],
    ];
    const before = await h.t.http.get('/api/v1/applications?limit=100').set('Authorization', auth).expect(200);
    for (const [body, status, code] of cases) {
      const response = await h.t.http
        .post('/api/v1/applications')
        .set('Authorization', auth)
        .send({ client_name: 'Refused', ...body });
      expect([response.status, response.body.code], JSON.stringify(body)).toEqual([status, code]);
    }
    // A change to an existing application is checked the same way.
    const applicationId = (before.body.data as Array<{ id: string; client_id: string }>).find(
      (row) => row.client_id === app.clientId,
    )?.id;
    const patched = await h.t.http.patch(`/api/v1/applications/${applicationId}`).set('Authorization', auth).send({
      backchannel_token_delivery_mode: 'ping',
      backchannel_client_notification_endpoint: 'https://169.254.169.254/latest',
    });
    expect([patched.status, patched.body.code]).toEqual([422, 'forbidden_address']);
    const after = await h.t.http.get('/api/v1/applications?limit=100').set('Authorization', auth).expect(200);
    expect(after.body.data).toEqual(before.body.data);
  });
});
