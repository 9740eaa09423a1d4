import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
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
  type LocalAccount,
  type PublicClient,
  parseAbi,
  type WalletClient,
} from 'viem';

type Connection = Awaited<
  ReturnType<Awaited<ReturnType<typeof createHardhatRuntimeEnvironment>>['network']['connect']>
>;

/** A real EVM (Hardhat 3's in-process network, EDR) with the ERC-8004 Identity Registry fixture deployed. */
export interface TestChain {
  chainId: number;
  /** A viem client straight on the in-process provider. */
  chain: PublicClient;
  wallet: WalletClient;
  /** The network's unlocked accounts (they sign through the provider). */
  accounts: Address[];
  /** The deployed `test/fixtures/IdentityRegistry.sol`. */
  registry: Address;
  /** The same chain over HTTP JSON-RPC, as an operator's RPC endpoint would serve it. */
  rpcUrl: string;
  /** Registers an agent owned by `from` with this agent URI; its agent id. */
  register(from: Address, agentUri: string): Promise<bigint>;
  /** Sets the agent's wallet, with the wallet's EIP-712 `AgentWalletSet` signature, as its owner. */
  setAgentWallet(agentId: bigint, owner: Address, agentWallet: LocalAccount): Promise<void>;
  setAgentUri(agentId: bigint, owner: Address, agentUri: string): Promise<void>;
  /** Transfers the agent's entry (the registry clears its agent wallet). */
  transfer(agentId: bigint, from: Address, to: Address): Promise<void>;
  close(): Promise<void>;
}

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

/** `data:application/json;base64,…` of the JSON: a registration file read in place, no server needed. */
export const dataUri = (json: unknown) =>
  `data:application/json;base64,${Buffer.from(JSON.stringify(json)).toString('base64')}`;

/** An ERC-8004 registration file listing the agent under `eip155:<chainId>:<registry>`. */
export const registrationFile = (agentId: number | string | bigint, registry: Address, chainId: number) => ({
  type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
  name: 'Test agent',
  services: [{ name: 'A2A', endpoint: 'https://agent.example/.well-known/agent-card.json' }],
  registrations: [
    {
      agentId: typeof agentId === 'bigint' ? Number(agentId) : agentId,
      agentRegistry: `eip155:${chainId}:${registry}`,
    },
  ],
  supportedTrust: ['reputation'],
});

/**
 * Starts the in-process chain, compiles the Identity Registry with solc-js and deploys it from the
 * first account, and serves the chain over HTTP JSON-RPC on 127.0.0.1. Nothing of the chain is mocked.
 */
export async function startChain(): Promise<TestChain> {
  const hre = await createHardhatRuntimeEnvironment({}, {}, process.cwd());
  const connection: Connection = await hre.network.connect();
  const transport = custom(connection.provider, { retryCount: 0 });
  const chain = createPublicClient({ transport, pollingInterval: 20 });
  const wallet = createWalletClient({ transport, pollingInterval: 20 });
  const chainId = await chain.getChainId();
  const accounts = await wallet.getAddresses();
  const deployer = accounts[0] as Address;

  const { abi, bytecode } = compileRegistry();
  const deployed = await chain.waitForTransactionReceipt({
    hash: await wallet.deployContract({ abi, bytecode, account: deployer, chain: null }),
  });
  const registry = getAddress(deployed.contractAddress as Address);

  const rpcServer = createServer((request, response) => {
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
  const rpcUrl = `http://127.0.0.1:${(rpcServer.address() as AddressInfo).port}`;

  async function send(hash: Promise<Hex>): Promise<void> {
    const receipt = await chain.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== 'success') throw new Error('transaction reverted');
  }
  const contract = { address: registry, abi: registryAbi, chain: null } as const;

  return {
    chainId,
    chain,
    wallet,
    accounts,
    registry,
    rpcUrl,
    async register(from, agentUri) {
      const { result, request } = await chain.simulateContract({
        account: from,
        address: registry,
        abi: registryAbi,
        functionName: 'register',
        args: [agentUri],
      });
      await send(wallet.writeContract({ ...request, account: from, chain: null }));
      return result;
    },
    async setAgentWallet(agentId, owner, agentWallet) {
      const deadline = (await chain.getBlock()).timestamp + 120n;
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
          ...contract,
          functionName: 'setAgentWallet',
          args: [agentId, agentWallet.address, deadline, signature],
          account: owner,
        }),
      );
    },
    setAgentUri: (agentId, owner, agentUri) =>
      send(
        wallet.writeContract({ ...contract, functionName: 'setAgentURI', args: [agentId, agentUri], account: owner }),
      ),
    transfer: (agentId, from, to) =>
      send(
        wallet.writeContract({ ...contract, functionName: 'transferFrom', args: [from, to, agentId], account: from }),
      ),
    async close() {
      await new Promise((resolve) => rpcServer.close(resolve));
      await connection.close();
    },
  };
}
