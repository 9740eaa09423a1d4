import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { type Address, getAddress, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchorChallengeTypedData } from '../src/agents/anchors/index.ts';
import { registerAgentKey } from './support/agent-credentials.ts';
import { dataUri, registrationFile, startChain, type TestChain } from './support/evm.ts';
import { startSigid, type TestSigid } from './support/sigid.ts';

type Tenant = Awaited<ReturnType<TestSigid['createTenant']>>;

/**
 * ERC-8004 anchors through `/api/v1/agents/{id}/anchors` against a real SigID (PGlite) and a real
 * EVM (Hardhat 3's in-process network with the Identity Registry fixture, test/support/evm.ts),
 * which SigID reads over HTTP JSON-RPC as configured (`chainRpcUrls`): an entry added unverified,
 * proven by the owner's EIP-191 or the agent wallet's EIP-712 signature of the challenge, and then
 * enough for the agent's own token; a stranger's signature, an unknown entry and an unconfigured
 * chain refused with a 422 that writes nothing; a transfer on chain making the former owner's and
 * wallet's signatures worthless; a revoked anchor getting no challenge.
 */
describe('ERC-8004 anchors through the API', () => {
  let evm: TestChain;
  let t: TestSigid;
  let server: Server;
  let base: string;
  let tenant: Tenant;
  let organizationId: string;
  let apiId: string;
  let owner: Address;
  let newOwner: Address;
  const agentWallet = privateKeyToAccount(generatePrivateKey());
  const stranger = privateKeyToAccount(generatePrivateKey());
  const identifier = 'https://billing.example.com/api';
  const auth = () => `Bearer ${tenant.key}`;

  beforeAll(async () => {
    evm = await startChain();
    [owner, newOwner] = evm.accounts as [Address, Address];
    t = await startSigid({ config: { chainRpcUrls: { [evm.chainId]: evm.rpcUrl } } });
    server = createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t.sigid.config.publicUrl = base;
    tenant = await t.createTenant('ERC-8004 anchors');
    organizationId = (
      await t.http.post('/api/v1/organizations').set('Authorization', auth()).send({ name: 'chain-team' }).expect(201)
    ).body.id;
    apiId = (
      await t.http
        .post('/api/v1/apis')
        .set('Authorization', auth())
        .send({ name: 'Billing', identifier, scopes: [{ value: 'invoices:read' }] })
        .expect(201)
    ).body.id;
  }, 60_000);
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
    await evm?.close();
  });

  async function count(sql: string): Promise<number> {
    const { rows } = await t.sigid.db.query<{ count: number }>(sql);
    return rows[0]?.count ?? 0;
  }
  const footprint = async () => ({
    events: await count('select count(*)::int as count from sigid_events'),
    anchors: await count('select count(*)::int as count from agent_anchors'),
  });

  /** An entry of `from` on the registry whose registration file (a data: URI) names it, optionally with an agent wallet. */
  async function entry(from: Address, wallet?: typeof agentWallet): Promise<bigint> {
    const next = await evm.register(from, '');
    await evm.setAgentUri(next, from, dataUri(registrationFile(next, evm.registry, evm.chainId)));
    if (wallet) await evm.setAgentWallet(next, from, wallet);
    return next;
  }

  async function newAgent(name = 'On-chain bot') {
    const created = await t.http
      .post('/api/v1/agents')
      .set('Authorization', auth())
      .send({
        name,
        owner: { type: 'organization', id: organizationId },
        allowed_scopes: [{ api_id: apiId, scopes: ['invoices:read'] }],
      })
      .expect(201);
    return created.body.id as string;
  }

  const addErc8004 = (agentId: string, entryId: bigint | string, chainId = evm.chainId, registry = evm.registry) =>
    t.http
      .post(`/api/v1/agents/${agentId}/anchors`)
      .set('Authorization', auth())
      .send({ kind: 'erc8004', chain_id: chainId, registry, agent_id: entryId.toString() });
  const challenge = async (agentId: string, anchorId: string) => {
    const issued = await t.http
      .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/challenges`)
      .set('Authorization', auth())
      .send({});
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    return issued.body.nonce as string;
  };
  const verify = (agentId: string, anchorId: string, nonce: string, proof: { scheme: string; signature: Hex }) =>
    t.http
      .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/verify`)
      .set('Authorization', auth())
      .send({ challenge: nonce, proof });
  const anchorOf = async (agentId: string, anchorId: string) =>
    (await t.http.get(`/api/v1/agents/${agentId}/anchors/${anchorId}`).set('Authorization', auth()).expect(200)).body;

  /** EIP-191 personal_sign of the nonce by one of the chain's unlocked accounts (an owner). */
  const personalSign = async (account: Address, nonce: string) => ({
    scheme: 'eip191',
    signature: await evm.wallet.signMessage({ account, message: nonce }),
  });
  /** EIP-712 `anchorChallengeTypedData` of the nonce for this entry, signed by a local account. */
  const typedSign = async (account: typeof agentWallet, entryId: bigint, nonce: string) => ({
    scheme: 'eip712',
    signature: await account.signTypedData(
      anchorChallengeTypedData({ chainId: evm.chainId, registry: evm.registry, agentId: entryId }, nonce),
    ),
  });

  it("verifies the owner's EIP-191 signature of the challenge, records it, and the anchor alone gets the agent a token", async () => {
    const entryId = await entry(owner, agentWallet);
    const agentId = await newAgent();
    const key = await registerAgentKey(t.http, auth(), agentId);
    const added = await addErc8004(agentId, entryId, evm.chainId, evm.registry.toLowerCase() as Address);
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body).toMatchObject({
      object: 'agent_anchor',
      agent_id: agentId,
      kind: 'erc8004',
      anchor: { kind: 'erc8004', chain_id: evm.chainId, registry: evm.registry, agent_id: entryId.toString() },
      value: `eip155:${evm.chainId}:${evm.registry}#${entryId}`,
      status: 'unverified',
      verified_at: null,
      evidence: null,
    });
    const anchorId = added.body.id as string;

    // Registered key, unverified anchor: no client yet.
    const client = await oauth.discovery(
      new URL(`${base}/t/${tenant.slug}`),
      agentId,
      undefined,
      oauth.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
      { execute: [oauth.allowInsecureRequests] },
    );
    const grant = () => oauth.clientCredentialsGrant(client, { scope: 'invoices:read', resource: identifier });
    await expect(grant()).rejects.toMatchObject({ error: 'invalid_client' });

    const nonce = await challenge(agentId, anchorId);
    const proof = await personalSign(owner, nonce);
    const verified = await verify(agentId, anchorId, nonce, proof);
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body).toMatchObject({
      status: 'verified',
      evidence: {
        kind: 'erc8004',
        owner: getAddress(owner),
        agent_wallet: agentWallet.address,
        agent_uri: expect.stringMatching(/^data:application\/json;base64,/),
        registration_file_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        signer: 'owner',
        signer_address: getAddress(owner),
        scheme: 'eip191',
      },
    });
    expect(Date.parse(verified.body.verified_at)).toBeGreaterThan(0);
    expect(await anchorOf(agentId, anchorId)).toMatchObject({ kind: 'erc8004', status: 'verified' });

    const audit = await t.http
      .get(`/api/v1/audit-logs?target=${agentId}&order=asc`)
      .set('Authorization', auth())
      .expect(200);
    expect(audit.body.data.map((record: { action: string }) => record.action)).toEqual([
      'agent.created',
      'agent.key.registered',
      'agent.anchor.added',
      'agent.anchor.verified',
    ]);
    expect(audit.body.data[3].data).toMatchObject({ anchor_id: anchorId, evidence: { signer: 'owner' } });
    // What was proven is recorded, never the proof.
    expect(JSON.stringify(audit.body)).not.toContain(proof.signature.slice(2));
    expect(JSON.stringify(audit.body)).not.toContain(nonce);

    // The verified ERC-8004 anchor is the agent's only one, and enough for a token as itself.
    const tokens = await grant();
    const issuer = `${base}/t/${tenant.slug}`;
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${issuer}/jwks`)), {
      issuer,
      audience: identifier,
    });
    expect([payload.sub, payload.subject_type, payload.scope]).toEqual([agentId, 'agent', 'invoices:read']);
  });

  it("refuses a stranger's signature with 422 not_the_owner, writes nothing, and the agent wallet's EIP-712 then passes", async () => {
    const entryId = await entry(owner, agentWallet);
    const agentId = await newAgent();
    const anchorId = (await addErc8004(agentId, entryId).expect(201)).body.id as string;
    const nonce = await challenge(agentId, anchorId);
    const before = await footprint();
    for (const proof of [
      { scheme: 'eip191', signature: await stranger.signMessage({ message: nonce }) },
      await typedSign(stranger, entryId, nonce),
      // The agent wallet's typed data for another entry proves nothing for this one.
      await typedSign(agentWallet, entryId + 1n, nonce),
    ]) {
      const refused = await verify(agentId, anchorId, nonce, proof);
      expect([refused.status, refused.body.code], JSON.stringify(refused.body)).toEqual([422, 'not_the_owner']);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.body.detail).toMatch(/neither the agent's owner nor its agent wallet/);
    }
    expect(await footprint()).toEqual(before);
    expect(await anchorOf(agentId, anchorId)).toMatchObject({
      status: 'unverified',
      verified_at: null,
      evidence: null,
    });
    // The refusals left the challenge usable: the agent wallet answers it.
    const verified = await verify(agentId, anchorId, nonce, await typedSign(agentWallet, entryId, nonce));
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body).toMatchObject({
      status: 'verified',
      evidence: { signer: 'agent_wallet', signer_address: agentWallet.address, scheme: 'eip712' },
    });
  });

  it('refuses to verify an entry the registry does not know, and one on a chain SigID has no RPC endpoint for: 422, nothing written', async () => {
    const known = await entry(owner);
    const agentId = await newAgent();
    // Adding reads no chain (the anchor is unverified until proven); verifying does.
    const unknown = (await addErc8004(agentId, 999_999n).expect(201)).body.id as string;
    const elsewhere = (await addErc8004(agentId, known, 1).expect(201)).body.id as string;
    const cases: Array<[string, string]> = [
      [unknown, 'registry_agent_not_found'],
      [elsewhere, 'registry_unreachable'],
    ];
    for (const [anchorId, code] of cases) {
      const nonce = await challenge(agentId, anchorId);
      const before = await footprint();
      const refused = await verify(agentId, anchorId, nonce, await personalSign(owner, nonce));
      expect([refused.status, refused.body.code], JSON.stringify(refused.body)).toEqual([422, code]);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(await footprint()).toEqual(before);
      expect((await anchorOf(agentId, anchorId)).status).toBe('unverified');
    }
    // The same entry on the configured chain verifies with the same signer: the refusals were the chain's.
    const here = (await addErc8004(agentId, known).expect(201)).body.id as string;
    const nonce = await challenge(agentId, here);
    await verify(agentId, here, nonce, await personalSign(owner, nonce)).expect(200);
  });

  it("follows a transfer on chain (the former owner's and wallet's signatures refused, the new owner's accepted); a revoked anchor gets no challenge", async () => {
    const entryId = await entry(owner, agentWallet);
    const agentId = await newAgent();
    const anchorId = (await addErc8004(agentId, entryId).expect(201)).body.id as string;
    const first = await challenge(agentId, anchorId);
    await verify(agentId, anchorId, first, await typedSign(agentWallet, entryId, first)).expect(200);

    await evm.transfer(entryId, owner, newOwner);
    const nonce = await challenge(agentId, anchorId);
    const before = await footprint();
    for (const proof of [await personalSign(owner, nonce), await typedSign(agentWallet, entryId, nonce)]) {
      const refused = await verify(agentId, anchorId, nonce, proof);
      expect([refused.status, refused.body.code], JSON.stringify(refused.body)).toEqual([422, 'not_the_owner']);
    }
    expect(await footprint()).toEqual(before);
    const reverified = await verify(agentId, anchorId, nonce, await personalSign(newOwner, nonce));
    expect(reverified.status, JSON.stringify(reverified.body)).toBe(200);
    expect(reverified.body.evidence).toMatchObject({
      owner: getAddress(newOwner),
      agent_wallet: null,
      signer: 'owner',
      signer_address: getAddress(newOwner),
    });

    const pending = await challenge(agentId, anchorId);
    const revoked = await t.http
      .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/revoke`)
      .set('Authorization', auth())
      .send({})
      .expect(200);
    expect(revoked.body).toMatchObject({ kind: 'erc8004', status: 'revoked', revocation_reason: 'revoked' });
    expect(Date.parse(revoked.body.revoked_at)).toBeGreaterThan(0);
    const again = await t.http
      .post(`/api/v1/agents/${agentId}/anchors/${anchorId}/challenges`)
      .set('Authorization', auth())
      .send({});
    expect([again.status, again.body.code]).toEqual([409, 'agent_anchor_revoked']);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    // A challenge issued before the revocation verifies nothing either.
    const late = await verify(agentId, anchorId, pending, await personalSign(newOwner, pending));
    expect([late.status, late.body.code]).toEqual([409, 'agent_anchor_revoked']);
    expect((await anchorOf(agentId, anchorId)).status).toBe('revoked');
  });
});
