/**
 * Worker state, not a projected table: the single-use challenges agents sign to prove they hold a
 * key (src/agents/challenges.ts). Only the nonce's SHA-256 is kept.
 */
export const tableName = 'agent_challenges';

export interface AgentChallengesTable {
  tenant_id: string;
  challenge_id: string;
  agent_id: string;
  /** What the proof is for: `agent_key` (registering a key) or `agent_anchor` (verifying an anchor). */
  purpose: string;
  /** What the challenge is bound to besides the agent: the anchor's id for `agent_anchor`; null for a key. */
  subject_id: string | null;
  /** SHA-256 of the nonce, base64url. */
  nonce_hash: string;
  expires_at: Date;
  /** When a proof used it (a second use is a replay); null while unused. */
  used_at: Date | null;
}

export type AgentChallengesModel = { [tableName]: AgentChallengesTable };
