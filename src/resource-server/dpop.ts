import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, type JWK, jwtVerify } from 'jose';
import type { ReplayCache } from './replay.ts';

/**
 * A DPoP proof (RFC 9449 §4.3) presented with a DPoP-bound access token. Enforces:
 * - exactly one `DPoP` header, a compact JWS of `typ` `dpop+jwt`, signed with an asymmetric
 *   algorithm of `algorithms` by the public key in its `jwk` header (no private part in it);
 * - `jti`, `htm`, `htu` and `iat` present; `htm` is the request's method, `htu` its URL without
 *   query and fragment (both normalised by the WHATWG URL parser);
 * - `iat` no older than `maxAgeSeconds` and no later than `clockToleranceSeconds` ahead;
 * - `ath` is the base64url SHA-256 of the access token presented with it;
 * - the key's RFC 7638 thumbprint is the token's `cnf.jkt`;
 * - its `jti` has not been seen before from that key within the window (checked last, so a proof
 *   that fails any other check cannot fill the cache).
 */

/** Why a DPoP proof is refused: each a stable `code`. */
export type DpopRefusal =
  | 'dpop_proof_missing'
  | 'dpop_proof_invalid'
  | 'dpop_htm_mismatch'
  | 'dpop_htu_mismatch'
  | 'dpop_iat_out_of_window'
  | 'dpop_ath_mismatch'
  | 'dpop_key_mismatch'
  | 'dpop_replayed';

export class DpopProofRefused extends Error {
  readonly code: DpopRefusal;
  constructor(code: DpopRefusal, message: string) {
    super(message);
    this.name = 'DpopProofRefused';
    this.code = code;
  }
}

/** The asymmetric algorithms a proof may use (RFC 9449 forbids `none` and MACs). */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'PS384', 'PS512', 'RS256'];

export interface DpopCheck {
  proof: string | undefined;
  method: string;
  url: string;
  accessToken: string;
  /** The token's `cnf.jkt`. */
  jkt: string;
}

export interface DpopOptions {
  algorithms: readonly string[];
  maxAgeSeconds: number;
  clockToleranceSeconds: number;
  replay: ReplayCache;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** The URL the way `htu` is compared: normalised, without query and fragment; null when it is no URL. */
export function htuOf(url: string): string | null {
  const parsed = URL.parse(url);
  if (!parsed) return null;
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

/** The `ath` of an access token: base64url of its SHA-256. */
export const accessTokenHash = (token: string) => createHash('sha256').update(token).digest('base64url');

/** Verifies one proof against the request and the token; throws DpopProofRefused. Returns the key's thumbprint. */
export async function verifyDpopProof(check: DpopCheck, options: DpopOptions): Promise<string> {
  const { proof } = check;
  if (proof === undefined || proof === '') {
    throw new DpopProofRefused('dpop_proof_missing', 'The token is DPoP-bound: the request must carry a DPoP proof.');
  }
  // Two DPoP headers arrive joined by a comma, which no compact JWS contains.
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(proof)) {
    throw new DpopProofRefused('dpop_proof_invalid', 'The DPoP header must be exactly one compact JWS.');
  }
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw new DpopProofRefused('dpop_proof_invalid', 'The DPoP proof has no readable header.');
  }
  const jwk = header.jwk as JWK | undefined;
  if (header.typ !== 'dpop+jwt')
    throw new DpopProofRefused('dpop_proof_invalid', 'The DPoP proof must be typ dpop+jwt.');
  if (typeof header.alg !== 'string' || !options.algorithms.includes(header.alg)) {
    throw new DpopProofRefused('dpop_proof_invalid', 'The DPoP proof is signed with an algorithm not accepted here.');
  }
  if (!jwk || typeof jwk !== 'object' || PRIVATE_MEMBERS.some((member) => member in jwk)) {
    throw new DpopProofRefused('dpop_proof_invalid', 'The DPoP proof must carry a public key in its jwk header.');
  }
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...options.algorithms],
      maxTokenAge: options.maxAgeSeconds,
      clockTolerance: options.clockToleranceSeconds,
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    }));
  } catch (error) {
    const code = (error as { code?: string }).code;
    const claim = (error as { claim?: string }).claim;
    if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'iat') {
      throw new DpopProofRefused('dpop_iat_out_of_window', 'The DPoP proof is too old, or dated in the future.');
    }
    if (code === 'ERR_JWT_EXPIRED') {
      throw new DpopProofRefused('dpop_iat_out_of_window', 'The DPoP proof is too old.');
    }
    throw new DpopProofRefused('dpop_proof_invalid', 'The DPoP proof does not verify or lacks jti, htm, htu or iat.');
  }
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 512) {
    throw new DpopProofRefused('dpop_proof_invalid', 'The DPoP proof needs a jti.');
  }
  if (payload.htm !== check.method) {
    throw new DpopProofRefused('dpop_htm_mismatch', 'The DPoP proof was made for another HTTP method.');
  }
  const expected = htuOf(check.url);
  if (typeof payload.htu !== 'string' || expected === null || htuOf(payload.htu) !== expected) {
    throw new DpopProofRefused('dpop_htu_mismatch', 'The DPoP proof was made for another URL.');
  }
  if (payload.ath !== accessTokenHash(check.accessToken)) {
    throw new DpopProofRefused('dpop_ath_mismatch', 'The DPoP proof was made for another access token.');
  }
  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
  if (thumbprint !== check.jkt) {
    throw new DpopProofRefused('dpop_key_mismatch', 'The DPoP proof is signed by a key the token is not bound to.');
  }
  const iat = Number(payload.iat);
  const keepUntil = (iat + options.maxAgeSeconds + options.clockToleranceSeconds) * 1000;
  if (!(await options.replay.firstUse(`${thumbprint}:${payload.jti}`, keepUntil))) {
    throw new DpopProofRefused('dpop_replayed', 'The DPoP proof was used before.');
  }
  return thumbprint;
}
