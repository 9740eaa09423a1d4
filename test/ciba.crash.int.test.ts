import { randomBytes } from 'node:crypto';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountAggregate } from '../commands/account.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { handleCommand } from '../src/command-handler.ts';
import { runChild } from './support/crash-child.ts';
import { postgresReachable } from './support/databases.ts';
import { type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';
import { settled } from './support/settled.ts';

const CIBA = 'urn:openid:params:grant-type:ciba';
const system = { actor: { type: 'system', id: 'ciba-crash' } as const, correlationId: 'ciba-crash' };

/**
 * Deciding an approval is two durable steps: the decision's event, then telling the issuer (a Grant
 * handed to the CIBA request, or `access_denied`). A process killed between them (SIGKILL at a named
 * step) leaves the decision recorded and the client still polling: the delivery worker of the
 * surviving process finishes it, so the poll gets its tokens (or its refusal), delivered once.
 */
describe.runIf(postgresReachable)('approvals killed between the decision and the issuer', { timeout: 120_000 }, () => {
  const masterKey = randomBytes(32).toString('base64');
  let h: HostedSigid;
  let tenant: Awaited<ReturnType<HostedSigid['t']['createTenant']>>;
  let app: { clientId: string; secret: string };
  let rp: oauth.Configuration;
  const password = 'a password to keep';
  const email = `crash.${Date.now()}@example.test`;
  let sub = '';
  const seen = new Set<string>();

  beforeAll(async () => {
    h = await startHostedSigid({ backend: 'postgres', config: { masterKey } });
    tenant = await h.t.createTenant('Crashing');
    app = await h.webApp(tenant.key, { grant_types: ['authorization_code', 'refresh_token', CIBA] });
    rp = await h.relyingParty(tenant.slug, app);
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
    sub = (
      await linkAccount(h.t.sigid, made.accountId, tenant.tenantId, useCase({ tenantId: tenant.tenantId, ...system }))
    ).sub;
    await settled(h.t.sigid);
  });
  afterAll(async () => {
    await h?.close();
  });

  const child = (env: Record<string, string>) =>
    runChild('approval-child.ts', {
      DATABASE_URL: String(h.t.sigid.config.databaseUrl),
      SIGID_MASTER_KEY: masterKey,
      PUBLIC_URL: h.base,
      SIGID_EMAIL_WORKER: 'false',
      ...env,
    });

  /** A new CIBA request of the person, and its approval's id (from the e-mail's link). */
  async function ask() {
    const started = await oauth.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: email });
    for (let waited = 0; waited < 20_000; waited += 50) {
      const link = await h.linkSentTo(email, '/approvals/');
      if (!seen.has(link)) {
        seen.add(link);
        return { started, link, approvalId: new URL(link).pathname.split('/').pop() as string };
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('no approval e-mail');
  }

  const eventsOf = async (approvalId: string) =>
    (await h.events(tenant.tenantId, ['approval.granted', 'approval.denied', 'approval.delivered']))
      .filter((event) => event.data.approval_id === approvalId)
      .map((event) => event.event_type);

  /** Every event of an approval's stream, oldest first. */
  const historyOf = async (approvalId: string) =>
    (
      await h.events(tenant.tenantId, [
        'approval.requested',
        'approval.granted',
        'approval.denied',
        'approval.delivered',
      ])
    )
      .filter((event) => event.data.approval_id === approvalId)
      .map((event) => event.event_type);

  /** How many approval e-mails were queued (`email.queued`) with a link to this approval's page. */
  const emailsFor = async (approvalId: string) =>
    (await h.events(tenant.tenantId, ['email.queued'])).filter(
      (event) =>
        event.data.template === 'approval-request' &&
        String((event.data.link as { url?: string } | null)?.url).endsWith(`/approvals/${approvalId}`),
    ).length;

  /** The approvals' links in the issuer's storage (one per request, written first): id, `auth_req_id`, expiry. */
  const approvalLinks = async () =>
    (
      await h.t.sigid.db.query<{ id: string; payload: { authReqId: string }; expires_at: Date }>(
        `select id, payload, expires_at from oidc_payloads where tenant_id = $1 and model = 'CibaApproval'`,
        [tenant.tenantId],
      )
    ).rows;

  const poll = (started: oauth.BackchannelAuthenticationResponse) =>
    oauth.pollBackchannelAuthenticationGrant(rp, { ...started, interval: 0.2 }, undefined, {
      signal: AbortSignal.timeout(30_000),
    });

  for (const failpoint of ['approval.decide:after-decision', 'approval.deliver:after-grant']) {
    it(`finishes an approval whose process died at ${failpoint}: the poll gets tokens`, async () => {
      const { started, approvalId } = await ask();
      const exit = await child({
        SIGID_FAILPOINTS: failpoint,
        APPROVAL_TENANT: tenant.tenantId,
        APPROVAL_SUB: sub,
        APPROVAL_ID: approvalId,
      });
      expect(exit).toBe('SIGKILL');
      expect(await eventsOf(approvalId)).toEqual(['approval.granted']);
      const tokens = await poll(started);
      expect(tokens.claims()?.sub).toBe(sub);
      await settled(h.t.sigid);
      expect(await eventsOf(approvalId)).toEqual(['approval.granted', 'approval.delivered']);
    });
  }

  it('finishes a denial whose process died after the decision: the poll gets access_denied', async () => {
    const { started, approvalId } = await ask();
    const exit = await child({
      SIGID_FAILPOINTS: 'approval.decide:after-decision',
      APPROVAL_TENANT: tenant.tenantId,
      APPROVAL_SUB: sub,
      APPROVAL_ID: approvalId,
      APPROVAL_DECISION: 'deny',
    });
    expect(exit).toBe('SIGKILL');
    const outcome = await poll(started).then(
      () => 'tokens',
      (error: unknown) => (error as { error?: string }).error,
    );
    expect(outcome).toBe('access_denied');
    expect(await eventsOf(approvalId)).toEqual(['approval.denied', 'approval.delivered']);
  });

  it('without a failpoint, the deciding process delivers itself', async () => {
    const { started, approvalId } = await ask();
    const exit = await child({ APPROVAL_TENANT: tenant.tenantId, APPROVAL_SUB: sub, APPROVAL_ID: approvalId });
    expect(exit).toBe(0);
    expect(await eventsOf(approvalId)).toEqual(['approval.granted', 'approval.delivered']);
    expect((await poll(started)).claims()?.sub).toBe(sub);
  });
  /**
   * Asking is three durable steps: the link to the issuer's request, `approval.requested`, the
   * person's e-mail, all before the client's answer carries its `auth_req_id`. A process killed
   * between them leaves a request nobody can act on: the client never learned its id and asks again,
   * the person was never told; it expires as asked.
   */
  for (const [failpoint, recorded] of [
    ['approval.request:after-link', []],
    ['approval.request:after-event', ['approval.requested']],
  ] as const) {
    it(`leaves nothing to act on when asking died at ${failpoint}; the client's retry is e-mailed once`, async () => {
      const before = new Set((await approvalLinks()).map((link) => link.id));
      const exit = await child({
        SIGID_FAILPOINTS: failpoint,
        APPROVAL_TENANT: tenant.tenantId,
        APPROVAL_SUB: sub,
        APPROVAL_CLIENT: app.clientId,
        APPROVAL_EXPIRES_IN: '3',
      });
      expect(exit).toBe('SIGKILL');
      const orphans = (await approvalLinks()).filter((link) => !before.has(link.id));
      expect(orphans).toHaveLength(1);
      const orphan = orphans[0] as (typeof orphans)[number];
      expect(await historyOf(orphan.id)).toEqual(recorded);

      // The client asks again at once: the person is e-mailed once, approves, and the poll gets tokens.
      const retry = await ask();
      expect(await emailsFor(retry.approvalId)).toBe(1);
      const browser = h.browser();
      await browser.request(retry.link);
      if (browser.page.$('#password').length > 0) await browser.submit('#email', { email, password });
      expect(browser.page.$('h1').text()).toBe('Acme Notes asks for your approval');
      await browser.submit('button[value=approve]', {}, { name: 'decision', value: 'approve' });
      expect(browser.page.$('h1').text()).toBe('You approved the request');
      expect((await poll(retry.started)).claims()?.sub).toBe(sub);

      // Past its expiry the orphan was never e-mailed, its page offers nothing, its request gives no token.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, orphan.expires_at.getTime() - Date.now() + 250)));
      expect(await emailsFor(orphan.id)).toBe(0);
      await browser.request(`${h.base}/t/${tenant.slug}/approvals/${orphan.id}`);
      expect([browser.page.status, browser.page.$('h1').text()]).toEqual(
        recorded.length > 0 ? [410, 'This request has expired'] : [404, 'This request was not found'],
      );
      const refused = await oauth.genericGrantRequest(rp, CIBA, { auth_req_id: orphan.payload.authReqId }).then(
        () => 'tokens',
        (error: unknown) => (error as { error?: string }).error,
      );
      // Expired by its payload, or gone from storage a moment later (its row kept to the next second).
      expect(['expired_token', 'invalid_grant']).toContain(refused);
      expect(await historyOf(orphan.id)).toEqual(recorded);
    });
  }
});
