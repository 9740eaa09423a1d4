import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Address, Hex, PublicClient, WalletClient } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchorChallengeTypedData, verifyErc8004 } from '../src/agents/anchors/index.ts';
import { parseAllowlist } from '../src/webhooks/ssrf.ts';
import { dataUri, registrationFile as registrationFileOf, startChain, type TestChain } from './support/evm.ts';

/**
 * ERC-8004 anchors against a real EVM: Hardhat 3's in-process network (EDR), the Identity Registry
 * fixture compiled by solc-js (test/support/evm.ts), read by the verifier through viem. Nothing of
 * the chain is mocked.
 */

let evm: TestChain;
let chain: PublicClient;
let wallet: WalletClient;
let chainId: number;
let owner: Address;
let otherOwner: Address;
let registry: Address;
let rpcUrl: string;
let fileServer: Server;
let filePort: number;
const agentWallet = privateKeyToAccount(generatePrivateKey());
const stranger = privateKeyToAccount(generatePrivateKey());
const challenge = 'sigid-anchor-challenge:agt_01J0:anc_01J0:2026-12-03T08:00:00Z:nonce-7f3a';

const registrationFile = (agentId: number | string) => registrationFileOf(agentId, registry, chainId);

const anchorOf = (agentId: bigint | number, registryAddress: Address = registry) => ({
  agentRegistry: `eip155:${chainId}:${registryAddress}`,
  agentId: agentId.toString(),
});

let agent: bigint; // owner's agent, wallet set to agentWallet, registration file as a data: URI
let otherAgent: bigint; // otherOwner's agent
let mismatched: bigint; // owner's agent whose registration file names `agent`, not itself
let fetchedAgent: bigint; // owner's agent whose registration file is served over http
let transferred: bigint; // had agentWallet as wallet, then transferred to otherOwner

beforeAll(async () => {
  evm = await startChain();
  ({ chain, wallet, chainId, registry, rpcUrl } = evm);
  [owner, otherOwner] = evm.accounts as [Address, Address];

  fileServer = createServer((request, response) => {
    if (request.url === '/agent.json') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(registrationFile(Number(fetchedAgent))));
    } else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => fileServer.listen(0, '127.0.0.1', resolve));
  filePort = (fileServer.address() as AddressInfo).port;

  agent = await evm.register(owner, dataUri(registrationFile(0)));
  expect(agent).toBe(0n);
  await evm.setAgentWallet(agent, owner, agentWallet);
  otherAgent = await evm.register(otherOwner, dataUri(registrationFile(1)));
  mismatched = await evm.register(owner, dataUri(registrationFile(0)));
  fetchedAgent = await evm.register(owner, `http://files.test:${filePort}/agent.json`);
  transferred = await evm.register(owner, dataUri(registrationFile(4)));
  await evm.setAgentWallet(transferred, owner, agentWallet);
  await evm.transfer(transferred, owner, otherOwner);
}, 60_000);

afterAll(async () => {
  await evm?.close();
  await new Promise((resolve) => fileServer?.close(resolve));
});

const personalSign = (account: Address, message = challenge) => wallet.signMessage({ account, message });
const typedSign = (agentId: bigint, message = challenge) =>
  agentWallet.signTypedData(anchorChallengeTypedData({ chainId, registry, agentId }, message));

