/**
 * A process that registers a key for an agent (AGENT_TENANT, AGENT_ID, AGENT_KEY_BODY: the JSON of
 * `{jwk, challenge, proof}`) and exits: the kill test arms a failpoint in it (SIGID_FAILPOINTS) and
 * it dies there.
 */
import pino from 'pino';
import { findAgent } from '../../read-models/agents.ts';
import { registerAgentKey } from '../../services/agents.ts';
import { useCase } from '../../services/context.ts';
import { loadConfig } from '../../src/config.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const tenantId = process.env.AGENT_TENANT ?? '';
const row = await findAgent(sigid.readModels, tenantId, process.env.AGENT_ID ?? '');
if (!row) throw new Error('no such agent');
const context = { tenantId, actor: { type: 'system', id: 'agent-key-child' } as const, correlationId: 'child' };
console.log(
  JSON.stringify(await registerAgentKey(sigid, row, JSON.parse(process.env.AGENT_KEY_BODY ?? '{}'), useCase(context))),
);
await sigid.close();
