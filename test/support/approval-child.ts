/**
 * A process that decides one approval (APPROVAL_DECISION=approve|deny) for the person APPROVAL_SUB
 * of APPROVAL_TENANT and exits: the kill tests arm a failpoint in it (SIGID_FAILPOINTS) and it dies
 * there, between the decision and telling the issuer.
 */
import pino from 'pino';
import { decideApproval } from '../../services/approvals.ts';
import { loadConfig } from '../../src/config.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const tenantId = process.env.APPROVAL_TENANT ?? '';
const sub = process.env.APPROVAL_SUB ?? '';
const context = { tenantId, actor: { type: 'user', id: sub } as const, correlationId: 'approval-child' };
const decision =
  process.env.APPROVAL_DECISION === 'deny'
    ? { approve: false as const, sub }
    : { approve: true as const, sub, amr: ['pwd'] };
console.log(JSON.stringify(await decideApproval(sigid, tenantId, process.env.APPROVAL_ID ?? '', decision, context)));
await sigid.close();
