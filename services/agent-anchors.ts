import { createHash } from 'node:crypto';
import { type AgentState, agentAggregate } from '../commands/agent.ts';
import type { AnchorDescription, AnchorEvidence } from '../events/agent.ts';
import type { AgentAnchorRow } from '../read-models/agent-anchors.ts';
import { findAgentKey } from '../read-models/agent-keys.ts';
import type { AgentRow } from '../read-models/agents.ts';
import { didWebUrl } from '../src/agents/anchors/did-web.ts';
import {
  type AnchorRefusal,
  type AnchorRefusalCode,
  type FetchPolicy,
  parseDidKey,
  parseErc8004Anchor,
  verifyDidKey,
  verifyDidWeb,
  verifyErc8004,
} from '../src/agents/anchors/index.ts';
import { proofHeader, verifyChallengeJws } from '../src/agents/anchors/jws.ts';
import { checkChallenge, type IssuedChallenge, issueChallenge, useChallenge } from '../src/agents/challenges.ts';
import { handleCommand } from '../src/command-handler.ts';
import { ConflictError, type ProblemCode, ProblemError } from '../src/errors.ts';
import { failpoint } from '../src/failpoints.ts';
import type { Sigid } from '../src/sigid.ts';
import type { UseCase, Written } from './context.ts';
import { claimReservation } from './reservations.ts';

type Change = UseCase & { ifMatch?: number | undefined };

/** An anchor as the API takes it: the kind and its description. */
export type AnchorInput =
  | { kind: 'did_key' | 'did_web'; did: string }
  | { kind: 'erc8004'; chain_id: number; registry: string; agent_id: string }
  | { kind: 'client_credentials'; kid: string };

/** The library's refusal as a problem (its code, or `registry_agent_not_found` for the registry's `agent_not_found`). */
export function anchorProblem(refusal: AnchorRefusal): ProblemError {
  const codes: Record<AnchorRefusalCode, ProblemCode> = {
    malformed_anchor: 'malformed_anchor',
    malformed_did: 'malformed_did',
    unsupported_key_type: 'unsupported_key_type',
    unsupported_algorithm: 'unsupported_algorithm',
    malformed_proof: 'malformed_proof',
    bad_signature: 'bad_signature',
    challenge_mismatch: 'challenge_mismatch',
    https_required: 'https_required',
    forbidden_address: 'forbidden_address',
    did_document_unreachable: 'did_document_unreachable',
    did_document_invalid: 'did_document_invalid',
    verification_method_not_found: 'verification_method_not_found',
    registry_unreachable: 'registry_unreachable',
    not_a_registry: 'not_a_registry',
    agent_not_found: 'registry_agent_not_found',
    registration_file_unreachable: 'registration_file_unreachable',
    registration_file_invalid: 'registration_file_invalid',
    registration_mismatch: 'registration_mismatch',
    not_the_owner: 'not_the_owner',
  };
  return new ProblemError(codes[refusal.code], refusal.message);
}

/**
 * The anchor as recorded, and the identity it anchors (unique among the tenant's agents): the DID
 * (did:key without a fragment), `eip155:<chain>:<checksummed registry>#<agent id>`, or the key's kid.
 * Malformed descriptions are refused with the library's code before anything is written.
 */
export function describeAnchor(input: AnchorInput): { anchor: AnchorDescription; value: string } {
  switch (input.kind) {
    case 'did_key': {
      const parsed = parseDidKey(input.did);
      if (!parsed.ok) throw anchorProblem(parsed);
      return { anchor: { kind: 'did_key', did: parsed.value.did }, value: parsed.value.did };
    }
    case 'did_web': {
      const parsed = didWebUrl(input.did);
      if (!parsed.ok) throw anchorProblem(parsed);
      return { anchor: { kind: 'did_web', did: parsed.value.did }, value: parsed.value.did };
    }
    case 'erc8004': {
      const parsed = parseErc8004Anchor({
        agentRegistry: `eip155:${input.chain_id}:${input.registry}`,
        agentId: input.agent_id,
      });
      if (!parsed.ok) throw anchorProblem(parsed);
      const { chainId, registry, agentId } = parsed.value;
      return {
        anchor: { kind: 'erc8004', chain_id: chainId, registry, agent_id: agentId.toString() },
        value: `eip155:${chainId}:${registry}#${agentId}`,
      };
    }
    case 'client_credentials':
      return { anchor: { kind: 'client_credentials', kid: input.kid }, value: `kid:${input.kid}` };
    default: {
      const unhandled: never = input;
      return unhandled;
    }
  }
}

