import { calculateJwkThumbprint, compactVerify, importJWK } from 'jose';
import { z } from 'zod';
import type { AgentPublicJwk } from '../../events/agent.ts';
import { ProblemError, ValidationError } from '../errors.ts';

/**
 * Agent keys as SigID accepts them. What it enforces:
 * - public keys only: a JWK with any private member (`d`, RSA's primes, a symmetric `k`) is refused
 *   outright (`private_key_refused`), and the key is never echoed back;
 * - Ed25519 (`OKP`) and P-256 (`EC`) signing keys, with `alg` (if given) the key's own
 *   (`Ed25519`/`EdDSA`, `ES256`) and `use` (if given) `sig`; the point must be a valid public key;
 * - `kid` is the key's RFC 7638 thumbprint (SHA-256): a different `kid` is refused;
 * - a proof is a compact JWS over exactly the challenge's nonce, signed with this key under its own
 *   algorithm (`proof_invalid` otherwise).
 */

/** JWK members that only a private (or symmetric) key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

const coordinate = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'a 32-byte coordinate, base64url without padding (43 characters)');

const common = {
  kid: z.string().max(100).optional(),
  use: z.literal('sig').optional(),
  key_ops: z.array(z.literal('verify')).max(1).optional(),
};

/** The public JWK a registration carries: Ed25519 or P-256. */
export const agentJwkInput = z.discriminatedUnion('kty', [
  z.strictObject({
    kty: z.literal('OKP'),
    crv: z.literal('Ed25519'),
    x: coordinate,
    alg: z.enum(['Ed25519', 'EdDSA']).optional(),
    ...common,
  }),
  z.strictObject({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: coordinate,
    y: coordinate,
    alg: z.literal('ES256').optional(),
    ...common,
  }),
]);
export type AgentJwkInput = z.infer<typeof agentJwkInput>;

/** Refuses a JWK with a private member, before anything else looks at it. */
export function refusePrivateJwk(jwk: unknown): void {
  if (typeof jwk !== 'object' || jwk === null) return;
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) {
    throw new ProblemError(
      'private_key_refused',
      'The JWK holds private key material: register the public key only (no "d"). Nothing was stored.',
    );
  }
}

/** The registered form of a public JWK: only its public members, `alg`, `use: sig`, and `kid` = its thumbprint. */
export async function publicAgentJwk(input: AgentJwkInput): Promise<AgentPublicJwk> {
  const members =
    input.kty === 'EC'
      ? { kty: input.kty, crv: input.crv, x: input.x, y: input.y }
      : { kty: input.kty, crv: input.crv, x: input.x };
  const alg = input.kty === 'EC' ? 'ES256' : 'Ed25519';
  try {
    await importJWK({ ...members, alg: input.kty === 'EC' ? 'ES256' : 'Ed25519' }, alg);
  } catch {
    throw new ValidationError('The request body is not valid.', [
      {
        code: 'custom',
        path: ['jwk'],
        message: 'The JWK is not a valid public key (a point not on its curve?).',
        input: undefined,
      },
    ] as never);
  }
  const kid = await calculateJwkThumbprint(members, 'sha256');
  if (input.kid !== undefined && input.kid !== kid) {
    throw new ValidationError('The request body is not valid.', [
      {
        code: 'custom',
        path: ['jwk', 'kid'],
        message: `kid must be the key's RFC 7638 thumbprint (${kid}), or left out.`,
        input: input.kid,
      },
    ] as never);
  }
  return { ...members, kid, alg, use: 'sig' } as AgentPublicJwk;
}

/** The JWS algorithms a proof made with `jwk` may use. */
const proofAlgorithms = (jwk: AgentPublicJwk) => (jwk.kty === 'EC' ? ['ES256'] : ['Ed25519', 'EdDSA']);

/** Checks that `proof` is a compact JWS over exactly `nonce`, made with `jwk` (`proof_invalid` otherwise). */
export async function verifyKeyProof(jwk: AgentPublicJwk, nonce: string, proof: string): Promise<void> {
  const invalid = (why: string) => new ProblemError('proof_invalid', `The proof does not verify: ${why}.`);
  const key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y ? { y: jwk.y } : {}) }, jwk.alg);
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(proof, key, { algorithms: proofAlgorithms(jwk) }));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_JOSE_ALG_NOT_ALLOWED')
      throw invalid(`its algorithm is not the key's (${proofAlgorithms(jwk).join(' or ')})`);
    if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw invalid('the signature was not made with this key');
    throw invalid('it is not a compact JWS');
  }
  if (new TextDecoder().decode(payload) !== nonce) throw invalid("its payload is not the challenge's nonce");
}
