import { createHash } from 'node:crypto';
import {
  type Address,
  BaseError,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  createPublicClient,
  getAddress,
  type Hex,
  http,
  isAddress,
  isAddressEqual,
  type PublicClient,
  parseAbi,
  recoverMessageAddress,
  recoverTypedDataAddress,
  zeroAddress,
} from 'viem';
import { z } from 'zod';
import { type FetchPolicy, fetchDocument } from './fetch.ts';
import { type AnchorResult, refuse, verified } from './refusals.ts';

/**
 * The ERC-8004 anchor: an agent's entry (an ERC-721 token) in an on-chain Identity Registry. Enforces:
 * - the anchor names a registry as `eip155:<chainId>:<address>` and an agent id (uint256);
 * - the RPC endpoint serves that chain, a contract answers at the address, and the agent exists
 *   (`ownerOf` does not revert); its `tokenURI` (agent URI) and `getAgentWallet` are read too;
 * - the proof is a 65-byte ECDSA signature of the challenge, either EIP-191 `personal_sign` of the
 *   challenge text or EIP-712 over `anchorChallengeTypedData` (domain "SigID" v1 on the chain), and
 *   its signer is the agent's owner or its agent wallet (EOAs; ERC-1271 contract accounts are not
 *   verified yet);
 * - the registration file the agent URI points at (https through the SSRF guard, or a `data:` URI)
 *   is JSON whose `registrations[]` lists this registry and agent id.
 * Proven: whoever answered controls the agent's on-chain identity (owner) or its declared wallet.
 */

export interface Erc8004Anchor {
  chainId: number;
  registry: Address;
  agentId: bigint;
}

export type Erc8004ProofScheme = 'eip191' | 'eip712';

export interface Erc8004Verification {
  chainId: number;
  registry: Address;
  agentId: string;
  owner: Address;
  /** The registry's `getAgentWallet`, or null when unset. */
  agentWallet: Address | null;
  agentUri: string;
  /** SHA-256 of the registration file's bytes, hex. */
  registrationFileSha256: string;
  /** Who signed the challenge. */
  signer: 'owner' | 'agent_wallet';
  signerAddress: Address;
  scheme: Erc8004ProofScheme;
}

export interface Erc8004Options {
  /** A viem client for the anchor's chain, or the URL of its JSON-RPC endpoint (operator configuration). */
  rpc: PublicClient | string | undefined;
  /** Deadline of one RPC request when `rpc` is a URL. Default 5000 ms. */
  rpcTimeoutMs?: number;
  /** How the registration file is fetched (allowlist, resolver, deadline, size cap). */
  fetch?: FetchPolicy;
}

export const identityRegistryAbi = parseAbi([
  'function ownerOf(uint256 agentId) view returns (address)',
  'function tokenURI(uint256 agentId) view returns (string)',
  'function getAgentWallet(uint256 agentId) view returns (address)',
]);

const MAX_UINT256 = (1n << 256n) - 1n;

/** Parses `{ agentRegistry: "eip155:<chainId>:<address>", agentId }`, ERC-8004's global agent identifier. */
export function parseErc8004Anchor(input: unknown): AnchorResult<Erc8004Anchor> {
  const shape = z
    .object({ agentRegistry: z.string().max(200), agentId: z.union([z.string().max(80), z.number(), z.bigint()]) })
    .safeParse(input);
  if (!shape.success) {
    return refuse(
      'malformed_anchor',
      'An ERC-8004 anchor has agentRegistry ("eip155:<chainId>:<address>") and agentId.',
    );
  }
  const match = /^eip155:([1-9]\d{0,15}):(0x[0-9a-fA-F]{40})$/.exec(shape.data.agentRegistry);
  if (!match || !isAddress(match[2] as string, { strict: false })) {
    return refuse('malformed_anchor', 'agentRegistry reads eip155:<chainId>:<0x address>.');
  }
  const chainId = Number(match[1]);
  if (!Number.isSafeInteger(chainId)) return refuse('malformed_anchor', 'The chain id is too large.');
  const agentId = agentIdOf(shape.data.agentId);
  if (agentId === null) return refuse('malformed_anchor', 'agentId is a uint256 in decimal.');
  return verified({ chainId, registry: getAddress(match[2] as string), agentId });
}

function agentIdOf(value: string | number | bigint): bigint | null {
  if (typeof value === 'bigint') return value >= 0n && value <= MAX_UINT256 ? value : null;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : null;
  if (!/^(0|[1-9]\d{0,77})$/.test(value)) return null;
  const parsed = BigInt(value);
  return parsed <= MAX_UINT256 ? parsed : null;
}

