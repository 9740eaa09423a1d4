import { createHash } from 'node:crypto';
import type { JWK } from 'jose';
import { z } from 'zod';
import { emptyAllowlist, isAllowlisted } from '../../webhooks/ssrf.ts';
import { type FetchPolicy, fetchDocument } from './fetch.ts';
import { algorithmsFor, proofHeader, verifyChallengeJws } from './jws.ts';
import { decodeMultikey } from './multikey.ts';
import { type AnchorResult, refuse, verified } from './refusals.ts';

/**
 * The did:web anchor: a DID document served from a domain the agent's operator controls. Enforces:
 * - did:web syntax (W3C did:web method): `did:web:<host>[%3A<port>][:<path>…]`, mapped to
 *   `https://<host>[:port]/.well-known/did.json` or `https://<host>[:port]/<path…>/did.json`;
 * - the document is fetched through the SSRF guard (`fetch.ts`): https, public addresses only
 *   (plain http only to allowlisted hosts in development), a deadline, a size cap, redirects re-checked;
 * - the document is a JSON object whose `id` is exactly the DID;
 * - the JWS `kid` names a verification method of the document (absolute `did…#frag` or relative
 *   `#frag`) that `authentication` or `assertionMethod` references or embeds;
 * - that method's key is a public `publicKeyJwk` (JsonWebKey2020 / JsonWebKey) or a `publicKeyMultibase`
 *   (Multikey, Ed25519VerificationKey2020), Ed25519 or P-256, never one carrying a private part;
 * - the JWS verifies under it and its payload is the challenge.
 * Proven: whoever answered holds a key that the domain's DID document authorises for authentication.
 */

export interface DidWebVerification {
  did: string;
  /** Where the document was fetched (after redirects). */
  documentUrl: string;
  /** SHA-256 of the document's bytes as fetched, hex: what was trusted at verification time. */
  documentSha256: string;
  /** The verification method the proof was signed with, absolute (`did:web:…#key-1`). */
  keyId: string;
  alg: string;
  publicJwk: JWK;
}

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=@%-]+$/;