/** The reservation of an anchored identity: a hash, so any DID's characters make a plain stream name. */
const reservedValue = (value: string) => createHash('sha256').update(value).digest('base64url');

/** The agent's state on the write side (its stream folded), for deciding who holds an identity in fact. */
async function agentState(sigid: Sigid, tenantId: string, agentId: string): Promise<AgentState> {
  const { decider } = agentAggregate;
  const history = await sigid.log.readStream(agentAggregate.stream(tenantId, agentId));
  return history.reduce((state, event) => decider.evolve(state, event as never), decider.initialState());
}

/**
 * Adds an unverified anchor to the agent. Two durable steps: the identity is reserved for the agent
 * across the tenant (the reservation aggregate, so two agents racing for one DID cannot both win),
 * then `agent.anchor.added` is appended. The reservation is held by the agent, not the anchor, and a
 * holder that no longer holds the identity in fact (the add never landed, the anchor was revoked,
 * the agent deleted) is taken over by the next claimant; so a process dying between the two steps
 * leaves nothing half-applied: the same agent's retry completes, another agent may claim it.
 */
export async function addAgentAnchor(
  sigid: Sigid,
  row: AgentRow,
  input: AnchorInput,
  context: Change,
): Promise<{ anchorId: string; written: Written }> {
  const { anchor, value } = describeAnchor(input);
  if (anchor.kind === 'client_credentials') {
    const key = await findAgentKey(sigid.readModels, context.tenantId, row.agent_id, anchor.kid);
    if (!key) {
      throw new ProblemError('invalid_request', 'A client_credentials anchor names one of the agent’s keys.', [
        {
          path: 'kid',
          message: 'No key with this kid is registered (and not revoked) for the agent.',
          code: 'unknown_key',
        },
      ]);
    }
  }
  const anchorId = context.random.id('anc');
  await claimReservation(
    sigid,
    {
      scope: context.tenantId,
      kind: 'agent_anchor',
      value: reservedValue(value),
      ownerId: row.agent_id,
      async ownerDeleted(holder) {
        const state = await agentState(sigid, context.tenantId, holder);
        if (state.status === 'absent' || state.status === 'deleted') return true;
        return !Object.values(state.anchors).some((held) => held.value === value && held.status !== 'revoked');
      },
    },
    context,
  );
  failpoint('agent.anchor:after-reservation');
  const written = await handleCommand(
    sigid.log,
    agentAggregate,
    row.agent_id,
    { type: 'add_anchor', anchor_id: anchorId, anchor, value },
    context,
  );
  return { anchorId, written };
}

/** Issues a challenge bound to the agent and this anchor (purpose `agent_anchor`); a revoked anchor gets none. */
export function agentAnchorChallenge(
  sigid: Sigid,
  row: AgentRow,
  anchor: AgentAnchorRow,
  context: UseCase,
): Promise<IssuedChallenge> {
  if (anchor.status === 'revoked') {
    throw new ConflictError('agent_anchor_revoked', 'The anchor is revoked: add a new one.');
  }
  return issueChallenge(sigid.readModels, {
    tenantId: context.tenantId,
    agentId: row.agent_id,
    purpose: 'agent_anchor',
    subjectId: anchor.anchor_id,
  });
}

/** How anchors' documents and chains are reached: the operator's RPC endpoints and fetch allowlist. */
export function anchorFetchPolicy(sigid: Sigid): FetchPolicy {
  return { allowlist: sigid.config.anchorFetchAllowlist, plainHttpForAllowlisted: true };
}

