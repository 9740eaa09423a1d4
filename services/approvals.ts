import { sql } from 'kysely';
import { errors } from 'oidc-provider';
import { z } from 'zod';
import { type ApprovalState, approvalAggregate } from '../commands/approval.ts';
import { findAccountLink } from '../read-models/account-links.ts';
import { findApplicationByClientId } from '../read-models/applications.ts';
import { undeliveredApprovals } from '../read-models/approvals.ts';
import { findTenant } from '../read-models/tenants.ts';
import { handleCommand } from '../src/command-handler.ts';
import type { WriteContext } from '../src/event-log.ts';
import { failpoint } from '../src/failpoints.ts';
import { isId, newId } from '../src/ids.ts';
import { issuerRequest } from '../src/oidc/adapter.ts';
import type { CibaRequestFacts } from '../src/oidc/ciba.ts';
import type { Sigid } from '../src/sigid.ts';
import { startWorkerLoop } from '../src/worker-loop.ts';
import { accountOfEmail } from './accounts.ts';
import { useCase, type Written } from './context.ts';
import { queueEmail } from './email.ts';
import { accountEmail, accountOfSub } from './sign-in.ts';

/**
 * Approvals (CIBA, docs/approvals.md): a client asks a person of the tenant to approve a request; the
 * person answers on the approval page; the decision is an event, and the issuer is then told, so the
 * client's poll (or its ping) gets tokens or `access_denied`. Telling the issuer is a second step:
 * the page does it at once, and the delivery worker finishes any decision whose telling was cut off.
 */

/** The issuer-storage model that finds a request's `auth_req_id` from its approval (never in an event). */
const LINK_MODEL = 'CibaApproval';

const emailHint = z.email().max(320);

/** The tenant's `sub` a CIBA `login_hint` names: the person's e-mail address or their sub, if they are a live user here. */
export async function subjectOfHint(sigid: Sigid, tenantId: string, hint: string): Promise<string | undefined> {
  let sub: string | undefined;
  if (isId('sub', hint)) sub = hint;
  else if (emailHint.safeParse(hint).success) {
    const accountId = await accountOfEmail(sigid, hint);
    sub = accountId ? (await findAccountLink(sigid.readModels, accountId, tenantId))?.sub : undefined;
  }
  if (!sub) return undefined;
  return (await accountOfSub(sigid, tenantId, sub)) ? sub : undefined;
}

/**
 * Records a client's CIBA request (`approval.requested`) and e-mails the person a signed link to the
 * approval page, valid until the request expires. The link from the approval to the issuer's request
 * is kept in the issuer's storage, as long as the request lives. All before the client's answer: a
 * crash before the e-mail leaves a request whose `auth_req_id` the client never got (it asks again)
 * and the person never saw; it only expires.
 */
export async function requestApproval(
  sigid: Sigid,
  tenantId: string,
  facts: CibaRequestFacts,
): Promise<{ approvalId: string; written: Written }> {
  const approvalId = newId('apr');
  await sigid.readModels
    .insertInto('oidc_payloads')
    .values({
      tenant_id: tenantId,
      model: LINK_MODEL,
      id: approvalId,
      payload: sql<Record<string, unknown>>`${JSON.stringify({ authReqId: facts.authReqId })}::jsonb`,
      grant_id: null,
      uid: null,
      user_code: null,
      expires_at: facts.expiresAt,
      consumed_at: null,
    })
    .execute();
  failpoint('approval.request:after-link');
  const context = useCase({
    tenantId,
    actor: { type: 'application', id: facts.clientId },
    correlationId: issuerRequest.getStore()?.correlationId ?? newId('req'),
  });
  const written = await handleCommand(
    sigid.log,
    approvalAggregate,
    approvalId,
    {
      type: 'request_approval',
      approval_id: approvalId,
      client_id: facts.clientId,
      sub: facts.sub,
      scopes: facts.scopes,
      resource: facts.resource,
      resource_scopes: facts.resourceScopes,
      binding_message: facts.bindingMessage,
      acr_values: facts.acrValues,
      delivery_mode: facts.deliveryMode,
      expires_at: facts.expiresAt.toISOString(),
    },
    context,
  );
  failpoint('approval.request:after-event');
  const account = await accountOfSub(sigid, tenantId, facts.sub);
  const to = account ? await accountEmail(sigid, account.account_id) : null;
  const tenant = await findTenant(sigid.readModels, tenantId);
  if (to && tenant) {
    const application = await findApplicationByClientId(sigid.readModels, tenantId, facts.clientId);
    await queueEmail(
      sigid,
      {
        tenantId,
        subjectId: facts.sub,
        to,
        template: 'approval-request',
        params: {
          client: application?.client_name ?? facts.clientId,
          ...(facts.bindingMessage ? { binding_message: facts.bindingMessage } : {}),
        },
        link: { url: `${sigid.issuers.issuerUrl(tenant.slug)}/approvals/${approvalId}`, expiresAt: facts.expiresAt },
      },
      context,
    );
  }
  return { approvalId, written };
}

/** An approval as its stream has it now (its decider's state): what the approval page shows. */
export async function approvalOf(sigid: Sigid, tenantId: string, approvalId: string): Promise<ApprovalState> {
  if (!isId('apr', approvalId)) return { status: 'absent' };
  const history = await sigid.log.readStream(approvalAggregate.stream(tenantId, approvalId));
  return history.reduce(
    (state, event) => approvalAggregate.decider.evolve(state, event as never),
    approvalAggregate.decider.initialState(),
  );
}

