import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHardhatRuntimeEnvironment } from 'hardhat/hre';
import solc from 'solc';
import {
  type Abi,
  type Address,
  createPublicClient,
  createWalletClient,
  custom,
  getAddress,
  type Hex,
  type PublicClient,
  parseAbi,
  type WalletClient,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anchorChallengeTypedData, verifyErc8004 } from '../src/agents/anchors/index.ts';
import { parseAllowlist } from '../src/webhooks/ssrf.ts';

/**
 * ERC-8004 anchors against a real EVM: Hardhat 3's in-process network (EDR), the Identity Registry
 * fixture compiled by solc-js here, read by the verifier through viem. Nothing of the chain is mocked.
 */

type Connection = Awaited<
  ReturnType<Awaited<ReturnType<typeof createHardhatRuntimeEnvironment>>['network']['connect']>
>;

let connection: Connection;
let chain: PublicClient;
let wallet: WalletClient;
let chainId: number;
let owner: Address;
let otherOwner: Address;
let registry: Address;
let rpcServer: Server;
let rpcUrl: string;
let fileServer: Server;
let filePort: number;
const agentWallet = privateKeyToAccount(generatePrivateKey());
const stranger = privateKeyToAccount(generatePrivateKey());
const challenge = 'sigid-anchor-challenge:agt_01J0:anc_01J0:2026-12-03T08:00:00Z:nonce-7f3a';

const registryAbi = parseAbi([
  'function register(string agentURI) returns (uint256)',
  'function setAgentWallet(uint256 agentId, address newWallet, uint256 deadline, bytes signature)',
  'function setAgentURI(uint256 agentId, string newURI)',
  'function transferFrom(address from, address to, uint256 agentId)',
]);

function compileRegistry(): { abi: Abi; bytecode: Hex } {
  const input = {
    language: 'Solidity',
    sources: { 'IdentityRegistry.sol': { content: readFileSync('test/fixtures/IdentityRegistry.sol', 'utf8') } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors ?? []).filter((error: { severity: string }) => error.severity === 'error');
  if (errors.length > 0)
    throw new Error(errors.map((error: { formattedMessage: string }) => error.formattedMessage).join('\n'));
  const contract = output.contracts['IdentityRegistry.sol'].IdentityRegistry;
  return { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
}

const dataUri = (json: unknown) =>
  `data:application/json;base64,${Buffer.from(JSON.stringify(json)).toString('base64')}`;
const registrationFile = (agentId: number | string, registryAddress = registry, chain = chainId) => ({
  type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
  name: 'Test agent',
  services: [{ name: 'A2A', endpoint: 'https://agent.example/.well-known/agent-card.json' }],
  registrations: [{ agentId, agentRegistry: `eip155:${chain}:${registryAddress}` }],
  supportedTrust: ['reputation'],
});

async function send(hash: Promise<Hex>): Promise<void> {
  const receipt = await chain.waitForTransactionReceipt({ hash: await hash });
  if (receipt.status !== 'success') throw new Error('transaction reverted');
}

async function register(from: Address, agentUri: string): Promise<bigint> {
  const { result, request } = await chain.simulateContract({
    account: from,
    address: registry,
    abi: registryAbi,
    functionName: 'register',
    args: [agentUri],
  });
  await send(wallet.writeContract({ ...request, account: from, chain: null }));
  return result;
}

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
  const hre = await createHardhatRuntimeEnvironment({}, {}, process.cwd());
  connection = await hre.network.connect();
  const transport = custom(connection.provider, { retryCount: 0 });
  chain = createPublicClient({ transport, pollingInterval: 20 });
  wallet = createWalletClient({ transport, pollingInterval: 20 });
  chainId = await chain.getChainId();
  [owner, otherOwner] = (await wallet.getAddresses()) as [Address, Address];

  const { abi, bytecode } = compileRegistry();
  const hash = await wallet.deployContract({ abi, bytecode, account: owner, chain: null });
  const receipt = await chain.waitForTransactionReceipt({ hash });
  registry = getAddress(receipt.contractAddress as Address);

  fileServer = createServer((request, response) => {
    if (request.url === '/agent.json') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(registrationFile(Number(fetchedAgent))));
    } else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => fileServer.listen(0, '127.0.0.1', resolve));
  filePort = (fileServer.address() as AddressInfo).port;

  // The chain over HTTP JSON-RPC too, as an operator's RPC endpoint would be.
  rpcServer = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const call = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      let answer: unknown;
      try {
        answer = { jsonrpc: '2.0', id: call.id, result: await connection.provider.request(call) };
      } catch (error) {
        const { code = -32603, message = 'error', data } = error as { code?: number; message?: string; data?: unknown };
        answer = { jsonrpc: '2.0', id: call.id, error: { code, message, data } };
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify(answer, (_key, value) => (typeof value === 'bigint' ? `0x${value.toString(16)}` : value)),
      );
    });
  });
  await new Promise<void>((resolve) => rpcServer.listen(0, '127.0.0.1', resolve));
  rpcUrl = `http://127.0.0.1:${(rpcServer.address() as AddressInfo).port}`;

  agent = await register(owner, dataUri(registrationFile(0)));
  expect(agent).toBe(0n);
  const block = await chain.getBlock();
  const deadline = block.timestamp + 120n;
  const setWallet = async (agentId: bigint) => {
    const signature = await agentWallet.signTypedData({
      domain: { name: 'ERC8004IdentityRegistry', version: '1', chainId, verifyingContract: registry },
      types: {
        AgentWalletSet: [
          { name: 'agentId', type: 'uint256' },
          { name: 'newWallet', type: 'address' },
          { name: 'owner', type: 'address' },
          { name: 'deadline', type: 'uint256' },
        ],
      },
      primaryType: 'AgentWalletSet',
      message: { agentId, newWallet: agentWallet.address, owner, deadline },
    });
    await send(
      wallet.writeContract({
        address: registry,
        abi: registryAbi,
        functionName: 'setAgentWallet',
        args: [agentId, agentWallet.address, deadline, signature],
        account: owner,
        chain: null,
      }),
    );
  };
  await setWallet(agent);
  otherAgent = await register(otherOwner, dataUri(registrationFile(1)));
  mismatched = await register(owner, dataUri(registrationFile(0)));
  fetchedAgent = await register(owner, `http://files.test:${filePort}/agent.json`);
  transferred = await register(owner, dataUri(registrationFile(4)));
  await setWallet(transferred);
  await send(
    wallet.writeContract({
      address: registry,
      abi: registryAbi,
      functionName: 'transferFrom',
      args: [owner, otherOwner, transferred],
      account: owner,
      chain: null,
    }),
  );
}, 60_000);

afterAll(async () => {
  await connection?.close();
  await new Promise((resolve) => rpcServer?.close(resolve));
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
    await send(
      wallet.writeContract({
        address: registry,
        abi: registryAbi,
        functionName: 'setAgentURI',
        args: [fetchedAgent, `https://files.test:${filePort}/agent.json`],
        account: owner,
        chain: null,
      }),
    );
    expect(await verifyErc8004(anchorOf(fetchedAgent), challenge, proof, { rpc: chain, fetch: rebound })).toMatchObject(
      {
        ok: false,
        code: 'forbidden_address',
      },
    );
    await send(
      wallet.writeContract({
        address: registry,
        abi: registryAbi,
        functionName: 'setAgentURI',
        args: [fetchedAgent, 'ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'],
        account: owner,
        chain: null,
      }),
    );
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
