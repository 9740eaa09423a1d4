/**
 * Identity anchors: how an agent proves an identity that outlives the machine it runs on. Each
 * verifier is a function of (anchor description, challenge message, proof) that answers the facts
 * it proved or a refusal from `anchorRefusalCodes`; none throws for bad input. The challenge itself
 * (a nonce bound to agent, anchor and expiry) is issued and consumed by `src/agents/challenges.ts`;
 * recording the verification is the agent aggregate's job. docs/anchors.md describes each kind.
 *
 * Client credentials need no verifier of their own: the anchor names one of the agent's registered
 * keys, and its challenge-response is a compact JWS over the challenge with that key, checked with
 * `verifyChallengeJws` (services/agent-anchors.ts); revoking the key revokes the anchor.
 */

export { type DidKey, type DidKeyVerification, parseDidKey, verifyDidKey } from './did-key.ts';
export { type DidWebOptions, type DidWebVerification, didWebUrl, verifyDidWeb } from './did-web.ts';
export {
  anchorChallengeTypedData,
  type Erc8004Anchor,
  type Erc8004Options,
  type Erc8004ProofScheme,
  type Erc8004Verification,
  identityRegistryAbi,
  parseErc8004Anchor,
  verifyErc8004,
} from './erc8004.ts';
export type { FetchPolicy } from './fetch.ts';
export {
  type AnchorRefusal,
  type AnchorRefusalCode,
  type AnchorResult,
  anchorRefusalCodes,
} from './refusals.ts';

export const anchorKinds = ['did_key', 'did_web', 'erc8004', 'client_credentials'] as const;
export type AnchorKind = (typeof anchorKinds)[number];

/** What policy needs to know of an anchor: its kind and when (if ever) it last passed challenge-response. */
export interface AnchorStanding {
  kind: AnchorKind;
  verifiedAt: Date | null;
  revokedAt?: Date | null;
}

/**
 * The Cedar context attributes of an agent's anchor, for token issuance policies:
 * `anchor_kind`, `anchor_verified` (verified and not revoked), and `verified_at_age_seconds`
 * (whole seconds since verification, never negative) only when verified, since Cedar has no null
 * (`context has verified_at_age_seconds && context.verified_at_age_seconds < 86400`).
 */
export function anchorPolicyContext(
  anchor: AnchorStanding,
  now: Date,
): { anchor_kind: AnchorKind; anchor_verified: boolean; verified_at_age_seconds?: number } {
  const revoked = anchor.revokedAt != null && anchor.revokedAt.getTime() <= now.getTime();
  if (!anchor.verifiedAt || revoked) return { anchor_kind: anchor.kind, anchor_verified: false };
  const age = Math.max(0, Math.floor((now.getTime() - anchor.verifiedAt.getTime()) / 1000));
  return { anchor_kind: anchor.kind, anchor_verified: true, verified_at_age_seconds: age };
}
