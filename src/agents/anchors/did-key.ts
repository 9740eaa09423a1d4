import type { JWK } from 'jose';
import { proofHeader, verifyChallengeJws } from './jws.ts';
import { decodeMultikey, type MultikeyType } from './multikey.ts';
import { type AnchorResult, refuse, verified } from './refusals.ts';

/**
 * The did:key anchor: the DID is the public key. Enforces:
 * - `did:key:z…` with nothing after the key but an optional `#fragment` naming the same key;
 * - the key is Ed25519 (multicodec 0xed01) or P-256 compressed (0x8024), decoded without a resolver;
 * - the proof is a compact JWS (EdDSA for Ed25519, ES256 for P-256) whose payload is the challenge;
 * - a `kid` in the JWS header, if any, names this DID (`did:key:z…#z…`, or `#z…`).
 * Proven: whoever answered holds the private key of the DID.
 */

export interface DidKey {
  did: string;
  /** The verification method id, `did:key:z…#z…`. */
  keyId: string;
  keyType: MultikeyType;
  publicJwk: JWK;
}

export interface DidKeyVerification extends DidKey {
  alg: string;
}

const DID_KEY = /^did:key:(z[1-9A-HJ-NP-Za-km-z]+)(#(.*))?$/;

/** Parses a did:key into its public JWK; a `#fragment`, if present, must be the key itself. */
export function parseDidKey(did: unknown): AnchorResult<DidKey> {
  if (typeof did !== 'string' || did.length > 256)
    return refuse('malformed_did', 'A did:key is a string of at most 256 characters.');
  const match = DID_KEY.exec(did);
  if (!match) return refuse('malformed_did', 'A did:key reads did:key:z… (multibase base58btc).');
  const multibase = match[1] as string;
  if (match[2] !== undefined && match[3] !== multibase) {
    return refuse('malformed_did', "A did:key's fragment, if any, is its own key.");
  }
  const key = decodeMultikey(multibase);
  if (!key.ok) return refuse(key.reason === 'unsupported' ? 'unsupported_key_type' : 'malformed_did', key.message);
  const bare = `did:key:${multibase}`;
  return verified({ did: bare, keyId: `${bare}#${multibase}`, keyType: key.type, publicJwk: key.jwk });
}

/** Verifies that `proof`, a compact JWS over `challenge`, was signed by the key of `did`. */
export async function verifyDidKey(
  did: unknown,
  challenge: string,
  proof: unknown,
): Promise<AnchorResult<DidKeyVerification>> {
  const parsed = parseDidKey(did);
  if (!parsed.ok) return parsed;
  const header = proofHeader(proof);
  if (!header.ok) return header;
  const kid = header.value.kid;
  if (kid !== undefined) {
    const fragment = parsed.value.keyId.slice(parsed.value.did.length);
    if (kid !== parsed.value.keyId && kid !== parsed.value.did && kid !== fragment) {
      return refuse(
        'verification_method_not_found',
        `The JWS kid names ${String(kid).slice(0, 300)}, not this did:key.`,
      );
    }
  }
  const checked = await verifyChallengeJws(proof as string, header.value, parsed.value.publicJwk, challenge);
  if (!checked.ok) return checked;
  return verified({ ...parsed.value, alg: checked.value.alg });
}
