/**
 * A process that decides one approval (APPROVAL_DECISION=approve|deny) for the person APPROVAL_SUB
 * of APPROVAL_TENANT and exits: the kill tests arm a failpoint in it (SIGID_FAILPOINTS) and it dies
 * there, between the decision and telling the issuer. With APPROVAL_CLIENT it asks instead, as the
 * issuer's backchannel endpoint does (the CIBA request saved, then `requestApproval` before the
 * client's answer), for a request lasting APPROVAL_EXPIRES_IN seconds, and dies before the e-mail.
 */
import pino from 'pino';
import { findTenant } from '../../read-models/tenants.ts';
import { decideApproval, requestApproval } from '../../services/approvals.ts';
import { loadConfig } from '../../src/config.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const tenantId = process.env.APPROVAL_TENANT ?? '';
const sub = process.env.APPROVAL_SUB ?? '';
const clientId = process.env.APPROVAL_CLIENT;
if (clientId) {
  const tenant = await findTenant(sigid.readModels, tenantId);
  const provider = tenant ? (await sigid.issuers.get(tenant.slug))?.provider : undefined;
  if (!provider || !(await provider.Client.find(clientId))) throw new Error('no issuer or client');
  const exp = Math.floor(Date.now() / 1000) + Number(process.env.APPROVAL_EXPIRES_IN ?? '600');
  const request = new provider.BackchannelAuthenticationRequest({ accountId: sub, clientId });
  request.scope = 'openid';
  request.params = { scope: 'openid', login_hint: sub };
  request.exp = exp;
  await request.save();
  await requestApproval(sigid, tenantId, {
    authReqId: String(request.jti),
    clientId,
    sub,
    scopes: ['openid'],
    resource: null,
    resourceScopes: [],
    bindingMessage: null,
    acrValues: [],
    deliveryMode: 'poll',
    expiresAt: new Date(exp * 1000),
  });
} else {
  const context = { tenantId, actor: { type: 'user', id: sub } as const, correlationId: 'approval-child' };
  const decision =
    process.env.APPROVAL_DECISION === 'deny'
      ? { approve: false as const, sub }
      : { approve: true as const, sub, amr: ['pwd'] };
  console.log(JSON.stringify(await decideApproval(sigid, tenantId, process.env.APPROVAL_ID ?? '', decision, context)));
}
await sigid.close();
