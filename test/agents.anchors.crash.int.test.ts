import { randomBytes } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAgentAnchor, listAgentAnchors } from '../read-models/agent-anchors.ts';
import { findAgent } from '../read-models/agents.ts';
import { addAgentAnchor, agentAnchorChallenge, verifyAgentAnchor } from '../services/agent-anchors.ts';
import { createAgent } from '../services/agents.ts';
import { useCase } from '../services/context.ts';
import { createOrganization } from '../services/organizations.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { runChild } from './support/crash-child.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { didKeyOf } from './support/multikey.ts';
import { settled } from './support/settled.ts';

/**
 * An anchor's two writes, each two durable steps, killed between them (SIGKILL at a failpoint):
 * adding one reserves the identity across the tenant, then appends `agent.anchor.added`; verifying
 * one uses the challenge, then appends `agent.anchor.verified`. Neither leaves anything half-applied:
 * a reservation whose add never landed blocks no one (the same agent's retry or another agent takes
 * it), and a used challenge whose verification never landed leaves the anchor unverified, the
 * replay refused, and a new challenge verifying it once.
 */
describe.runIf(postgresReachable)('agent anchors killed between their steps', { timeout: 120_000 }, () => {
  const masterKey = randomBytes(32).toString('base64');
  let database: { url: string; drop: () => Promise<void> };
  let sigid: Sigid;
  const system = { actor: { type: 'system', id: 'test' } as const, correlationId: 'test' };

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const config = loadConfig({}, { databaseUrl: database.url, masterKey, dataDir: undefined, logLevel: 'silent' });
    sigid = await createSigid(config, { logger: pino({ level: 'silent' }) });
    sigid.start();
  });
  afterAll(async () => {
    await sigid?.close();
    await database?.drop();
  });

  const child = (env: Record<string, string>) =>
    runChild('agent-anchor-child.ts', { DATABASE_URL: database.url, SIGID_MASTER_KEY: masterKey, ...env });
  const settle = async () => settled(sigid);
  const count = async (tenantId: string, type: string) =>
    (
      await sigid.db.query<{ count: number }>(
        'select count(*)::int as count from sigid_events where tenant_id = $1 and event_type = $2',
        [tenantId, type],
      )
    ).rows[0]?.count;

  async function agents(tenantId: string, names: string[]) {
    const context = useCase({ tenantId, ...system });
    const organization = await createOrganization(sigid, { name: `crash-${names.length}` }, context);
    await settle();
    const rows = [];
    for (const name of names) {
      const { agentId } = await createAgent(
        sigid,
        { name, owner: { type: 'organization', id: organization.organizationId } },
        context,
      );
      await settle();
      const row = await findAgent(sigid.readModels, tenantId, agentId);
      if (!row) throw new Error('no agent');
      rows.push(row);
    }
    return { context, rows };
  }

  it('an add killed after the reservation: nothing added, and the identity is not stuck (another agent anchors it)', async () => {
    const tenantId = newId('ten');
    const { context, rows } = await agents(tenantId, ['First', 'Second']);
    const [first, second] = rows as [NonNullable<(typeof rows)[0]>, NonNullable<(typeof rows)[0]>];
    const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const did = didKeyOf(await exportJWK(publicKey));

    expect(
      await child({
        SIGID_FAILPOINTS: 'agent.anchor:after-reservation',
        AGENT_TENANT: tenantId,
        AGENT_ID: first.agent_id,
        ANCHOR_OP: 'add',
        ANCHOR_BODY: JSON.stringify({ kind: 'did_key', did }),
      }),
    ).toBe('SIGKILL');
    await settle();
    expect(await count(tenantId, 'agent.anchor.added')).toBe(0);
    expect(await listAgentAnchors(sigid.readModels, tenantId, first.agent_id)).toEqual([]);

    // The reservation names the first agent, which holds no such anchor: the second takes it over.
    const { anchorId } = await addAgentAnchor(sigid, second, { kind: 'did_key', did }, context);
    await settle();
    expect(await findAgentAnchor(sigid.readModels, tenantId, second.agent_id, anchorId)).toMatchObject({
      status: 'unverified',
    });
    // And now it is the second agent's: the first cannot take it.
    await expect(addAgentAnchor(sigid, first, { kind: 'did_key', did }, context)).rejects.toMatchObject({
      code: 'anchor_taken',
    });
    expect(await count(tenantId, 'agent.anchor.added')).toBe(1);
  });

  it('a verification killed after the challenge was used: unverified, the replay refused, a new challenge verifies once', async () => {
    const tenantId = newId('ten');
    const { context, rows } = await agents(tenantId, ['Verifier']);
    const agent = rows[0] as NonNullable<(typeof rows)[0]>;
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const did = didKeyOf(await exportJWK(publicKey));
    const { anchorId } = await addAgentAnchor(sigid, agent, { kind: 'did_key', did }, context);
    await settle();
    const anchor = await findAgentAnchor(sigid.readModels, tenantId, agent.agent_id, anchorId);
    if (!anchor) throw new Error('no anchor');
    const proofOf = (nonce: string) =>
      new CompactSign(new TextEncoder().encode(nonce)).setProtectedHeader({ alg: 'EdDSA' }).sign(privateKey);
    const first = await agentAnchorChallenge(sigid, agent, anchor, context);
    const body = { challenge: first.nonce, proof: await proofOf(first.nonce) };

    expect(
      await child({
        SIGID_FAILPOINTS: 'agent.anchor:after-challenge',
        AGENT_TENANT: tenantId,
        AGENT_ID: agent.agent_id,
        ANCHOR_OP: 'verify',
        ANCHOR_ID: anchorId,
        ANCHOR_BODY: JSON.stringify(body),
      }),
    ).toBe('SIGKILL');
    await settle();
    expect(await count(tenantId, 'agent.anchor.verified')).toBe(0);
    expect(await findAgentAnchor(sigid.readModels, tenantId, agent.agent_id, anchorId)).toMatchObject({
      status: 'unverified',
    });

    await expect(verifyAgentAnchor(sigid, agent, anchor, body, context)).rejects.toMatchObject({
      code: 'challenge_used',
    });
    const second = await agentAnchorChallenge(sigid, agent, anchor, context);
    await verifyAgentAnchor(
      sigid,
      agent,
      anchor,
      { challenge: second.nonce, proof: await proofOf(second.nonce) },
      context,
    );
    await settle();
    expect(await findAgentAnchor(sigid.readModels, tenantId, agent.agent_id, anchorId)).toMatchObject({
      status: 'verified',
    });
    expect(await count(tenantId, 'agent.anchor.verified')).toBe(1);
  });
});
