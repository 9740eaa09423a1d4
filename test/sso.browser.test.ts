import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWebhookConfig } from '../src/webhooks/config.ts';
import { type Browser, type BrowserContext, launchChromium, type Page } from './support/chromium.ts';
import { IDP_CLIENT_ID, IDP_CLIENT_SECRET, startCustomerIdp } from './support/customer-idp.ts';
import { authorizationUrl, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';

/**
 * SSO end to end in real headless Chromium: a second, real oidc-provider is the customer's IdP; the
 * tenant's organization `acme` verified `acme.test` and has an OIDC connection to it. A relying party
 * (openid-client) starts sign-in at the tenant's issuer; Chromium types the address, is sent to the
 * IdP (home-realm discovery), signs in there, comes back, consents; the id token carries the
 * tenant-local `sub` and `org_id`; a second sign-in is the same `sub`; the membership (with the role
 * mapped from the IdP's `groups`) is in the API, and the link and the membership are in the audit log.
 * The IdP answering an error, a forged state, and an IdP that is down each end on a 400 page.
 */
describe('SSO through an organization’s OIDC connection, in Chromium', () => {
  let h: HostedSigid;
  let idp: Awaited<ReturnType<typeof startCustomerIdp>>;
  let browser: Browser;
  let a: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let rp: oauth.Configuration;
  let callback: string;
  let acme: { id: string };
  let adminRole: string;
  let connectionId: string;
  const callbacks: string[] = [];
  const records = new Map<string, string[][]>();
  const admin = () => ({ Authorization: `Bearer ${a.key}` });

  beforeAll(async () => {
    h = await startHostedSigid({
      host: 'localhost',
      // The IdP listens on 127.0.0.1 over http: allowlisted, as in development.
      config: { webhooks: loadWebhookConfig({ SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1' }) },
    });
    h.t.sigid.dns = {
      resolveTxt: async (name) => {
        const found = records.get(name);
        if (!found) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
        return found;
      },
    };
    a = await h.t.createTenant('Acme SaaS');
    callback = `${h.base}/app/callback`;
    rp = await h.relyingParty(a.slug, await h.webApp(a.key, { redirect_uris: [callback] }));
    idp = await startCustomerIdp({
      redirectUris: [`${h.base}/t/${a.slug}/sso/callback`],
      users: {
        jane: {
          password: 'jane-at-acme',
          claims: {
            email: 'jane@acme.test',
            email_verified: true,
            name: 'Jane Doe',
            given_name: 'Jane',
            family_name: 'Doe',
            groups: ['admins', 'everyone'],
          },
        },
      },
    });
    adminRole = (await h.t.http.post('/api/v1/roles').set(admin()).send({ name: 'acme-admin' }).expect(201)).body.id;
    acme = (await h.t.http.post('/api/v1/organizations').set(admin()).send({ name: 'acme' }).expect(201)).body;
    const added = await h.t.http
      .post(`/api/v1/organizations/${acme.id}/domains`)
      .set(admin())
      .send({ domain: 'acme.test' })
      .expect(201);
    records.set(added.body.verification.name, [[added.body.verification.value]]);
    await h.t.http.post(`/api/v1/organizations/${acme.id}/domains/acme.test/verify`).set(admin()).expect(200);
    const created = await h.t.http
      .post(`/api/v1/organizations/${acme.id}/connections`)
      .set(admin())
      .send({
        name: 'Acme Workforce',
        protocol: 'oidc',
        oidc: {
          issuer: idp.issuer,
          client_id: IDP_CLIENT_ID,
          client_secret: IDP_CLIENT_SECRET,
          claim_mapping: { roles: 'groups' },
        },
        role_mapping: { admins: adminRole },
      });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.callback_url).toBe(`${h.base}/t/${a.slug}/sso/callback`);
    expect(JSON.stringify(created.body)).not.toContain(IDP_CLIENT_SECRET);
    connectionId = created.body.id;
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await idp?.close().catch(() => undefined);
    await h?.close();
  });

  async function freshPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('request', (request) => {
      if (request.url().startsWith(callback)) callbacks.push(request.url());
    });
    return { context, page };
  }

  async function heading(page: Page, text: string) {
    await page.getByRole('heading', { level: 1, name: text, exact: true }).waitFor({ timeout: 10_000 });
  }

  async function redeem(page: Page, request: Awaited<ReturnType<typeof authorizationUrl>>) {
    const ours = () => callbacks.find((url) => new URL(url).searchParams.get('state') === request.state);
    for (let waited = 0; !ours(); waited += 25) {
      if (waited > 15_000) throw new Error(`no callback; the browser is at ${page.url()}: ${await page.content()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const tokens = await oauth.authorizationCodeGrant(rp, new URL(ours() as string), {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });
    return tokens.claims() as Record<string, unknown>;
  }

  /** Starts sign-in at the tenant's issuer, types Jane's address, and signs in at the IdP. */
  async function signInThroughIdp(page: Page, parameters: Record<string, string> = {}) {
    const request = await authorizationUrl(rp, { redirect_uri: callback, scope: 'openid email', ...parameters });
    await page.goto(request.url.href);
    if (!parameters.connection) {
      await page.fill('#email', 'jane@acme.test');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    }
    await heading(page, 'Acme Workforce sign-in');
    expect(new URL(page.url()).origin).toBe(idp.issuer);
    await page.fill('#login', 'jane');
    await page.fill('#password', 'jane-at-acme');
    await page.getByRole('button', { name: 'Sign in to Acme' }).click();
    await page.waitForLoadState();
    if (await page.getByRole('button', { name: 'Allow' }).isVisible()) {
      await page.getByRole('button', { name: 'Allow' }).click();
    }
    return redeem(page, request);
  }

  let sub: string;

  it('sends an address of a verified domain to the IdP and back, with the tenant sub and the organization in the id token', async () => {
    const { context, page } = await freshPage();
    const claims = await signInThroughIdp(page);
    await context.close();
    sub = String(claims.sub);
    expect(sub).toMatch(/^sub_/);
    expect(claims).toMatchObject({ org_id: acme.id, org_name: 'acme' });
    // The IdP's own subject never reaches the application.
    expect(sub).not.toBe('jane');
  });

  it('signs the same person in as the same sub the second time, also with the connection parameter', async () => {
    const first = await freshPage();
    expect((await signInThroughIdp(first.page)).sub).toBe(sub);
    await first.context.close();
    const hinted = await freshPage();
    const claims = await signInThroughIdp(hinted.page, { connection: connectionId });
    await hinted.context.close();
    expect(claims).toMatchObject({ sub, org_id: acme.id });
  });

  it('made Jane a member of acme with the mapped role, a user with her IdP profile, and audited the link once', async () => {
    const member = await h.t.http.get(`/api/v1/organizations/${acme.id}/members/${sub}`).set(admin()).expect(200);
    expect(member.body.roles).toEqual([adminRole]);
    const user = await h.t.http.get(`/api/v1/users/${sub}`).set(admin()).expect(200);
    expect(user.body).toMatchObject({
      email: 'jane@acme.test',
      // The IdP said so, for a domain acme verified: SigID takes its word.
      email_verified: true,
      name: 'Jane Doe',
      given_name: 'Jane',
      family_name: 'Doe',
    });
    const audit = await h.t.http
      .get('/api/v1/audit-logs?action=connection.user.linked,organization.member.added&limit=50')
      .set(admin())
      .expect(200);
    const actions = (audit.body.data as Array<{ action: string }>).map((entry) => entry.action).sort();
    expect(actions).toEqual(['connection.user.linked', 'organization.member.added']);
    // No event names the IdP's subject or carries the client secret.
    const { rows } = await h.t.sigid.db.query<{ data: unknown }>(
      `select data from sigid_events where tenant_id = $1 or tenant_id = 'platform'`,
      [a.tenantId],
    );
    const everything = JSON.stringify(rows);
    expect(everything).not.toContain(IDP_CLIENT_SECRET);
    expect(everything).not.toContain('"jane"');
  });

  it('ends on a 400 page when the IdP answers an error, or the state is not the one sent', async () => {
    const { context, page } = await freshPage();
    const request = await authorizationUrl(rp, { redirect_uri: callback, scope: 'openid', connection: connectionId });
    await page.goto(request.url.href);
    await heading(page, 'Acme Workforce sign-in');
    const answer = page.waitForResponse(
      (response) => response.url().includes('/sso/callback') && response.status() !== 303,
    );
    await page.getByRole('button', { name: 'Deny' }).click();
    expect((await answer).status()).toBe(400);
    await heading(page, 'You are not signed in');
    expect(await page.textContent('body')).toContain('did not sign you in (access_denied)');

    // A state that is not the interaction's (forged or replayed): refused on the interaction's own path.
    const uid = new URL(page.url()).pathname.split('/')[4] as string;
    const forged = await page.goto(`${h.base}/t/${a.slug}/sso/callback?code=x&state=${uid}.${'A'.repeat(43)}`);
    expect(forged?.status()).toBe(400);
    await heading(page, 'You are not signed in');
    // No state at all, or one of no shape: the expired page.
    const none = await page.goto(`${h.base}/t/${a.slug}/sso/callback?code=x`);
    expect(none?.status()).toBe(400);
    await context.close();
    const failed = await h.events(a.tenantId, ['sign_in.failed']);
    expect(failed.filter((event) => event.data.reason === 'sso_failed').length).toBeGreaterThanOrEqual(2);
  });

  it('ends on a 400 page when the IdP is down', async () => {
    await idp.close();
    const { context, page } = await freshPage();
    const request = await authorizationUrl(rp, { redirect_uri: callback, scope: 'openid' });
    await page.goto(request.url.href);
    await page.fill('#email', 'jane@acme.test');
    const answer = page.waitForResponse((response) => response.request().method() === 'POST');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // A sign-in's start reads the IdP's discovery document: an IdP that is down is found there.
    expect((await answer).status()).toBe(400);
    await heading(page, 'You are not signed in');
    expect(await page.textContent('body')).toContain('could not be reached');
    await context.close();
  });
});
