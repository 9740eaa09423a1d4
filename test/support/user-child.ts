/**
 * A process that links an account to a tenant (USER_ACTION=link) or deletes a tenant's user
 * (USER_ACTION=delete) and exits: the kill tests arm a failpoint in it (SIGID_FAILPOINTS) and it
 * dies there.
 */
import pino from 'pino';
import { linkAccount } from '../../services/accounts.ts';
import { useCase } from '../../services/context.ts';
import { deleteUser } from '../../services/users.ts';
import { loadConfig } from '../../src/config.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const tenantId = process.env.USER_TENANT ?? '';
const context = { tenantId, actor: { type: 'system', id: 'user-child' } as const, correlationId: 'child' };
if (process.env.USER_ACTION === 'link') {
  console.log(JSON.stringify(await linkAccount(sigid, process.env.USER_ACCOUNT ?? '', tenantId, useCase(context))));
} else {
  console.log(JSON.stringify(await deleteUser(sigid, process.env.USER_SUB ?? '', context)));
}
await sigid.close();