/** The EIP-712 message an agent signs to answer a challenge with its ERC-8004 identity. */
export function anchorChallengeTypedData(anchor: Erc8004Anchor, challenge: string) {
  return {
    domain: { name: 'SigID', version: '1', chainId: anchor.chainId },
    types: {
      AgentAnchorChallenge: [
        { name: 'challenge', type: 'string' },
        { name: 'agentId', type: 'uint256' },
        { name: 'chainId', type: 'uint256' },
        { name: 'registry', type: 'address' },
      ],
    },
    primaryType: 'AgentAnchorChallenge',
    message: { challenge, agentId: anchor.agentId, chainId: BigInt(anchor.chainId), registry: anchor.registry },
  } as const;
}

const proofShape = z.object({
  scheme: z.enum(['eip191', 'eip712']),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
});

const registrationFile = z
  .object({
    registrations: z
      .array(
        z
          .object({ agentId: z.union([z.number(), z.string().max(80)]), agentRegistry: z.string().max(200) })
          .passthrough(),
      )
      .max(1000),
  })
  .passthrough();

type ChainFailure = 'reverted' | 'no_contract' | 'unreachable';

function chainFailure(error: unknown): ChainFailure {
  if (error instanceof BaseError) {
    if (error.walk((cause) => cause instanceof ContractFunctionZeroDataError)) return 'no_contract';
    if (error.walk((cause) => cause instanceof ContractFunctionRevertedError)) return 'reverted';
  }
  return 'unreachable';
}

/**
 * Reads the agent's entry from its Identity Registry, checks its registration file names it, and
 * verifies that `proof` (`{ scheme, signature }`) is the owner's or agent wallet's signature of `challenge`.
 */
export async function verifyErc8004(
  anchorInput: unknown,
  challenge: string,
  proofInput: unknown,
  options: Erc8004Options,
): Promise<AnchorResult<Erc8004Verification>> {
  const parsed = parseErc8004Anchor(anchorInput);
  if (!parsed.ok) return parsed;
  const anchor = parsed.value;
  const proof = proofShape.safeParse(proofInput);
  if (!proof.success) {
    return refuse('malformed_proof', 'The proof is { scheme: "eip191" | "eip712", signature: 0x + 65 bytes hex }.');
  }
  if (options.rpc === undefined) {
    return refuse('registry_unreachable', `SigID has no RPC endpoint for chain ${anchor.chainId}.`);
  }
  let entry: { owner: Address; agentUri: string; wallet: Address };
  let client: PublicClient;
  try {
    client =
      typeof options.rpc === 'string'
        ? createPublicClient({ transport: http(options.rpc, { timeout: options.rpcTimeoutMs ?? 5000, retryCount: 0 }) })
        : options.rpc;
    const servedChain = await client.getChainId();
    if (servedChain !== anchor.chainId) {
      return refuse('registry_unreachable', `SigID's RPC endpoint serves chain ${servedChain}, not ${anchor.chainId}.`);
    }
  } catch {
    return refuse('registry_unreachable', `The RPC endpoint of chain ${anchor.chainId} did not answer.`);
  }
  try {
    const call = { address: anchor.registry, abi: identityRegistryAbi, args: [anchor.agentId] } as const;
    const owner = await client.readContract({ ...call, functionName: 'ownerOf' });
    const [agentUri, wallet] = await Promise.all([
      client.readContract({ ...call, functionName: 'tokenURI' }),
      client.readContract({ ...call, functionName: 'getAgentWallet' }),
    ]);
    entry = { owner, agentUri, wallet };
  } catch (error) {
    const failure = chainFailure(error);
    if (failure === 'reverted') {
      return refuse('agent_not_found', `The registry ${anchor.registry} has no agent ${anchor.agentId}.`);
    }
    if (failure === 'no_contract') {
      return refuse(
        'not_a_registry',
        `No ERC-8004 Identity Registry answers at ${anchor.registry} on chain ${anchor.chainId}.`,
      );
    }
    return refuse('registry_unreachable', `The RPC endpoint of chain ${anchor.chainId} did not answer.`);
  }

  const signature = proof.data.signature as Hex;
  let recovered: Address | null;
  try {
    recovered =
      proof.data.scheme === 'eip191'
        ? await recoverMessageAddress({ message: challenge, signature })
        : await recoverTypedDataAddress({ ...anchorChallengeTypedData(anchor, challenge), signature });
  } catch {
    recovered = null;
  }
  if (!recovered) return refuse('bad_signature', 'The signature does not recover to any address.');
  const agentWallet = isAddressEqual(entry.wallet, zeroAddress) ? null : entry.wallet;
  const signer = isAddressEqual(recovered, entry.owner)
    ? 'owner'
    : agentWallet && isAddressEqual(recovered, agentWallet)
      ? 'agent_wallet'
      : null;
  if (!signer) {
    return refuse(
      'not_the_owner',
      `The challenge was signed by ${recovered}, which is neither the agent's owner nor its agent wallet (or the signed message is not this challenge).`,
    );
  }

  const file = await registrationFileOf(entry.agentUri, options.fetch ?? {});
  if (!file.ok) return file;
  const names = file.value.json.registrations.some(
    (registration) =>
      agentIdOf(registration.agentId) === anchor.agentId && sameRegistry(registration.agentRegistry, anchor),
  );
  if (!names) {
    return refuse(
      'registration_mismatch',
      `The registration file does not list agent ${anchor.agentId} of eip155:${anchor.chainId}:${anchor.registry} in registrations.`,
    );
  }
  return verified({
    chainId: anchor.chainId,
    registry: anchor.registry,
    agentId: anchor.agentId.toString(),
    owner: getAddress(entry.owner),
    agentWallet: agentWallet ? getAddress(agentWallet) : null,
    agentUri: entry.agentUri,
    registrationFileSha256: file.value.sha256,
    signer,
    signerAddress: getAddress(recovered),
    scheme: proof.data.scheme,
  });
}

