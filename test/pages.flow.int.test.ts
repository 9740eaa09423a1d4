import { decodeJwt } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../services/mfa.ts';
import { cookieScheme } from '../src/pages/cookies.ts';
import { AFTER_LOGOUT, authorizationUrl, CALLBACK, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';

/**
 * The hosted pages without JavaScript, driven over real HTTP as a person would (forms, cookies,
 * redirects), with `openid-client` as the relying party: sign up, verify the e-mail from the
 * outbox, sign in, consent, the code redeemed with PKCE, userinfo by consent, refresh with rotation
 * and reuse detection, RP-initiated logout, password reset, the account page, CSRF, and one person's
 * two unrelated subs at two tenants. Every step is an event in the tenant's audit trail.
 */
describe('hosted sign-in pages and the authorization code flow', () => {
  let h: HostedSigid;
  let a: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let b: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let appA: { clientId: string; secret: string };
  let appB: { clientId: string; secret: string };
  let rpA: oauth.Configuration;
  let rpB: oauth.Configuration;
  const email = `ada.${Date.now()}@example.test`;
  const password = 'correct horse battery staple';

  beforeAll(async () => {
    h = await startHostedSigid();
    a = await h.t.createTenant('Acme');
    b = await h.t.createTenant('Globex');
    appA = await h.webApp(a.key);
    appB = await h.webApp(b.key);
    rpA = await h.relyingParty(a.slug, appA);
    rpB = await h.relyingParty(b.slug, appB);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Signs up at a tenant's pages and follows the verification link; leaves the browser on the sign-in page. */
  async function signUp(browser: ReturnType<HostedSigid['browser']>, who: string, rp: oauth.Configuration) {
    const request = await authorizationUrl(rp, { scope: 'openid email offline_access', prompt: 'consent' });
    await browser.request(request.url);
    await browser.request(browser.page.$('a:contains("Create an account")').attr('href') as string);
    await browser.submit('#email', { email: who, password });
    expect(browser.page.$('h1').text()).toBe('Check your inbox');
    const link = await h.linkSentTo(who, '/verify-email');
    await browser.request(link);
    expect(browser.page.$('h1').text()).toBe('Confirm your e-mail address');
    await browser.submit('button[type=submit]');
    expect(browser.page.$('h1').text()).toBe('Your e-mail address is confirmed');
    await browser.request(browser.page.$('a:contains("Continue signing in")').attr('href') as string);
    return request;
  }

  /** Signs in on the page the browser is on, allowing the consent screen if it comes. */
  async function signIn(browser: ReturnType<HostedSigid['browser']>, secret = password) {
    await browser.submit('#email', { email, password: secret });
    if (browser.page.$('button[value=allow]').length > 0) {
      await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    }
  }

  let tokensA: oauth.TokenEndpointResponse & oauth.TokenEndpointResponseHelpers;
  let subA: string;

  it('signs a person up, verifies their address from the outbox, signs them in with consent, and redeems the code', async () => {
    const browser = h.browser();
    const request = await signUp(browser, email, rpA);
    expect(browser.page.$('h1').text()).toBe('Sign in to Acme');
    // Labelled inputs with the standard autocomplete tokens.
    expect(browser.page.$('label[for=email]').text()).toBe('E-mail address');
    expect(browser.page.$('#email').attr('autocomplete')).toContain('username');
    expect(browser.page.$('#password').attr('autocomplete')).toBe('current-password');
    await browser.submit('#email', { email, password });
    expect(browser.page.$('h1').text()).toBe('Acme Notes wants to use your account');
    expect(browser.text('.scopes')).toContain('See your e-mail address');
    await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    expect(browser.leftTo?.origin + (browser.leftTo?.pathname ?? '')).toBe(CALLBACK);
    // RFC 9207: the issuer is in the authorization response.
    expect(browser.leftTo?.searchParams.get('iss')).toBe(`${h.base}/t/${a.slug}`);
    tokensA = await oauth.authorizationCodeGrant(rpA, browser.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    const claims = tokensA.claims();
    subA = String(claims?.sub);
    expect(subA).toMatch(/^sub_/);
    // With an access token issued, the id_token carries the sub alone and userinfo the rest (OIDC Core 5.4).
    expect(claims?.email).toBeUndefined();
    const userinfo = await oauth.fetchUserInfo(rpA, tokensA.access_token, subA);
    expect(userinfo.email).toBe(email);
    expect(userinfo.email_verified).toBe(true);

    const events = await h.events(a.tenantId, ['sign_in.succeeded', 'session.started', 'consent.granted']);
    expect(events.map((event) => event.event_type)).toEqual([
      'sign_in.succeeded',
      'session.started',
      'consent.granted',
    ]);
    expect(events[0]?.data).toMatchObject({ sub: subA, client_id: appA.clientId, amr: ['pwd'] });
    expect(events[2]?.data).toMatchObject({
      sub: subA,
      client_id: appA.clientId,
      scopes: ['openid', 'email', 'offline_access'],
    });
    // A tenant's events name its sub, never the address or SigID's account id.
    expect(JSON.stringify(events)).not.toContain(email);
    expect(JSON.stringify(events)).not.toContain('acc_');
  });

  it('gives the same person an unrelated sub at another tenant, where the same password works', async () => {
    const browser = h.browser();
    const request = await authorizationUrl(rpB);
    await browser.request(request.url);
    expect(browser.page.$('h1').text()).toBe('Sign in to Globex');
    await browser.submit('#email', { email, password });
    await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    const tokens = await oauth.authorizationCodeGrant(rpB, browser.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    const subB = String(tokens.claims()?.sub);
    expect(subB).toMatch(/^sub_/);
    expect(subB).not.toBe(subA);
    // Tenant A's client is unknown at tenant B's issuer.
    await expect(
      oauth.authorizationCodeGrant(rpA, browser.leftTo as URL, {
        pkceCodeVerifier: request.verifier,
        expectedState: request.state,
      }),
    ).rejects.toThrow();
  });

  it('answers a wrong password and an unknown address alike, and records both with their reason', async () => {
    const browser = h.browser();
    const request = await authorizationUrl(rpA);
    await browser.request(request.url);
    await browser.submit('#email', { email, password: 'not the password' });
    const wrong = browser.text('.error');
    expect(browser.page.status).toBe(400);
    await browser.submit('#email', { email: `nobody.${Date.now()}@example.test`, password: 'not the password' });
    expect(browser.text('.error')).toBe(wrong);
    expect(browser.page.status).toBe(400);
    const failed = await h.events(a.tenantId, ['sign_in.failed']);
    expect(failed.slice(-2).map((event) => [event.data.reason, event.data.sub])).toEqual([
      ['invalid_credentials', subA],
      ['invalid_credentials', null],
    ]);
  });

  it('refuses a form without its CSRF token, or posted from another origin, and signs no one in', async () => {
    const browser = h.browser();
    const request = await authorizationUrl(rpA);
    await browser.request(request.url);
    await browser.submit('#email', { email, password, csrf: 'forged' });
    expect(browser.page.status).toBe(403);
    const action = browser.page.url;
    await browser.request(request.url);
    const form = browser.page.$('#email').closest('form');
    const csrf = String(form.find('input[name=csrf]').attr('value'));
    await browser.request(new URL(String(form.attr('action')), action), {
      form: { csrf, email, password },
      headers: { origin: 'https://evil.example' },
    });
    expect(browser.page.status).toBe(403);
    expect(browser.leftTo).toBeUndefined();
  });

  it('rotates refresh tokens and, when a used one comes back, revokes the grant and records the reuse', async () => {
    const first = String(tokensA.refresh_token);
    expect(first.length).toBeGreaterThan(20);
    const second = await oauth.refreshTokenGrant(rpA, first);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first);
    expect(second.claims()?.sub).toBe(subA);
    // The used one again: refused, and the whole grant goes with it (the newer token too).
    await expect(oauth.refreshTokenGrant(rpA, first)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oauth.refreshTokenGrant(rpA, String(second.refresh_token))).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const introspected = await oauth.tokenIntrospection(rpA, second.access_token);
    expect(introspected.active).toBe(false);
    const reused = await h.events(a.tenantId, ['oauth.refresh_token.reused']);
    expect(reused.at(-1)?.data).toMatchObject({ client_id: appA.clientId });
  });

  it('refuses text that is not text (NUL) with a 400 page and writes nothing', async () => {
    const browser = h.browser();
    const request = await authorizationUrl(rpA);
    await browser.request(request.url);
    await browser.request(browser.page.$('a:contains("Create an account")').attr('href') as string);
    const before = await h.t.sigid.db.query<{ n: string }>('select count(*) as n from sigid_events');
    await browser.submit('#email', { email: 'nul\u0000@example.test', password });
    expect(browser.page.status).toBe(400);
    const after = await h.t.sigid.db.query<{ n: string }>('select count(*) as n from sigid_events');
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
  });

  it('names its cookies with the strictest prefixes when served over https', () => {
    const https = cookieScheme('https://id.example.com');
    expect(https.issuer('acme').session).toBe('__Host-sigid-session-acme');
    expect(https.csrf).toBe('__Host-sigid-csrf');
    expect(https.issuer('acme').interaction.startsWith('__Secure-')).toBe(true);
    expect(https.options).toMatchObject({ httpOnly: true, secure: true, sameSite: 'lax', path: '/' });
    expect(cookieScheme('http://localhost:3000').csrf).toBe('sigid-csrf');
  });

  it('signs out through RP-initiated logout, ending the session with an event', async () => {
    const browser = h.browser();
    const request = await authorizationUrl(rpA);
    await browser.request(request.url);
    await signIn(browser);
    const tokens = await oauth.authorizationCodeGrant(rpA, browser.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    const logout = oauth.buildEndSessionUrl(rpA, {
      id_token_hint: String(tokens.id_token),
      post_logout_redirect_uri: AFTER_LOGOUT,
    });
    await browser.request(logout);
    expect(browser.page.$('h1').text()).toBe('Sign out');
    await browser.submit('button[value=yes]', {}, { name: 'logout', value: 'yes' });
    expect(browser.leftTo?.href.startsWith(AFTER_LOGOUT)).toBe(true);
    const ended = await h.events(a.tenantId, ['session.ended']);
    expect(ended.at(-1)?.data).toMatchObject({ sub: subA, reason: 'signed_out' });
    // Signed out: the next authorization asks for the password again.
    await browser.request((await authorizationUrl(rpA)).url);
    expect(browser.page.$('h1').text()).toBe('Sign in to Acme');
    expect(decodeJwt(String(tokens.id_token)).sub).toBe(subA);
  });

  it('resets a forgotten password through a single-use link: the old one stops working, the new one works', async () => {
    const browser = h.browser();
    const request = await authorizationUrl(rpA);
    await browser.request(request.url);
    await browser.request(browser.page.$('a:contains("Forgot")').attr('href') as string);
    await browser.submit('#email', { email });
    expect(browser.page.$('h1').text()).toBe('Check your inbox');
    const link = await h.linkSentTo(email, '/reset-password');
    await browser.request(link);
    await browser.submit('#password', { password: 'a brand new passphrase' });
    expect(browser.page.$('h1').text()).toBe('Your password is changed');
    // Used once: the same link is refused now.
    await browser.request(link);
    expect(browser.page.status).toBe(400);
    await browser.request(request.url);
    await browser.submit('#email', { email, password });
    expect(browser.page.status).toBe(400);
    await signIn(browser, 'a brand new passphrase');
    expect(browser.leftTo?.searchParams.get('code')).toBeTruthy();
  });

  it('shows the account page to a signed-in person and signs them out everywhere, at every tenant', async () => {
    const browser = h.browser();
    await browser.request(`/t/${a.slug}/account`);
    // No session yet: the account page signs the person in first, with no consent screen.
    expect(browser.page.$('h1').text()).toBe('Sign in to Acme');
    await browser.submit('#email', { email, password: 'a brand new passphrase' });
    expect(browser.page.$('h1').text()).toBe('Your account');
    expect(browser.text()).toContain(email);
    // Signed in at the other tenant too, in the same browser: one session cookie per tenant.
    const request = await authorizationUrl(rpB);
    await browser.request(request.url);
    await signIn(browser, 'a brand new passphrase');
    expect(browser.leftTo?.searchParams.get('code')).toBeTruthy();
    expect(
      browser
        .cookieNames()
        .filter((name) => name.startsWith('sigid-session-') && !name.endsWith('.sig'))
        .sort(),
    ).toEqual([`sigid-session-${a.slug}`, `sigid-session-${b.slug}`].sort());
    await browser.request(`/t/${a.slug}/account`);
    expect(browser.text()).toContain('also signed in at 1 other service');
    const endedBefore = (await h.events(b.tenantId, ['session.ended'])).length;
    await browser.submit('button:contains("Sign out everywhere")');
    expect(browser.page.$('h1').text()).toBe('You are signed out everywhere');
    const endedAtB = await h.events(b.tenantId, ['session.ended']);
    // Every session of the person there ended (this browser's, and the earlier tests' browsers').
    expect(endedAtB.length).toBeGreaterThan(endedBefore);
    expect(endedAtB.slice(endedBefore).every((event) => event.data.reason === 'signed_out_everywhere')).toBe(true);
    const { rows } = await h.t.sigid.db.query(
      `select 1 from oidc_payloads where model = 'Session' and tenant_id = any($1) and payload->>'accountId' = any($2)`,
      [[a.tenantId, b.tenantId], [...new Set(endedAtB.map((event) => String(event.data.sub)))]],
    );
    expect(rows).toEqual([]);
    // Both sessions are gone: each tenant asks for the password again.
    await browser.request(`/t/${a.slug}/account`);
    expect(browser.page.$('h1').text()).toBe('Sign in to Acme');
    await browser.request((await authorizationUrl(rpB)).url);
    expect(browser.page.$('h1').text()).toBe('Sign in to Globex');
  });

  it('signs in through a pushed authorization request (PAR)', async () => {
    const browser = h.browser();
    const verifier = oauth.randomPKCECodeVerifier();
    const state = oauth.randomState();
    const url = await oauth.buildAuthorizationUrlWithPAR(rpA, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    await browser.request(url);
    await signIn(browser, 'a brand new passphrase');
    const tokens = await oauth.authorizationCodeGrant(rpA, browser.leftTo as URL, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.claims()?.sub).toBe(subA);
  });

  it('refuses a redirect URI that is not registered exactly, on a page and not by redirecting', async () => {
    const browser = h.browser();
    const request = await authorizationUrl(rpA, { redirect_uri: `${CALLBACK}/extra` });
    await browser.request(request.url);
    expect(browser.leftTo).toBeUndefined();
    expect(browser.page.status).toBe(400);
    expect(browser.text()).toContain('has not registered');
  });

  it('throttles guessing at one account with a clear message and Retry-After, and writes the refusal', async () => {
    const victim = `victim.${Date.now()}@example.test`;
    const browser = h.browser();
    await browser.request((await authorizationUrl(rpA)).url);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 7; attempt++) {
      await browser.submit('#email', { email: victim, password: `guess number ${attempt}` });
      statuses.push(browser.page.status);
    }
    // Five free failures, then the account's counter makes the next one wait.
    expect(statuses.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
    expect(statuses.at(-1)).toBe(429);
    expect(browser.text('.error')).toMatch(/Too many attempts\. Try again in \d+ seconds?\./);
    expect(Number(browser.page.headers.get('retry-after'))).toBeGreaterThan(0);
    const failed = await h.events(a.tenantId, ['sign_in.failed']);
    expect(failed.some((event) => event.data.reason === 'throttled')).toBe(true);
  });

  it('sets up an authenticator app from the account page, then asks for its codes at sign-in, each code once', async () => {
    const secret = 'a brand new passphrase';
    const browser = h.browser();
    await browser.request(`/t/${a.slug}/account`);
    await browser.submit('#email', { email, password: secret });
    await browser.submit('button:contains("Set up an authenticator app")');
    expect(browser.page.$('h1').text()).toBe('Set up an authenticator app');
    const seed = browser.text('#totp-secret');
    expect(browser.page.$('#code').attr('autocomplete')).toBe('one-time-code');
    await browser.submit('#code', { code: '000000' === currentTotp(seed) ? '111111' : '000000' });
    expect(browser.page.status).toBe(400);
    await browser.request(`/t/${a.slug}/account`);
    await browser.submit('button:contains("Set up an authenticator app")');
    const seed2 = browser.text('#totp-secret');
    await browser.submit('#code', { code: currentTotp(seed2) });
    expect(browser.page.$('h1').text()).toBe('Save your recovery codes');
    const recoveryCodes = browser.page
      .$('#recovery-codes code')
      .map((_, element) => browser.page.$(element).text())
      .get();
    expect(recoveryCodes).toHaveLength(10);

    // A new sign-in: the password, then the app's code.
    const next = h.browser();
    const request = await authorizationUrl(rpA);
    await next.request(request.url);
    await next.submit('#email', { email, password: secret });
    expect(next.page.$('h1').text()).toBe('Two-step verification');
    await next.submit('#code', { code: '12345' });
    expect(next.page.status).toBe(400);
    const later = currentTotp(seed2, Date.now() + 30_000);
    await next.submit('#code', { code: later });
    if (next.page.$('button[value=allow]').length > 0) {
      await next.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    }
    const tokens = await oauth.authorizationCodeGrant(rpA, next.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    expect(tokens.claims()?.sub).toBe(subA);
    const signedIn = await h.events(a.tenantId, ['sign_in.succeeded']);
    expect(signedIn.at(-1)?.data.amr).toEqual(['pwd', 'otp', 'mfa']);

    // The same code again, in another browser: refused (a code works once).
    const replay = h.browser();
    await replay.request((await authorizationUrl(rpA)).url);
    await replay.submit('#email', { email, password: secret });
    await replay.submit('#code', { code: later });
    expect(replay.page.status).toBe(400);
    // A recovery code works once, instead of the app.
    await replay.submit('#recovery_code', { recovery_code: String(recoveryCodes[0]) });
    expect(replay.leftTo?.searchParams.get('code')).toBeTruthy();
    const again = h.browser();
    await again.request((await authorizationUrl(rpA)).url);
    await again.submit('#email', { email, password: secret });
    await again.submit('#recovery_code', { recovery_code: String(recoveryCodes[0]) });
    expect(again.page.status).toBe(400);

    const challenges = await h.t.sigid.db.query<{ data: { outcome: string; reason: string | null; method: string } }>(
      `select data from sigid_events where tenant_id = 'platform' and event_type = 'mfa.challenged' order by global_position`,
    );
    expect(challenges.rows.map((row) => [row.data.method, row.data.outcome, row.data.reason])).toEqual([
      ['totp', 'failed', 'wrong_code'],
      ['totp', 'succeeded', null],
      ['totp', 'failed', 'code_reused'],
      ['recovery_code', 'succeeded', null],
      ['recovery_code', 'failed', 'code_reused'],
    ]);
    const failed = await h.events(a.tenantId, ['sign_in.failed']);
    expect(failed.filter((event) => event.data.reason === 'invalid_mfa_code').length).toBe(3);
    // No seed and no code in any event.
    const { rows } = await h.t.sigid.db.query<{ text: string }>(`select data::text as text from sigid_events`);
    const everything = rows.map((row) => row.text).join('\n');
    expect(everything).not.toContain(seed2);
    expect(everything).not.toContain(String(recoveryCodes[1]));
  });

  it("shows the tenant's branding on every page", async () => {
    await h.t.http
      .patch('/api/v1/branding')
      .set('Authorization', `Bearer ${b.key}`)
      .send({ display_name: 'Globex Corp', primary_color: '#aa0000', logo_uri: 'https://cdn.globex.example/logo.png' })
      .expect(200);
    const browser = h.browser();
    await browser.request((await authorizationUrl(rpB)).url);
    expect(browser.page.$('h1').text()).toBe('Sign in to Globex Corp');
    expect(browser.page.$('img.logo').attr('src')).toBe('https://cdn.globex.example/logo.png');
    expect(browser.page.$('style').text()).toContain('--primary: #aa0000');
    await browser.request(browser.page.$('a:contains("Forgot")').attr('href') as string);
    expect(browser.text('.tenant')).toBe('Globex Corp');
  });

  it('makes a person without a second factor set one up at sign-in when the tenant requires MFA', async () => {
    await h.t.http
      .patch('/api/v1/mfa-policy')
      .set('Authorization', `Bearer ${b.key}`)
      .send({ mode: 'required' })
      .expect(200);
    const newcomer = `newcomer.${Date.now()}@example.test`;
    const browser = h.browser();
    const request = await signUp(browser, newcomer, rpB);
    await browser.submit('#email', { email: newcomer, password });
    expect(browser.page.$('h1').text()).toBe('Set up an authenticator app');
    const seed = browser.text('#totp-secret');
    await browser.submit('#code', { code: currentTotp(seed) });
    expect(browser.page.$('h1').text()).toBe('Save your recovery codes');
    await browser.submit('button:contains("continue")');
    await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    const tokens = await oauth.authorizationCodeGrant(rpB, browser.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    expect(tokens.claims()?.sub).toMatch(/^sub_/);
    const signedIn = await h.events(b.tenantId, ['sign_in.succeeded']);
    expect(signedIn.at(-1)?.data.amr).toEqual(['pwd', 'otp', 'mfa']);
    // And with MFA off, nobody is asked for a code, not even a person who has an app.
    await h.t.http
      .patch('/api/v1/mfa-policy')
      .set('Authorization', `Bearer ${b.key}`)
      .send({ mode: 'off' })
      .expect(200);
    const again = h.browser();
    await again.request((await authorizationUrl(rpB)).url);
    await again.submit('#email', { email: newcomer, password });
    expect(again.leftTo?.searchParams.get('code')).toBeTruthy();
  });

  it("lets a person change their password and remove an application's access from the account page", async () => {
    const person = `changer.${Date.now()}@example.test`;
    const browser = h.browser();
    const request = await signUp(browser, person, rpA);
    await browser.submit('#email', { email: person, password });
    await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    const tokens = await oauth.authorizationCodeGrant(rpA, browser.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    await browser.request(`/t/${a.slug}/account`);
    expect(browser.text('.consents')).toContain('Acme Notes');
    // A wrong current password changes nothing.
    await browser.submit('#current_password', {
      current_password: 'not it at all',
      new_password: 'another passphrase',
    });
    expect(browser.page.status).toBe(400);
    await browser.request(`/t/${a.slug}/account`);
    await browser.submit('#current_password', { current_password: password, new_password: 'another passphrase' });
    expect(browser.text('.notice')).toBe('Your password is changed.');
    // Removing the access ends the grant: its access token no longer introspects, and consent is asked again.
    expect((await oauth.tokenIntrospection(rpA, tokens.access_token)).active).toBe(true);
    await browser.submit('button:contains("Remove access")');
    expect(browser.text('.notice')).toBe('The application no longer has access.');
    expect((await oauth.tokenIntrospection(rpA, tokens.access_token)).active).toBe(false);
    const revoked = await h.events(a.tenantId, ['consent.revoked']);
    expect(revoked.at(-1)?.data).toMatchObject({ client_id: expect.any(String) });
    const next = h.browser();
    await next.request((await authorizationUrl(rpA)).url);
    await next.submit('#email', { email: person, password });
    expect(next.page.status).toBe(400);
    await next.submit('#email', { email: person, password: 'another passphrase' });
    expect(next.page.$('h1').text()).toBe('Acme Notes wants to use your account');
    const changed = await h.t.sigid.db.query<{ reason: string }>(
      `select data->>'reason' as reason from sigid_events where event_type = 'account.password_set' order by global_position desc limit 1`,
    );
    expect(changed.rows[0]?.reason).toBe('changed');
  });
});