describe('ERC-8004 anchor: the agent entry is read from the Identity Registry and control is proven by a signature', () => {
  it('accepts an EIP-191 personal_sign of the challenge by the owner, and returns what the chain says', async () => {
    const result = await verifyErc8004(
      anchorOf(agent),
      challenge,
      { scheme: 'eip191', signature: await personalSign(owner) },
      { rpc: chain },
    );
    expect(result).toMatchObject({
      ok: true,
      value: {
        chainId,
        registry,
        agentId: '0',
        signer: 'owner',
        scheme: 'eip191',
        agentUri: expect.stringMatching(/^data:application\/json;base64,/),
        registrationFileSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    if (!result.ok) return;
    expect(result.value.owner.toLowerCase()).toBe(owner.toLowerCase());
    expect(result.value.signerAddress.toLowerCase()).toBe(owner.toLowerCase());
    expect(result.value.agentWallet).toBe(agentWallet.address);
  });

  it('accepts an EIP-712 SigID challenge signed by the agent wallet, over an HTTP RPC endpoint', async () => {
    const result = await verifyErc8004(
      anchorOf(agent),
      challenge,
      { scheme: 'eip712', signature: await typedSign(agent) },
      { rpc: rpcUrl },
    );
    expect(result).toMatchObject({
      ok: true,
      value: { signer: 'agent_wallet', signerAddress: agentWallet.address, scheme: 'eip712' },
    });
  });

  it('accepts the EIP-712 message signed by the owner, and EIP-191 by the agent wallet', async () => {
    const typed = await wallet.signTypedData({
      account: owner,
      ...anchorChallengeTypedData({ chainId, registry, agentId: agent }, challenge),
    });
    expect(
      await verifyErc8004(anchorOf(agent), challenge, { scheme: 'eip712', signature: typed }, { rpc: chain }),
    ).toMatchObject({
      ok: true,
      value: { signer: 'owner' },
    });
    const personal = await agentWallet.signMessage({ message: challenge });
    expect(
      await verifyErc8004(anchorOf(agent), challenge, { scheme: 'eip191', signature: personal }, { rpc: chain }),
    ).toMatchObject({
      ok: true,
      value: { signer: 'agent_wallet' },
    });
  });

  it('fetches a registration file behind an http(s) agent URI through the SSRF guard', async () => {
    const proof = { scheme: 'eip191', signature: await personalSign(owner) };
    const resolve = async (host: string) => (host === 'files.test' ? ['127.0.0.1'] : []);
    const allowed = { allowlist: parseAllowlist('files.test'), resolve, plainHttpForAllowlisted: true };
    expect(await verifyErc8004(anchorOf(fetchedAgent), challenge, proof, { rpc: chain, fetch: allowed })).toMatchObject(
      {
        ok: true,
        value: { agentUri: `http://files.test:${filePort}/agent.json` },
      },
    );
    // Without the development allowance plain http is refused; without the allowlist the address is.
    expect(
      await verifyErc8004(anchorOf(fetchedAgent), challenge, proof, {
        rpc: chain,
        fetch: { ...allowed, plainHttpForAllowlisted: false },
      }),
    ).toMatchObject({
      ok: false,
      code: 'https_required',
    });
    const rebound = { resolve, allowlist: parseAllowlist('') };
    await evm.setAgentUri(fetchedAgent, owner, `https://files.test:${filePort}/agent.json`);
    expect(await verifyErc8004(anchorOf(fetchedAgent), challenge, proof, { rpc: chain, fetch: rebound })).toMatchObject(
      {
        ok: false,
        code: 'forbidden_address',
      },
    );
    await evm.setAgentUri(fetchedAgent, owner, 'ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi');
    expect(await verifyErc8004(anchorOf(fetchedAgent), challenge, proof, { rpc: chain, fetch: allowed })).toMatchObject(
      {
        ok: false,
        code: 'https_required',
      },
    );
  });

  it('refuses a signature by anyone but the owner or the agent wallet', async () => {
    const byStranger = await stranger.signMessage({ message: challenge });
    expect(
      await verifyErc8004(anchorOf(agent), challenge, { scheme: 'eip191', signature: byStranger }, { rpc: chain }),
    ).toMatchObject({
      ok: false,
      code: 'not_the_owner',
    });
    const typedByStranger = await stranger.signTypedData(
      anchorChallengeTypedData({ chainId, registry, agentId: agent }, challenge),
    );
    expect(
      await verifyErc8004(anchorOf(agent), challenge, { scheme: 'eip712', signature: typedByStranger }, { rpc: chain }),
    ).toMatchObject({
      ok: false,
      code: 'not_the_owner',
    });
  });

  it('refuses a signature of another message, or of the typed data of another agent', async () => {
    const otherChallenge = await personalSign(owner, `${challenge}-old`);
    expect(
      await verifyErc8004(anchorOf(agent), challenge, { scheme: 'eip191', signature: otherChallenge }, { rpc: chain }),
    ).toMatchObject({
      ok: false,
      code: 'not_the_owner',
    });
    const forOtherAgent = await typedSign(mismatched);
    expect(
      await verifyErc8004(anchorOf(agent), challenge, { scheme: 'eip712', signature: forOtherAgent }, { rpc: chain }),
    ).toMatchObject({
      ok: false,
      code: 'not_the_owner',
    });
  });

  it("refuses the owner's signature for another owner's agent id", async () => {
    const result = await verifyErc8004(
      anchorOf(otherAgent),
      challenge,
      { scheme: 'eip191', signature: await personalSign(owner) },
      { rpc: chain },
    );
    expect(result).toMatchObject({ ok: false, code: 'not_the_owner' });
    // and the other owner's own signature passes: the refusal was about the signer, not the agent
    const own = await verifyErc8004(
      anchorOf(otherAgent),
      challenge,
      { scheme: 'eip191', signature: await personalSign(otherOwner) },
      { rpc: chain },
    );
    expect(own).toMatchObject({ ok: true, value: { signer: 'owner' } });
  });

  it('refuses the former agent wallet once the agent is transferred (the registry clears it)', async () => {
    const result = await verifyErc8004(
      anchorOf(transferred),
      challenge,
      { scheme: 'eip712', signature: await typedSign(transferred) },
      { rpc: chain },
    );
    expect(result).toMatchObject({ ok: false, code: 'not_the_owner' });
  });

  it('refuses an agent id the registry does not know', async () => {
    const result = await verifyErc8004(
      anchorOf(999),
      challenge,
      { scheme: 'eip191', signature: await personalSign(owner) },
      { rpc: chain },
    );
    expect(result).toMatchObject({ ok: false, code: 'agent_not_found' });
  });

  it('refuses an agent whose registration file does not name it', async () => {
    const result = await verifyErc8004(
      anchorOf(mismatched),
      challenge,
      { scheme: 'eip191', signature: await personalSign(owner) },
      { rpc: chain },
    );
    expect(result).toMatchObject({ ok: false, code: 'registration_mismatch' });
  });

  it('refuses a registry address with no contract, and a chain the RPC does not serve', async () => {
    const signature = await personalSign(owner);
    expect(
      await verifyErc8004(
        anchorOf(agent, stranger.address),
        challenge,
        { scheme: 'eip191', signature },
        { rpc: chain },
      ),
    ).toMatchObject({
      ok: false,
      code: 'not_a_registry',
    });
    const otherChain = { agentRegistry: `eip155:1:${registry}`, agentId: '0' };
    expect(await verifyErc8004(otherChain, challenge, { scheme: 'eip191', signature }, { rpc: chain })).toMatchObject({
      ok: false,
      code: 'registry_unreachable',
    });
  });

  it('refuses with registry_unreachable, quickly, when the RPC endpoint is down', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const started = Date.now();
    const result = await verifyErc8004(
      anchorOf(agent),
      challenge,
      { scheme: 'eip191', signature: await personalSign(owner) },
      {
        rpc: `http://127.0.0.1:${port}`,
        rpcTimeoutMs: 1000,
      },
    );
    expect(result).toMatchObject({ ok: false, code: 'registry_unreachable' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(
      await verifyErc8004(anchorOf(agent), challenge, { scheme: 'eip191', signature: '0x00' }, { rpc: undefined }),
    ).toMatchObject({
      ok: false,
      code: 'malformed_proof',
    });
  });

  it('refuses malformed anchors and proofs before touching the chain', async () => {
    const signature = await personalSign(owner);
    for (const anchor of [
      null,
      { agentRegistry: `eip155:${chainId}:0x1234`, agentId: '0' },
      { agentRegistry: `solana:${chainId}:${registry}`, agentId: '0' },
      { agentRegistry: `eip155:${chainId}:${registry}`, agentId: '-1' },
      { agentRegistry: `eip155:${chainId}:${registry}`, agentId: '0x10' },
      { agentRegistry: `eip155:${chainId}:${registry}`, agentId: `1${'0'.repeat(78)}` },
    ]) {
      expect(await verifyErc8004(anchor, challenge, { scheme: 'eip191', signature }, { rpc: chain })).toMatchObject({
        ok: false,
        code: 'malformed_anchor',
      });
    }
    for (const proof of [
      signature,
      { scheme: 'eip191' },
      { scheme: 'eip4361', signature },
      { scheme: 'eip191', signature: `${signature}00` },
    ]) {
      expect(await verifyErc8004(anchorOf(agent), challenge, proof, { rpc: chain })).toMatchObject({
        ok: false,
        code: 'malformed_proof',
      });
    }
    const notRecoverable = `0x${'00'.repeat(64)}1b` as Hex;
    expect(
      await verifyErc8004(anchorOf(agent), challenge, { scheme: 'eip191', signature: notRecoverable }, { rpc: chain }),
    ).toMatchObject({
      ok: false,
      code: 'bad_signature',
    });
  });
});
