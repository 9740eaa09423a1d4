/**
 * A process that runs one second-factor step and exits: the kill tests arm a failpoint in it
 * (SIGID_FAILPOINTS) and it dies there. MFA_ACTION is `confirm` (MFA_ENROLLMENT, MFA_CODE),
 * `verify` (MFA_CODE) or `recovery` (MFA_CODE) for MFA_ACCOUNT, at clock MFA_AT, with randomness
 * seeded by MFA_SEED (as a request's is by its Idempotency-Key), so a retry draws the same ids.
 */
import pino from 'pino';
import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import { useCase } from '../../services/context.ts';
import { confirmTotpEnrollment, useRecoveryCode, verifyTotp } from '../../services/mfa.ts';
import { loadConfig } from '../../src/config.ts';
import { seededRandom } from '../../src/random.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const now = new Date(process.env.MFA_AT ?? 0);
const context = useCase(
  { tenantId: PLATFORM_TENANT, actor: { type: 'system', id: 'mfa-child' }, correlationId: 'child' },
  seededRandom(Buffer.from(process.env.MFA_SEED ?? '', 'hex'), now),
);
const accountId = process.env.MFA_ACCOUNT ?? '';
const code = process.env.MFA_CODE ?? '';
const action = process.env.MFA_ACTION;
const result =
  action === 'confirm'
    ? await confirmTotpEnrollment(sigid, accountId, process.env.MFA_ENROLLMENT ?? '', code, context, now)
    : action === 'verify'
      ? await verifyTotp(sigid, accountId, code, context, now)
      : await useRecoveryCode(sigid, accountId, code, context);
console.log(JSON.stringify(result));
await sigid.close();
