/**
 * What an anchor verifier answers: the facts it proved, or one refusal from a closed set of codes.
 * Verifiers never throw for bad input; a refusal's `message` says what was wrong in words an agent's
 * developer can act on and never carries a secret (no key material beyond public keys, no proof).
 */

export const anchorRefusalCodes = [
  /** The anchor description itself is not usable (an ERC-8004 registry that is not `eip155:<chain>:<address>`, an agent id that is not a number). */
  'malformed_anchor',
  /** Not a DID of the method the verifier handles, or not valid syntax for it. */
  'malformed_did',
  /** A key type SigID does not verify (did:key multicodecs other than Ed25519 and P-256, RSA JWKs…). */
  'unsupported_key_type',
  /** The JWS names an algorithm that is not the one its key is for (`none`, `HS256`, ES256 on an Ed25519 key…). */
  'unsupported_algorithm',
  /** The proof is not a compact JWS / not a hex signature, or is too large. */
  'malformed_proof',
  /** The signature does not verify under the anchor's key. */
  'bad_signature',
  /** The signed payload is not the challenge SigID issued. */
  'challenge_mismatch',
  /** The document or file would be fetched over plain http from a host that is not allowlisted. */
  'https_required',
  /** The host resolves to an address SigID does not connect to (private, loopback, metadata…). */
  'forbidden_address',
  /** The DID document could not be fetched (DNS, connection, timeout, a non-200 answer). */
  'did_document_unreachable',
  /** The DID document is not JSON, too large, or does not describe this DID. */
  'did_document_invalid',
  /** The proof's `kid` names no verification method the DID document authorises for authentication. */
  'verification_method_not_found',
  /** The chain's RPC endpoint did not answer. */
  'registry_unreachable',
  /** No ERC-8004 Identity Registry answers at the anchor's address. */
  'not_a_registry',
  /** The registry has no agent with this id. */
  'agent_not_found',
  /** The agent's registration file (its agent URI) could not be fetched. */
  'registration_file_unreachable',
  /** The registration file is not JSON of the ERC-8004 shape, or is too large. */
  'registration_file_invalid',
  /** The registration file does not list this registry and agent id in `registrations`. */
  'registration_mismatch',
  /** The signature is valid but its signer is neither the agent's owner nor its agent wallet. */
  'not_the_owner',
] as const;

export type AnchorRefusalCode = (typeof anchorRefusalCodes)[number];

export interface AnchorRefusal {
  readonly ok: false;
  readonly code: AnchorRefusalCode;
  readonly message: string;
}

export type AnchorResult<T> = { readonly ok: true; readonly value: T } | AnchorRefusal;

export function refuse(code: AnchorRefusalCode, message: string): AnchorRefusal {
  return { ok: false, code, message };
}

export function verified<T>(value: T): AnchorResult<T> {
  return { ok: true, value };
}
