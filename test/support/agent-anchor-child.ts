/**
 * A process that adds an anchor to an agent (ANCHOR_OP=add, ANCHOR_BODY: `{kind, did}`…) or verifies
 * one (ANCHOR_OP=verify, ANCHOR_ID, ANCHOR_BODY: `{challenge, proof}`) for AGENT_TENANT/AGENT_ID and
 * exits: the kill test arms a failpoint in it (SIGID_FAILPOINTS) and it dies there.
 */
import pino from 'pino';
import { findAgentAnchor } from '../../read-models/agent-anchors.ts';
import { findAgent } from '../../read-models/agents.ts';
import { addAgentAnchor, verifyAgentAnchor } from '../../services/agent-anchors.ts';
import { useCase } from '../../services/context.ts';
import { loadConfig } from '../../src/config.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
const tenantId = process.env.AGENT_TENANT ?? '';
const row = await findAgent(sigid.readModels, tenantId, process.env.AGENT_ID ?? '');
if (!row) throw new Error('no such agent');
const context = useCase({ tenantId, actor: { type: 'system', id: 'agent-anchor-child' }, correlationId: 'child' });
const body = JSON.parse(process.env.ANCHOR_BODY ?? '{}');
if (process.env.ANCHOR_OP === 'add') {
  console.log(JSON.stringify(await addAgentAnchor(sigid, row, body, context)));
} else {
  const anchor = await findAgentAnchor(sigid.readModels, tenantId, row.agent_id, process.env.ANCHOR_ID ?? '');
  if (!anchor) throw new Error('no such anchor');
  console.log(JSON.stringify(await verifyAgentAnchor(sigid, row, anchor, body, context)));
}
await sigid.close();
