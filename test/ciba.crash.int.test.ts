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
  let rp: oauth.Configuration;
  const email = `crash.${Date.now()}@example.test`;
  let sub = '';
  const seen = new Set<string>();

  beforeAll(async () => {
    h = await startHostedSigid({ backend: 'postgres', config: { masterKey } });
    tenant = await h.t.createTenant('Crashing');
    rp = await h.relyingParty(
      tenant.slug,
      await h.webApp(tenant.key, { grant_types: ['authorization_code', 'refresh_token', CIBA] }),
    );
    const made = await signUpWithPassword(
      h.t.sigid,
      { email, password: 'a password to keep' },
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
    await h.t.sigid.projections.waitFor(await h.t.sigid.store.headPosition());
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
        return { started, approvalId: new URL(link).pathname.split('/').pop() as string };
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('no approval e-mail');
  }

  const eventsOf = async (approvalId: string) =>
    (await h.events(tenant.tenantId, ['approval.granted', 'approval.denied', 'approval.delivered']))
      .filter((event) => event.data.approval_id === approvalId)
      .map((event) => event.event_type);

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
      await h.t.sigid.projections.waitFor(await h.t.sigid.store.headPosition());
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
});
