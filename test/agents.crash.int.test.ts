import { randomBytes } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAgentKey } from '../read-models/agent-keys.ts';
import { findAgent } from '../read-models/agents.ts';
import { agentKeyChallenge, createAgent, registerAgentKey } from '../services/agents.ts';
import { useCase } from '../services/context.ts';
import { createOrganization } from '../services/organizations.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { createSigid, type Sigid } from '../src/sigid.ts';
import { runChild } from './support/crash-child.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { settled } from './support/settled.ts';

/**
 * Registering an agent key is two durable steps: the challenge is used (one conditional UPDATE), then
 * `agent.key.registered` is appended. A process killed between them (SIGKILL at
 * `agent.key:after-challenge`) leaves no key and a used challenge: the same proof again is refused as
 * a replay (`challenge_used`), and a new challenge registers the key, once.
 */
describe.runIf(postgresReachable)('agent key registration killed between its steps', { timeout: 120_000 }, () => {
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
    runChild('agent-key-child.ts', {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: masterKey,
      ...env,
    });

  const settle = async () => settled(sigid);

  it('leaves no key and a used challenge; the replay is refused, a new challenge registers the key once', async () => {
    const tenantId = newId('ten');
    const context = useCase({ tenantId, ...system });
    const organization = await createOrganization(sigid, { name: 'crash-team' }, context);
    await settle();
    const { agentId } = await createAgent(
      sigid,
      { name: 'Crash bot', owner: { type: 'organization', id: organization.organizationId } },
      context,
    );
    await settle();
    const row = await findAgent(sigid.readModels, tenantId, agentId);
    if (!row) throw new Error('no agent');
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const proofOf = (nonce: string) =>
      new CompactSign(new TextEncoder().encode(nonce)).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    const first = await agentKeyChallenge(sigid, row, context);
    const body = { jwk, challenge: first.nonce, proof: await proofOf(first.nonce) };

    expect(
      await child({
        SIGID_FAILPOINTS: 'agent.key:after-challenge',
        AGENT_TENANT: tenantId,
        AGENT_ID: agentId,
        AGENT_KEY_BODY: JSON.stringify(body),
      }),
    ).toBe('SIGKILL');
    await settle();
    const { rows } = await sigid.db.query<{ used: boolean; keys: number }>(
      `select (select used_at is not null from agent_challenges where tenant_id = $1 and challenge_id = $2) as used,
              (select count(*)::int from sigid_events where tenant_id = $1 and event_type = 'agent.key.registered') as keys`,
      [tenantId, first.challenge_id],
    );
    expect(rows[0]).toEqual({ used: true, keys: 0 });

    await expect(registerAgentKey(sigid, row, body as never, context)).rejects.toMatchObject({
      code: 'challenge_used',
    });
    const second = await agentKeyChallenge(sigid, row, context);
    const { kid } = await registerAgentKey(
      sigid,
      row,
      { jwk: jwk as never, challenge: second.nonce, proof: await proofOf(second.nonce) },
      context,
    );
    await settle();
    expect(await findAgentKey(sigid.readModels, tenantId, agentId, kid)).toMatchObject({ status: 'active' });
    const after = await sigid.db.query<{ count: number }>(
      `select count(*)::int as count from sigid_events where tenant_id = $1 and event_type = 'agent.key.registered'`,
      [tenantId],
    );
    expect(after.rows[0]?.count).toBe(1);
  });
});