/**
 * The person `sub` approves (`approval.granted`, with how they proved it was them) or denies
 * (`approval.denied`) the request; then the issuer is told. A failure to tell it (the client's ping
 * endpoint down, the process killed) leaves the decision to the delivery worker, never undone.
 */
export async function decideApproval(
  sigid: Sigid,
  tenantId: string,
  approvalId: string,
  decision: { approve: true; sub: string; amr: string[] } | { approve: false; sub: string },
  context: WriteContext,
): Promise<Written> {
  const now = new Date();
  const written = await handleCommand(
    sigid.log,
    approvalAggregate,
    approvalId,
    decision.approve
      ? { type: 'grant_approval', sub: decision.sub, amr: decision.amr, now }
      : { type: 'deny_approval', sub: decision.sub, now },
    context,
  );
  failpoint('approval.decide:after-decision');
  await deliverApproval(sigid, tenantId, approvalId, context).catch((error: unknown) =>
    sigid.logger.warn({ err: error, tenant_id: tenantId, approval_id: approvalId }, 'approval not delivered yet'),
  );
  return written;
}

/**
 * Tells the tenant's issuer the decision of an approval, once: on approval, a Grant of the approved
 * scopes for the person and client, handed to `backchannelResult` (the client's poll then gets
 * tokens); on denial, `access_denied`. A ping-mode client is notified. Then `approval.delivered`.
 * Safe to run again at any point: a request already answered is only pinged again (a ping that
 * failed is retried; a client treats a second ping like the first, its token request working once).
 */
export async function deliverApproval(
  sigid: Sigid,
  tenantId: string,
  approvalId: string,
  context: WriteContext,
): Promise<void> {
  const state = await approvalOf(sigid, tenantId, approvalId);
  if (state.status === 'absent' || state.status === 'pending' || state.delivered) return;
  const record = (result: 'tokens_ready' | 'access_denied' | 'request_gone', notified: boolean) =>
    handleCommand(sigid.log, approvalAggregate, approvalId, { type: 'record_delivery', result, notified }, context);
  const tenant = await findTenant(sigid.readModels, tenantId);
  const entry = tenant ? await sigid.issuers.get(tenant.slug) : undefined;
  const link = await sigid.readModels
    .selectFrom('oidc_payloads')
    .select('payload')
    .where('tenant_id', '=', tenantId)
    .where('model', '=', LINK_MODEL)
    .where('id', '=', approvalId)
    .executeTakeFirst();
  const authReqId = (link?.payload as { authReqId?: unknown } | undefined)?.authReqId;
  const provider = entry?.provider;
  const request =
    provider && typeof authReqId === 'string'
      ? await provider.BackchannelAuthenticationRequest.find(authReqId, { ignoreExpiration: true })
      : undefined;
  const answered = Boolean(request?.grantId || request?.error);
  if (!provider || !request || (!answered && request.isExpired)) {
    await record('request_gone', false);
    return;
  }
  const client = await provider.Client.find(String(request.clientId));
  const ping = client?.backchannelTokenDeliveryMode === 'ping' && !request.consumed;
  if (!answered) {
    if (state.status === 'granted') {
      const grant = new provider.Grant({ accountId: state.sub, clientId: state.client_id });
      if (state.scopes.length > 0) grant.addOIDCScope(state.scopes.join(' '));
      if (state.resource && state.resource_scopes.length > 0) {
        grant.addResourceScope(state.resource, state.resource_scopes.join(' '));
      }
      await grant.save();
      failpoint('approval.deliver:after-grant');
      // The ping is SigID's own (src/oidc/provider.ts): a failed one throws after the request is saved.
      await provider.backchannelResult(request, grant, { amr: state.amr, authTime: Math.floor(Date.now() / 1000) });
    } else {
      await provider.backchannelResult(request, new errors.AccessDenied('the person denied the request'));
    }
  } else if (ping && client) {
    await client.backchannelPing(request);
  }
  await record(state.status === 'granted' ? 'tokens_ready' : 'access_denied', ping);
}

/** How long after its decision an undelivered approval is the worker's (the page delivers at once). */
const DELIVERY_GRACE_MS = 2000;

/**
 * The delivery worker: finishes decisions whose delivery to the issuer was cut off (a process killed
 * between the decision and telling the issuer, a ping endpoint that did not answer), every `everyMs`,
 * in one SigID process at a time, until their request expires.
 */
export function deliverApprovalsEvery(sigid: Sigid, options: { everyMs: number }): { stop(): Promise<void> } {
  return startWorkerLoop({
    db: sigid.db,
    lock: 'approvals:deliver',
    everyMs: options.everyMs,
    lockRetryMs: options.everyMs,
    restartMs: options.everyMs,
    logger: sigid.logger,
    describe: { worker: 'approval delivery' },
    async work(signal) {
      const now = new Date();
      const due = await undeliveredApprovals(sigid.readModels, {
        decidedBefore: new Date(now.getTime() - DELIVERY_GRACE_MS),
        now,
        limit: 100,
      });
      for (const approval of due) {
        if (signal.aborted) return;
        const context = {
          tenantId: approval.tenant_id,
          actor: { type: 'system' as const, id: 'approval-delivery' },
          correlationId: newId('req'),
        };
        await deliverApproval(sigid, approval.tenant_id, approval.approval_id, context).catch((error: unknown) =>
          sigid.logger.warn(
            { err: error, tenant_id: approval.tenant_id, approval_id: approval.approval_id },
            'approval not delivered yet',
          ),
        );
      }
    },
  });
}
