import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, launchChromium, type Page } from './support/chromium.ts';
import { type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';

/**
 * Accepting an invitation in real headless Chromium: the admin invites an address through the API,
 * the person opens the link from the outbox, chooses a password, and joins; the tenant then has
 * them as a user, and the same link shows that it was used.
 */
describe('accepting an invitation in Chromium', () => {
  let h: HostedSigid;
  let browser: Browser;
  let page: Page;
  let a: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;

  beforeAll(async () => {
    h = await startHostedSigid({ host: 'localhost' });
    a = await h.t.createTenant('Acme');
    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  const heading = (text: string) =>
    page.getByRole('heading', { level: 1, name: text, exact: true }).waitFor({ timeout: 10_000 });

  it('opens the link, signs up with a password, joins the tenant, and the link works once', async () => {
    const email = `invited.${Date.now()}@example.test`;
    const editor = await h.t.http
      .post('/api/v1/roles')
      .set('Authorization', `Bearer ${a.key}`)
      .send({ name: 'Editor' })
      .expect(201);
    const created = await h.t.http
      .post('/api/v1/invitations')
      .set('Authorization', `Bearer ${a.key}`)
      .send({ email, roles: [editor.body.id] })
      .expect(201);
    const link = await h.linkSentTo(email, '/invitation');

    await page.goto(link);
    await heading('Join Acme');
    expect(await page.locator('main').innerText()).toContain(`as ${email}`);
    await page.getByLabel('Choose a password').fill('a passphrase for Acme');
    await page.getByRole('button', { name: 'Create account and join' }).click();
    await heading('You have joined Acme');

    const invitation = await h.t.http
      .get(`/api/v1/invitations/${created.body.id}`)
      .set('Authorization', `Bearer ${a.key}`)
      .expect(200);
    expect(invitation.body).toMatchObject({ status: 'accepted', roles: [editor.body.id] });
    const user = await h.t.http
      .get(`/api/v1/users/${invitation.body.accepted_sub}`)
      .set('Authorization', `Bearer ${a.key}`)
      .expect(200);
    expect(user.body).toMatchObject({ email, email_verified: true });
    // The invitation's role is the user's now.
    const held = await h.t.http
      .get('/api/v1/role-assignments')
      .query({ sub: invitation.body.accepted_sub })
      .set('Authorization', `Bearer ${a.key}`)
      .expect(200);
    expect(held.body.data.map((row: { role_id: string }) => row.role_id)).toEqual([editor.body.id]);

    await page.goto(link);
    await heading('This link cannot be used');
    expect(await page.locator('main').innerText()).toContain('The link has been used already.');
  });
});
