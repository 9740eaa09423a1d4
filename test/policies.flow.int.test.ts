import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationUrl, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';

/**
 * A person's token under a tenant policy: the hosted pages driven over real HTTP (sign up, verify,
 * sign in with a password, consent), `openid-client` as the relying party asking for an API. The
 * policy forbids tokens for the API to a User whose sign-in was a password without a second factor
 * (`amr` from the sign-in: were it missing, nothing would be forbidden), so the
 * person gets no token for it (`access_denied`), and the refusal names their sub and the policy.
 */
describe('a tenant policy on a person’s token (authorization code)', () => {
  let h: HostedSigid;
  let tenant: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  const identifier = 'https://billing.example.com/api';
  const email = `grace.${Date.now()}@example.test`;
  const password = 'correct horse battery staple';

  beforeAll(async () => {
    h = await startHostedSigid();
    tenant = await h.t.createTenant('Policed');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('refuses a token for the API to a password-only sign-in, and records it with the sub', async () => {
    const auth = `Bearer ${tenant.key}`;
    const app = await h.webApp(tenant.key);
    const applications = await h.t.http.get('/api/v1/applications').set('Authorization', auth).expect(200);
    const appId = (applications.body.data as Array<{ id: string; client_id: string }>).find(
      (row) => row.client_id === app.clientId,
    )?.id;
    const api = await h.t.http
      .post('/api/v1/apis')
      .set('Authorization', auth)
      .send({ name: 'Billing', identifier, scopes: [{ value: 'invoices:read' }, { value: 'invoices:write' }] })
      .expect(201);
    await h.t.http
      .put(`/api/v1/apis/${api.body.id}/grants/${appId}`)
      .set('Authorization', auth)
      .send({ scopes: ['invoices:read', 'invoices:write'] })
      .expect(200);
    const policy = await h.t.http
      .post('/api/v1/policies')
      .set('Authorization', auth)
      .send({
        name: 'Billing needs a second factor',
        cedar: `forbid(principal is SigID::User, action == SigID::Action::"issue_token", resource == SigID::Api::"${identifier}")
          when { context.amr.contains("pwd") && !(context.amr.contains("otp") || context.amr.contains("hwk")) };`,
      })
      .expect(201);

    const rp = await h.relyingParty(tenant.slug, app);
    const browser = h.browser();
    const request = await authorizationUrl(rp, {
      scope: 'openid invoices:read',
      resource: identifier,
      prompt: 'consent',
    });
    await browser.request(request.url);
    await browser.request(browser.page.$('a:contains("Create an account")').attr('href') as string);
    await browser.submit('#email', { email, password });
    await browser.request(await h.linkSentTo(email, '/verify-email'));
    await browser.submit('button[type=submit]');
    await browser.request(browser.page.$('a:contains("Continue signing in")').attr('href') as string);
    await browser.submit('#email', { email, password });
    if (browser.page.$('button[value=allow]').length > 0) {
      await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    }
    // Refused where the issuer first decides with the person known: at the authorization endpoint
    // (an error back to the client) or at the token endpoint.
    const leftTo = browser.leftTo as URL;
    if (leftTo.searchParams.has('error')) {
      expect(leftTo.searchParams.get('error')).toBe('access_denied');
    } else {
      await expect(
        oauth.authorizationCodeGrant(
          rp,
          leftTo,
          { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce },
          { resource: identifier },
        ),
      ).rejects.toMatchObject({ error: 'access_denied' });
    }
    const signedIn = await h.events(tenant.tenantId, ['sign_in.succeeded']);
    const sub = signedIn.at(-1)?.data.sub;
    expect(sub).toMatch(/^sub_/);
    const refusals = await h.events(tenant.tenantId, ['policy.token.denied']);
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.at(-1)?.data).toMatchObject({
      sub,
      client_id: app.clientId,
      audience: identifier,
      denials: [{ resource: 'api', value: identifier, policy_ids: [policy.body.id] }],
    });
    expect(
      (await h.events(tenant.tenantId, ['oauth.token.issued'])).filter(
        (e) => e.data.audience?.toString() === identifier,
      ),
    ).toEqual([]);
  });
});