function sameRegistry(text: string, anchor: Erc8004Anchor): boolean {
  const match = /^eip155:(\d+):(0x[0-9a-fA-F]{40})$/.exec(text);
  return !!match && Number(match[1]) === anchor.chainId && isAddressEqual(match[2] as Address, anchor.registry);
}

const MAX_REGISTRATION_BYTES = 256 * 1024;

/** The registration file behind an agent URI: a `data:` URI decoded in place, anything else fetched under the policy. */
async function registrationFileOf(
  agentUri: string,
  policy: FetchPolicy,
): Promise<AnchorResult<{ json: z.infer<typeof registrationFile>; sha256: string }>> {
  let body: Buffer;
  if (agentUri.startsWith('data:')) {
    const decoded = decodeDataUri(agentUri, policy.maxBytes ?? MAX_REGISTRATION_BYTES);
    if (!decoded) return refuse('registration_file_invalid', 'The agent URI is not a JSON data: URI SigID can read.');
    body = decoded;
  } else if (!agentUri) {
    return refuse('registration_file_unreachable', 'The agent has no agent URI.');
  } else {
    const fetched = await fetchDocument(agentUri, { maxBytes: MAX_REGISTRATION_BYTES, ...policy });
    if (!fetched.ok) {
      if (fetched.reason === 'too_large') return refuse('registration_file_invalid', fetched.message);
      if (fetched.reason === 'unreachable') {
        return refuse('registration_file_unreachable', `The registration file: ${fetched.message}`);
      }
      return refuse(fetched.reason, fetched.message);
    }
    body = fetched.body;
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return refuse('registration_file_invalid', 'The registration file is not JSON.');
  }
  const file = registrationFile.safeParse(json);
  if (!file.success) return refuse('registration_file_invalid', 'The registration file has no registrations list.');
  return verified({ json: file.data, sha256: createHash('sha256').update(body).digest('hex') });
}

/** RFC 2397 `data:[<mediatype>][;base64],<data>` with a JSON (or unspecified) media type, or null. */
function decodeDataUri(uri: string, maxBytes: number): Buffer | null {
  const comma = uri.indexOf(',');
  if (comma < 0 || uri.length > maxBytes * 2) return null;
  const meta = uri.slice('data:'.length, comma).toLowerCase().split(';');
  const mediaType = meta[0] ?? '';
  if (mediaType && mediaType !== 'application/json' && !mediaType.endsWith('+json')) return null;
  const data = uri.slice(comma + 1);
  let body: Buffer;
  try {
    body = meta.includes('base64') ? Buffer.from(data, 'base64') : Buffer.from(decodeURIComponent(data), 'utf8');
  } catch {
    return null;
  }
  return body.length <= maxBytes ? body : null;
}
