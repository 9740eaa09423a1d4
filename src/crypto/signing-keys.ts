import { exportJWK, generateKeyPair } from 'jose';
import { z } from 'zod';
import { jwkFitsAlg, type PublicJwk, type SigningAlg } from '../../events/signing-key.ts';

/**
 * Key material of the tenants' OIDC signing keys, through `jose`: a new key pair exported as a
 * private JWK (what the sealed-secrets store keeps, kind `signing-key`, under the kid), and the
 * public part of one (what events and the JWKS carry). A private JWK is never logged: errors here
 * name the kid, never a member of the key.
 */

const member = z.string().min(1);
const privateJwkSchema = z.discriminatedUnion('kty', [
  z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: member, y: member, d: member }),
  z.object({
    kty: z.literal('RSA'),
    n: member,
    e: member,
    d: member,
    p: member,
    q: member,
    dp: member,
    dq: member,
    qi: member,
  }),
]);

/** A private signing key as a JWK (its key material only: no kid, alg or use). */
export type PrivateJwk = z.infer<typeof privateJwkSchema>;

/** A fresh key pair for `alg` (P-256 for ES256, RSA 2048 for RS256), as a private JWK. */
export async function generatePrivateJwk(alg: SigningAlg): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return readPrivateJwk(alg, 'new', await exportJWK(privateKey));
}

/** The private JWK a sealed value holds; throws (naming only the kid) if it is not a key for `alg`. */
export function readPrivateJwk(alg: SigningAlg, kid: string, value: Buffer | object): PrivateJwk {
  let parsed: unknown;
  try {
    parsed = Buffer.isBuffer(value) ? JSON.parse(value.toString('utf8')) : value;
  } catch {
    throw new Error(`the sealed signing key ${kid} is not JSON`);
  }
  const result = privateJwkSchema.safeParse(parsed);
  if (!result.success || !jwkFitsAlg(alg, result.data)) {
    throw new Error(`the sealed signing key ${kid} is not a private ${alg} key`);
  }
  return result.data;
}

/** The public part of a private JWK: the members a verifier needs, nothing else. */
export function publicJwkOf(jwk: PrivateJwk): PublicJwk {
  return jwk.kty === 'EC' ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: 'RSA', n: jwk.n, e: jwk.e };
}

/** Whether two public JWKs are the same key. */
export function samePublicJwk(a: PublicJwk, b: PublicJwk): boolean {
  if (a.kty === 'EC' && b.kty === 'EC') return a.crv === b.crv && a.x === b.x && a.y === b.y;
  if (a.kty === 'RSA' && b.kty === 'RSA') return a.n === b.n && a.e === b.e;
  return false;
}
