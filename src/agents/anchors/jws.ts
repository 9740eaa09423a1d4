import { timingSafeEqual } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, importJWK, type JWK, type ProtectedHeaderParameters } from 'jose';
import { type AnchorResult, refuse, verified } from './refusals.ts';

/**
 * The challenge-response check shared by did:key and did:web. Enforces:
 * - the proof is a compact JWS of at most 16 KiB with a JSON protected header;
 * - its `alg` is the one algorithm the key is for: EdDSA (or Ed25519) for an Ed25519 key, ES256 for
 *   P-256 (so `none`, HMAC and algorithm confusion are refused before any verification);
 * - the signature verifies under the key (jose);
 * - the payload is, byte for byte, the challenge message SigID issued.
 */

export const MAX_PROOF_CHARS = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;

/** The algorithms a public JWK may sign the challenge with, or null when SigID does not verify that key type. */
export function algorithmsFor(jwk: JWK): readonly string[] | null {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return ['EdDSA', 'Ed25519'];
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return ['ES256'];
  return null;
}

/** The protected header of a compact JWS, or a `malformed_proof` refusal. */
export function proofHeader(proof: unknown): AnchorResult<ProtectedHeaderParameters> {
  if (typeof proof !== 'string' || proof.length > MAX_PROOF_CHARS || !COMPACT_JWS.test(proof)) {
    return refuse('malformed_proof', `The proof must be a compact JWS (at most ${MAX_PROOF_CHARS} characters).`);
  }
  try {
    return verified(decodeProtectedHeader(proof));
  } catch {
    return refuse('malformed_proof', 'The JWS protected header is not base64url JSON.');
  }
}

/** Verifies that `proof` is a JWS by `jwk` over exactly `challenge`. */
export async function verifyChallengeJws(
  proof: string,
  header: ProtectedHeaderParameters,
  jwk: JWK,
  challenge: string,
): Promise<AnchorResult<{ alg: string }>> {
  const algorithms = algorithmsFor(jwk);
  if (!algorithms) return refuse('unsupported_key_type', 'Only Ed25519 and P-256 keys are supported.');
  const alg = header.alg;
  if (typeof alg !== 'string' || !algorithms.includes(alg)) {
    return refuse('unsupported_algorithm', `The key signs with ${algorithms.join(' or ')}, not ${String(alg)}.`);
  }
  let payload: Uint8Array;
  try {
    const key = await importJWK(jwk, alg);
    ({ payload } = await compactVerify(proof, key, { algorithms: [alg] }));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') {
      return refuse('bad_signature', 'The JWS signature does not verify under the anchor key.');
    }
    return refuse('malformed_proof', 'The JWS could not be verified as given (bad encoding or header).');
  }
  const expected = Buffer.from(challenge, 'utf8');
  if (payload.length !== expected.length || !timingSafeEqual(payload, expected)) {
    return refuse('challenge_mismatch', 'The JWS payload is not the challenge message SigID issued.');
  }
  return verified({ alg });
}
