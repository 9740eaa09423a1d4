import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AgentChallengesModel } from '../../read-models/agent-challenges.ts';
import { narrow } from '../../read-models/narrow.ts';
import { ProblemError } from '../errors.ts';
import { newId } from '../ids.ts';

/**
 * Single-use challenges for proofs of possession (registering an agent key now, verifying an anchor
 * later). What it enforces:
 * - a challenge is bound to one tenant, one agent, one purpose and (for an anchor) one subject, the
 *   anchor's id, and lives CHALLENGE_TTL_MS;
 * - the nonce is 32 random bytes (base64url); only its SHA-256 is stored;
 * - it is used at most once, across processes (one conditional UPDATE takes it);
 * - a refused use names why, each with its own code: `challenge_unknown` (never issued in this
 *   tenant), `challenge_expired`, `challenge_used` (a replay), `challenge_mismatch` (another agent,
 *   purpose or anchor). What the holder signs is the nonce itself, as it was issued.
 */

/** How long a challenge can be used: five minutes. */
export const CHALLENGE_TTL_MS = 5 * 60_000;

/** What a proof is for; a challenge issued for one purpose proves nothing for another. */
export type ChallengePurpose = 'agent_key' | 'agent_anchor';

export interface IssuedChallenge {
  challenge_id: string;
  /** The value to sign (a compact JWS whose payload is exactly these characters). */
  nonce: string;
  purpose: ChallengePurpose;
  expires_at: Date;
}

/** What a challenge is bound to: the tenant, the agent, the purpose and, for an anchor, its id. */
export interface ChallengeBinding {
  tenantId: string;
  agentId: string;
  purpose: ChallengePurpose;
  /** The anchor a proof is for (`agent_anchor`); absent for a key registration. */
  subjectId?: string | undefined;
}

const hashOf = (nonce: string) => createHash('sha256').update(nonce).digest('base64url');

/** A nonce as SigID makes them: 43 base64url characters. Anything else was never issued. */
const NONCE = /^[A-Za-z0-9_-]{43}$/;

/** Issues a challenge for `agentId` and `purpose` in the tenant; expired ones are cleared as new ones come. */
export async function issueChallenge<DB extends AgentChallengesModel>(
  db: Kysely<DB>,
  binding: ChallengeBinding,
  now = new Date(),
): Promise<IssuedChallenge> {
  const nonce = randomBytes(32).toString('base64url');
  const challenge: IssuedChallenge = {
    challenge_id: newId('chl'),
    nonce,
    purpose: binding.purpose,
    expires_at: new Date(now.getTime() + CHALLENGE_TTL_MS),
  };
  const table = narrow<AgentChallengesModel>(db);
  await table
    .insertInto('agent_challenges')
    .values({
      tenant_id: binding.tenantId,
      challenge_id: challenge.challenge_id,
      agent_id: binding.agentId,
      purpose: binding.purpose,
      subject_id: binding.subjectId ?? null,
      nonce_hash: hashOf(nonce),
      expires_at: challenge.expires_at,
      used_at: null,
    })
    .execute();
  // Used or expired a while ago: nobody can use them, a replay of one reads as unknown from then on.
  await table
    .deleteFrom('agent_challenges')
    .where('expires_at', '<', new Date(now.getTime() - CHALLENGE_TTL_MS))
    .execute();
  return challenge;
}

/**
 * Uses the challenge whose nonce is `nonce` for `agentId` and `purpose`: the first caller (in any
 * process) gets its id; every other use is refused with the reason. Call it only once the proof
 * over the nonce verified, so a bad proof does not burn the challenge.
 */
export async function useChallenge<DB extends AgentChallengesModel>(
  db: Kysely<DB>,
  binding: ChallengeBinding,
  nonce: string,
  now = new Date(),
): Promise<string> {
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) throw refused('challenge_unknown');
  const table = narrow<AgentChallengesModel>(db);
  const nonceHash = hashOf(nonce);
  const taken = await table
    .updateTable('agent_challenges')
    .set({ used_at: now })
    .where('tenant_id', '=', binding.tenantId)
    .where('nonce_hash', '=', nonceHash)
    .where('agent_id', '=', binding.agentId)
    .where('purpose', '=', binding.purpose)
    .where('subject_id', binding.subjectId === undefined ? 'is' : '=', binding.subjectId ?? null)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning('challenge_id')
    .executeTakeFirst();
  if (taken) return taken.challenge_id;
  const found = await table
    .selectFrom('agent_challenges')
    .select(['agent_id', 'purpose', 'subject_id', 'used_at', 'expires_at'])
    .where('tenant_id', '=', binding.tenantId)
    .where('nonce_hash', '=', nonceHash)
    .executeTakeFirst();
  if (!found) throw refused('challenge_unknown');
  if (mismatched(found, binding)) throw refused('challenge_mismatch');
  if (found.used_at !== null) throw refused('challenge_used');
  throw refused('challenge_expired');
}

/** Whether a nonce is one this tenant issued for the binding and could still be used (a check, no use). */
export async function checkChallenge<DB extends AgentChallengesModel>(
  db: Kysely<DB>,
  binding: ChallengeBinding,
  nonce: string,
  now = new Date(),
): Promise<void> {
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) throw refused('challenge_unknown');
  const found = await narrow<AgentChallengesModel>(db)
    .selectFrom('agent_challenges')
    .select(['agent_id', 'purpose', 'subject_id', 'used_at', 'expires_at'])
    .where('tenant_id', '=', binding.tenantId)
    .where('nonce_hash', '=', hashOf(nonce))
    .executeTakeFirst();
  if (!found) throw refused('challenge_unknown');
  if (mismatched(found, binding)) throw refused('challenge_mismatch');
  if (found.used_at !== null) throw refused('challenge_used');
  if (found.expires_at <= now) throw refused('challenge_expired');
}

function mismatched(
  found: { agent_id: string; purpose: string; subject_id: string | null },
  binding: ChallengeBinding,
): boolean {
  return (
    found.agent_id !== binding.agentId ||
    found.purpose !== binding.purpose ||
    found.subject_id !== (binding.subjectId ?? null)
  );
}

const REASONS = {
  challenge_unknown: 'The challenge was not issued by this tenant: ask for one at POST /api/v1/agents/{id}/challenges.',
  challenge_expired: 'The challenge expired (each lives five minutes): ask for a new one.',
  challenge_used: 'The challenge was used already: each challenge proves one thing once.',
  challenge_mismatch: 'The challenge was issued for another agent, another purpose or another anchor.',
} as const;

function refused(code: keyof typeof REASONS): ProblemError {
  return new ProblemError(code, REASONS[code]);
}
