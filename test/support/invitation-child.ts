/**
 * A process that accepts an invitation (its link's token and a password, as the hosted page would)
 * and exits: the kill tests arm a failpoint in it (SIGID_FAILPOINTS) and it dies there. It starts no
 * workers: the test's own process runs the projections and the invitation grants worker.
 */
import pino from 'pino';
import { useCase } from '../../services/context.ts';
import { acceptInvitation, openInvitation } from '../../services/invitations.ts';
import { loadConfig } from '../../src/config.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const tenantId = process.env.INVITATION_TENANT ?? '';
const opened = await openInvitation(sigid, tenantId, process.env.INVITATION_TOKEN ?? '');
if (!opened.ok) throw new Error(`the link does not open: ${opened.reason}`);
const context = useCase({ tenantId, actor: { type: 'system', id: 'hosted-pages' }, correlationId: 'child' });
console.log(JSON.stringify(await acceptInvitation(sigid, opened, process.env.INVITATION_PASSWORD ?? '', context)));
await sigid.close();