/** The https URL of a did:web's document (W3C did:web §3.2, "Read"). */
export function didWebUrl(did: unknown): AnchorResult<{ did: string; url: string; host: string }> {
  if (typeof did !== 'string' || did.length > 512)
    return refuse('malformed_did', 'A did:web is a string of at most 512 characters.');
  if (!did.startsWith('did:web:')) return refuse('malformed_did', 'A did:web reads did:web:<domain>[:<path>…].');
  if (/[#?/]/.test(did)) return refuse('malformed_did', 'A did:web anchor has no path, query or fragment.');
  const [encodedHost = '', ...path] = did.slice('did:web:'.length).split(':');
  let hostAndPort: string;
  let segments: string[];
  try {
    hostAndPort = decodeURIComponent(encodedHost).toLowerCase();
    segments = path.map((segment) => {
      if (!SEGMENT.test(segment)) throw new Error('bad segment');
      const decoded = decodeURIComponent(segment);
      if (!decoded || decoded === '.' || decoded === '..' || /[/\\?#]/.test(decoded)) throw new Error('bad segment');
      return encodeURIComponent(decoded);
    });
  } catch {
    return refuse('malformed_did', 'A did:web path segment is empty or not valid percent-encoding.');
  }
  const portMatch = /^(.*?)(?::(\d{1,5}))?$/.exec(hostAndPort);
  const host = portMatch?.[1] ?? '';
  const port = portMatch?.[2];
  const labels = host.split('.');
  const numeric = /^\d+$/.test(labels[labels.length - 1] ?? '');
  if (numeric || labels.some((label) => !HOST_LABEL.test(label)) || host.length > 253) {
    return refuse('malformed_did', 'A did:web names a domain name (an IP address or an empty label is not one).');
  }
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return refuse('malformed_did', 'The did:web port is out of range.');
  }
  const authority = port === undefined ? host : `${host}:${Number(port)}`;
  const url = `https://${authority}/${segments.length > 0 ? segments.join('/') : '.well-known'}/did.json`;
  return verified({ did, url, host });
}

const reference = z.union([z.string(), z.object({ id: z.string() }).passthrough()]);
const verificationMethod = z
  .object({
    id: z.string(),
    type: z.string(),
    controller: z.string().optional(),
    publicKeyJwk: z.record(z.string(), z.unknown()).optional(),
    publicKeyMultibase: z.string().optional(),
  })
  .passthrough();
const didDocument = z
  .object({
    id: z.string(),
    verificationMethod: z.array(verificationMethod).max(100).optional(),
    authentication: z.array(reference).max(100).optional(),
    assertionMethod: z.array(reference).max(100).optional(),
  })
  .passthrough();
type VerificationMethod = z.infer<typeof verificationMethod>;

/** Options: the fetch policy (allowlist, resolver, deadline, size cap). */
export type DidWebOptions = FetchPolicy;

/** Fetches the DID document of `did` and verifies that `proof`, a compact JWS over `challenge`, was signed by one of its authentication keys. */
export async function verifyDidWeb(
  did: unknown,
  challenge: string,
  proof: unknown,
  options: DidWebOptions = {},
): Promise<AnchorResult<DidWebVerification>> {
  const target = didWebUrl(did);
  if (!target.ok) return target;
  const header = proofHeader(proof);
  if (!header.ok) return header;
  const kid = header.value.kid;
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 1024) {
    return refuse('verification_method_not_found', 'The JWS header must name the verification method in "kid".');
  }
  const url = target.value.url;
  const plainHttp =
    options.plainHttpForAllowlisted && isAllowlisted(options.allowlist ?? emptyAllowlist, target.value.host);
  const fetched = await fetchDocument(
    plainHttp ? url.replace(/^https:/, 'http:') : url,
    { maxBytes: 64 * 1024, ...options },
    'application/did+json, application/json',
  );
  if (!fetched.ok) {
    if (fetched.reason === 'too_large') return refuse('did_document_invalid', fetched.message);
    if (fetched.reason === 'unreachable')
      return refuse('did_document_unreachable', `The DID document at ${url}: ${fetched.message}`);
    return refuse(fetched.reason, fetched.message);
  }
  let json: unknown;
  try {
    json = JSON.parse(fetched.body.toString('utf8'));
  } catch {
    return refuse('did_document_invalid', `The DID document at ${url} is not JSON.`);
  }
  const document = didDocument.safeParse(json);
  if (!document.success) return refuse('did_document_invalid', `The DID document at ${url} is not a DID document.`);
  const { id } = document.data;
  if (id !== target.value.did) {
    return refuse('did_document_invalid', `The DID document's id is ${id.slice(0, 300)}, not ${target.value.did}.`);
  }
  const absolute = (ref: string) => (ref.startsWith('#') ? `${id}${ref}` : ref);
  const keyId = absolute(kid);
  const method = authorisedMethod(document.data, keyId, absolute);
  if (!method) {
    return refuse(
      'verification_method_not_found',
      `The DID document has no verification method ${keyId.slice(0, 300)} referenced from authentication or assertionMethod.`,
    );
  }
  const key = publicKeyOf(method);
  if (!key.ok) return key;
  const checked = await verifyChallengeJws(proof as string, header.value, key.value, challenge);
  if (!checked.ok) return checked;
  return verified({
    did: target.value.did,
    documentUrl: fetched.url,
    documentSha256: createHash('sha256').update(fetched.body).digest('hex'),
    keyId,
    alg: checked.value.alg,
    publicJwk: key.value,
  });
}

/** The verification method `keyId` if `authentication` or `assertionMethod` references or embeds it. */
function authorisedMethod(
  document: z.infer<typeof didDocument>,
  keyId: string,
  absolute: (ref: string) => string,
): VerificationMethod | undefined {
  for (const relationship of [document.authentication ?? [], document.assertionMethod ?? []]) {
    for (const entry of relationship) {
      if (typeof entry === 'string') {
        if (absolute(entry) !== keyId) continue;
        const found = (document.verificationMethod ?? []).find((method) => absolute(method.id) === keyId);
        if (found) return found;
      } else if (absolute(entry.id) === keyId) {
        const embedded = verificationMethod.safeParse(entry);
        if (embedded.success) return embedded.data;
      }
    }
  }
  return undefined;
}

/** The public JWK of a verification method, refusing private parts and key types SigID does not verify. */
function publicKeyOf(method: VerificationMethod): AnchorResult<JWK> {
  if (method.publicKeyJwk && (method.type === 'JsonWebKey2020' || method.type === 'JsonWebKey')) {
    const jwk = method.publicKeyJwk as JWK;
    if ('d' in jwk || 'p' in jwk || 'k' in jwk) {
      return refuse('did_document_invalid', 'The verification method publishes private key material.');
    }
    if (!algorithmsFor(jwk) || typeof jwk.x !== 'string' || (jwk.kty === 'EC' && typeof jwk.y !== 'string')) {
      return refuse('unsupported_key_type', 'Only Ed25519 (OKP) and P-256 (EC) public JWKs are supported.');
    }
    const { kty, crv, x, y } = jwk;
    return verified(kty === 'EC' ? { kty, crv, x, y } : { kty, crv, x });
  }
  if (
    method.publicKeyMultibase !== undefined &&
    (method.type === 'Multikey' || method.type === 'Ed25519VerificationKey2020')
  ) {
    const key = decodeMultikey(method.publicKeyMultibase);
    if (!key.ok)
      return refuse(key.reason === 'unsupported' ? 'unsupported_key_type' : 'did_document_invalid', key.message);
    if (method.type === 'Ed25519VerificationKey2020' && key.type !== 'Ed25519') {
      return refuse('did_document_invalid', 'An Ed25519VerificationKey2020 holds an Ed25519 key.');
    }
    return verified(key.jwk);
  }
  return refuse(
    'unsupported_key_type',
    `Verification method type ${method.type.slice(0, 100)} is not supported (JsonWebKey2020 with publicKeyJwk, Multikey or Ed25519VerificationKey2020 with publicKeyMultibase).`,
  );
}
