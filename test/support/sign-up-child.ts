/**
 * A process that signs one person up and exits: the kill tests arm a failpoint in it
 * (SIGID_FAILPOINTS) and it dies there. Its randomness is seeded (SIGN_UP_SEED, SIGN_UP_AT), as a
 * request's is by its Idempotency-Key, so a retry draws the same ids.
 */
import pino from 'pino';
import { PLATFORM_TENANT } from '../../commands/tenant.ts';
import { signUpWithPassword } from '../../services/accounts.ts';
import { useCase } from '../../services/context.ts';
import { loadConfig } from '../../src/config.ts';
import { seededRandom } from '../../src/random.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const random = seededRandom(Buffer.from(process.env.SIGN_UP_SEED ?? '', 'hex'), new Date(process.env.SIGN_UP_AT ?? 0));
const result = await signUpWithPassword(
  sigid,
  { email: process.env.SIGN_UP_EMAIL ?? '', password: process.env.SIGN_UP_PASSWORD ?? '' },
  useCase(
    { tenantId: PLATFORM_TENANT, actor: { type: 'system', id: 'sign-up-child' }, correlationId: 'child' },
    random,
  ),
);
console.log(JSON.stringify(result.status === 'created' ? { accountId: result.accountId } : result));
await sigid.close();
