/**
 * A process that signs a person in through an SSO connection (its callback already verified: the
 * identity comes in SSO_INPUT as JSON) and exits: the kill tests arm a failpoint in it
 * (SIGID_FAILPOINTS) and it dies there.
 */
import pino from 'pino';
import { useCase } from '../../services/context.ts';
import { signInThroughConnection } from '../../services/sso.ts';
import { loadConfig } from '../../src/config.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const input = JSON.parse(process.env.SSO_INPUT ?? '{}');
const context = {
  tenantId: input.tenantId,
  actor: { type: 'system', id: 'sso-child' } as const,
  correlationId: 'child',
};
console.log(JSON.stringify(await signInThroughConnection(sigid, input.tenantId, input.identity, useCase(context))));
await sigid.close();
