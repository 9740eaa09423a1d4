import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../services/mfa.ts';
import { type Browser, launchChromium, type Page, virtualAuthenticator } from './support/chromium.ts';
import { authorizationUrl, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';

/**
 * The hosted pages in real headless Chromium (Debian's, driven by playwright-core) with a WebAuthn
 * virtual authenticator: a person signs up, verifies the address from the outbox, signs in with a
 * password, sets up an authenticator app and signs in with password and code, registers a passkey
 * and then signs in with it alone, grants consent, and has two unrelated subs at two tenants while
 * the one passkey (relying party: SigID's host) works at both.
 */
describe('hosted pages in Chromium', () => {
  let h: HostedSigid;
  let browser: Browser;
  let page: Page;
  let a: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let b: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let rpA: oauth.Configuration;
  let rpB: oauth.Configuration;
  const email = `grace.${Date.now()}@example.test`;
  const password = 'a long and memorable passphrase';
  let subA: string;
  let seed: string;
  const callbacks: string[] = [];
  let callback: string;

  beforeAll(async () => {
    // localhost: a secure context for WebAuthn over plain http.
    h = await startHostedSigid({ host: 'localhost' });
    a = await h.t.createTenant('Acme');
    b = await h.t.createTenant('Globex');
    // The application's callback is a page of this host (its 404 is fine: the code is in the URL).
    callback = `${h.base}/app/callback`;
    const app = { redirect_uris: [callback] };
    rpA = await h.relyingParty(a.slug, await h.webApp(a.key, app));
    rpB = await h.relyingParty(b.slug, await h.webApp(b.key, app));
    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
    // Every request to the application's callback, whether or not its navigation completes.
    page.on('request', (request) => {
      if (request.url().startsWith(callback)) callbacks.push(request.url());
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  /** Waits for the page whose main heading is `text` (fails after 10 s when another page shows). */
  async function heading(text: string) {
    await page.getByRole('heading', { level: 1, name: text, exact: true }).waitFor({ timeout: 10_000 });
  }

  /** Redeems the code the browser came back with. */
  async function redeem(rp: oauth.Configuration, request: Awaited<ReturnType<typeof authorizationUrl>>) {
    const ours = () => callbacks.find((url) => new URL(url).searchParams.get('state') === request.state);
    for (let waited = 0; !ours(); waited += 25) {
      if (waited > 15_000) throw new Error(`no callback; the browser is at ${page.url()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const tokens = await oauth.authorizationCodeGrant(rp, new URL(ours() as string), {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    return String(tokens.claims()?.sub);
  }

  async function allowIfAsked() {
    await page.waitForLoadState();
    if (await page.getByRole('button', { name: 'Allow' }).isVisible()) {
      await page.getByRole('button', { name: 'Allow' }).click();
    }
  }

  it('signs up, verifies the address from the outbox, consents and signs in with the password', async () => {
    const request = await authorizationUrl(rpA, { redirect_uri: callback });
    await page.goto(request.url.href);
    await heading('Sign in to Acme');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await heading('Check your inbox');
    await page.goto(await h.linkSentTo(email, '/verify-email'));
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await heading('Your e-mail address is confirmed');
    await page.getByRole('link', { name: 'Continue signing in' }).click();
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await heading('Acme Notes wants to use your account');
    await page.getByRole('button', { name: 'Allow' }).click();
    subA = await redeem(rpA, request);
    expect(subA).toMatch(/^sub_/);
  });

  it('sets up an authenticator app, then signs in with the password and a code', async () => {
    await page.goto(`${h.base}/t/${a.slug}/account`);
    await heading('Your account');
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    seed = (await page.locator('#totp-secret').textContent()) ?? '';
    await page.getByLabel('Code from your authenticator app').fill(currentTotp(seed));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await heading('Save your recovery codes');
    expect(await page.locator('#recovery-codes li').count()).toBe(10);

    await page.context().clearCookies();
    const request = await authorizationUrl(rpA, { redirect_uri: callback });
    await page.goto(request.url.href);
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await heading('Two-step verification');
    await page.getByLabel('Code from your authenticator app').fill(currentTotp(seed, Date.now() + 30_000));
    await page.getByRole('button', { name: 'Verify' }).click();
    await allowIfAsked();
    expect(await redeem(rpA, request)).toBe(subA);
  });

  it('registers a passkey on the account page, then signs in with it alone at both tenants, with two subs', async () => {
    const { cdp, authenticatorId } = await virtualAuthenticator(page);
    await page.goto(`${h.base}/t/${a.slug}/account`);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByRole('status').filter({ hasText: 'Your passkey is added.' }).waitFor();
    expect(await page.locator('.passkeys li').count()).toBe(1);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]?.rpId).toBe('localhost');
    expect(credentials[0]?.isResidentCredential).toBe(true);

    // Signed out: the passkey alone signs in (no address typed, no password, no code).
    await page.context().clearCookies();
    const atA = await authorizationUrl(rpA, { redirect_uri: callback });
    await page.goto(atA.url.href);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await allowIfAsked();
    expect(await redeem(rpA, atA)).toBe(subA);

    // The other tenant: the same passkey, a sub of its own.
    const atB = await authorizationUrl(rpB, { redirect_uri: callback });
    await page.goto(atB.url.href);
    await heading('Sign in to Globex');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await heading('Acme Notes wants to use your account');
    await page.getByRole('button', { name: 'Allow' }).click();
    const subB = await redeem(rpB, atB);
    expect(subB).toMatch(/^sub_/);
    expect(subB).not.toBe(subA);

    const used = await h.t.sigid.db.query(`select 1 from sigid_events where event_type = 'passkey.used'`);
    expect(used.rows).toHaveLength(2);
    const signIns = await h.events(b.tenantId, ['sign_in.succeeded']);
    expect(signIns.at(-1)?.data.amr).toEqual(['hwk', 'user']);
  });

  it('refuses a removed passkey', async () => {
    await page.goto(`${h.base}/t/${a.slug}/account`);
    await page.getByRole('button', { name: 'Remove', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'The passkey is removed.' }).waitFor();
    await page.context().clearCookies();
    await page.goto((await authorizationUrl(rpA, { redirect_uri: callback })).url.href);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('alert').filter({ hasText: 'The passkey could not be used' }).waitFor();
    const failed = await h.events(a.tenantId, ['sign_in.failed']);
    expect(failed.at(-1)?.data.reason).toBe('invalid_passkey');
  });
});