/** Runs the anchor kind's verifier over the challenge: what it proved, or its refusal as a problem. */
async function proveAnchor(
  sigid: Sigid,
  tenantId: string,
  row: AgentRow,
  anchor: AnchorDescription,
  nonce: string,
  proof: unknown,
): Promise<AnchorEvidence> {
  const fetch = anchorFetchPolicy(sigid);
  switch (anchor.kind) {
    case 'did_key': {
      const result = await verifyDidKey(anchor.did, nonce, proof);
      if (!result.ok) throw anchorProblem(result);
      return { kind: 'did_key', key_id: result.value.keyId, alg: result.value.alg };
    }
    case 'did_web': {
      const result = await verifyDidWeb(anchor.did, nonce, proof, fetch);
      if (!result.ok) throw anchorProblem(result);
      return {
        kind: 'did_web',
        key_id: result.value.keyId,
        alg: result.value.alg,
        document_url: result.value.documentUrl,
        document_sha256: result.value.documentSha256,
      };
    }
    case 'erc8004': {
      const result = await verifyErc8004(
        { agentRegistry: `eip155:${anchor.chain_id}:${anchor.registry}`, agentId: anchor.agent_id },
        nonce,
        proof,
        { rpc: sigid.config.chainRpcUrls[anchor.chain_id], fetch },
      );
      if (!result.ok) throw anchorProblem(result);
      const value = result.value;
      return {
        kind: 'erc8004',
        owner: value.owner,
        agent_wallet: value.agentWallet,
        agent_uri: value.agentUri,
        registration_file_sha256: value.registrationFileSha256,
        signer: value.signer,
        signer_address: value.signerAddress,
        scheme: value.scheme,
      };
    }
    case 'client_credentials': {
      const key = await findAgentKey(sigid.readModels, tenantId, row.agent_id, anchor.kid);
      if (!key) throw new ConflictError('agent_key_revoked', 'The anchor’s key is revoked; it verifies nothing.');
      const header = proofHeader(proof);
      if (!header.ok) throw anchorProblem(header);
      if (header.value.kid !== undefined && header.value.kid !== anchor.kid) {
        throw new ProblemError('verification_method_not_found', 'The JWS kid names another key than the anchor’s.');
      }
      const { kty, crv, x, y } = key.jwk;
      const result = await verifyChallengeJws(
        proof as string,
        header.value,
        y ? { kty, crv, x, y } : { kty, crv, x },
        nonce,
      );
      if (!result.ok) throw anchorProblem(result);
      return { kind: 'client_credentials', kid: anchor.kid, alg: result.value.alg };
    }
    default: {
      const unhandled: never = anchor;
      return unhandled;
    }
  }
}

/**
 * Verifies an anchor by challenge-response: the challenge is checked (this tenant's, this agent's,
 * this anchor's, unexpired, unused), the proof verified over its nonce by the kind's verifier, then
 * the challenge is used (once, across processes) and `agent.anchor.verified` recorded with what was
 * proven. A refusal writes nothing and leaves the challenge usable. Dying between the use and the
 * append leaves the anchor as it was and the challenge used: the agent asks for a new challenge.
 */
export async function verifyAgentAnchor(
  sigid: Sigid,
  row: AgentRow,
  anchor: AgentAnchorRow,
  input: { challenge: string; proof: unknown },
  context: Change,
): Promise<Written> {
  if (anchor.status === 'revoked') {
    throw new ConflictError('agent_anchor_revoked', 'The anchor is revoked; a revoked anchor cannot be verified.');
  }
  const binding = {
    tenantId: context.tenantId,
    agentId: row.agent_id,
    purpose: 'agent_anchor' as const,
    subjectId: anchor.anchor_id,
  };
  await checkChallenge(sigid.readModels, binding, input.challenge);
  const evidence = await proveAnchor(sigid, context.tenantId, row, anchor.description, input.challenge, input.proof);
  const challengeId = await useChallenge(sigid.readModels, binding, input.challenge);
  failpoint('agent.anchor:after-challenge');
  return handleCommand(
    sigid.log,
    agentAggregate,
    row.agent_id,
    { type: 'verify_anchor', anchor_id: anchor.anchor_id, challenge_id: challengeId, evidence },
    context,
  );
}

/** Revokes an anchor for good; the agent's keys stay (a client_credentials anchor's key too). */
export function revokeAgentAnchor(sigid: Sigid, row: AgentRow, anchorId: string, context: Change): Promise<Written> {
  return handleCommand(
    sigid.log,
    agentAggregate,
    row.agent_id,
    { type: 'revoke_anchor', anchor_id: anchorId },
    context,
  );
}
