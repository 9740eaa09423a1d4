import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { DPOP_ALGORITHMS, DpopProofRefused, type DpopRefusal, verifyDpopProof } from './dpop.ts';
import { challenge, protectedResourceMetadataUrl } from './protected-resource.ts';
import { MemoryReplayCache, type ReplayCache } from './replay.ts';

/**
 * Validates a SigID access token at a tenant's resource server (an MCP server, an API). Enforces:
 * - an `Authorization` header of scheme `Bearer` or `DPoP` carrying one token;
 * - a JWT of `typ` `at+jwt` (RFC 9068) signed by a key of the issuer's JWKS (found through its
 *   metadata, cached by jose), with an accepted algorithm;
 * - `iss` exactly the tenant issuer (`{PUBLIC_URL}/t/{slug}`: the tenant), `aud` holding the
 *   resource's identifier, `exp` in the future, `sub` present;
 * - `subject_type` one of the allowed ones (`user`, `agent`, `application` by default);
 * - an `act` chain (RFC 8693) of objects with a `sub` each, no deeper than `maxActorDepth`, and a
 *   `delegation_id` whenever `act` is present;
 * - the scopes asked for (`requireScopes`, of the validator and of the call) all in `scope`;
 * - a DPoP-bound token (`cnf.jkt`) presented with the `DPoP` scheme and a proof verified by
 *   `verifyDpopProof` (RFC 9449); an unbound token never with the `DPoP` scheme, and not at all when
 *   `requireDpop` is set.
 * Every refusal names a stable `code` and carries the `WWW-Authenticate` challenge to answer with.
 */

export type SubjectType = 'user' | 'agent' | 'application';

/** Why a token is refused: each a stable `code`. */
export type TokenRefusal =
  | 'token_missing'
  | 'authorization_scheme_invalid'
  | 'token_malformed'
  | 'token_type_invalid'
  | 'signature_invalid'
  | 'issuer_mismatch'
  | 'audience_mismatch'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'claims_invalid'
  | 'subject_type_missing'
  | 'subject_type_not_allowed'
  | 'actor_invalid'
  | 'actor_chain_too_deep'
  | 'delegation_id_missing'
  | 'scope_missing'
  | 'dpop_required'
  | 'dpop_bound_token_as_bearer'
  | 'token_not_dpop_bound'
  | 'issuer_unavailable'
  | DpopRefusal;

export interface Actor {
  sub: string;
  subject_type: string | null;
}

export interface ValidToken {
  ok: true;
  claims: JWTPayload & Record<string, unknown>;
  sub: string;
  subject_type: SubjectType;
  /** The actors of a delegated token, current actor (the outermost `act`) first; empty when none. */
  actors: Actor[];
  delegation_id: string | null;
  scopes: string[];
  client_id: string | null;
  /** The DPoP key's thumbprint when the token is bound (and the proof verified). */
  jkt: string | null;
}

export interface RefusedToken {
  ok: false;
  /** 401: no usable token or proof; 403: a valid token that may not do this; 503: the issuer's keys could not be read. */
  status: 401 | 403 | 503;
  /** The RFC 6750 / RFC 9449 error (absent when no credential was sent at all). */
  error:
    | 'invalid_request'
    | 'invalid_token'
    | 'insufficient_scope'
    | 'invalid_dpop_proof'
    | 'temporarily_unavailable'
    | null;
  code: TokenRefusal;
  description: string;
  /** The `WWW-Authenticate` header value to answer with (null for a 503). */
  wwwAuthenticate: string | null;
}

export type Validation = ValidToken | RefusedToken;

/** What `validate` reads of a request: its `Authorization` and `DPoP` headers, method and absolute URL. */
export interface RequestLike {
  authorization: string | undefined;
  dpop?: string | undefined;
  method: string;
  /** The absolute URL the client called (the public one, behind a proxy): DPoP's `htu` is compared with it. */
  url: string;
}

export interface TokenValidatorOptions {
  /** The tenant issuer, `{PUBLIC_URL}/t/{slug}`. */
  issuer: string;
  /** The resource's identifier: the API's identifier in SigID, its tokens' `aud`. */
  audience: string;
  /** Scopes every request needs. */
  requireScopes?: string[];
  /** The subject types accepted (all three by default). */
  subjectTypes?: SubjectType[];
  /** How many actors an `act` chain may have (default 1: an agent acting for a user). 0 refuses delegated tokens. */
  maxActorDepth?: number;
  /** Refuse tokens that are not DPoP-bound. */
  requireDpop?: boolean;
  /** The metadata URL named in challenges (default: RFC 9728's well-known URL of `audience`). */
  resourceMetadata?: string;
  /** Used for the issuer's metadata and JWKS (default: global fetch). */
  fetch?: typeof fetch;
  /** The issuer's keys, instead of fetching them (tests, an offline resource server). */
  keys?: JWTVerifyGetKey;
  /** Signature algorithms accepted for tokens (default ES256, as SigID signs). */
  algorithms?: string[];
  clockToleranceSeconds?: number;
  /** How old a DPoP proof may be (default 60 s). */
  dpopMaxAgeSeconds?: number;
  /** Where accepted proofs' jti are remembered (default: in memory, this process). */
  replay?: ReplayCache;
}

export interface TokenValidator {
  validate(request: RequestLike, options?: { requireScopes?: string[] }): Promise<Validation>;
  /** The challenge for a request that sent no credential (what a 401 before any check answers). */
  readonly challenge: string;
}

const SUBJECT_TYPES: SubjectType[] = ['user', 'agent', 'application'];
const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i;

/** A validator for tokens of one tenant issuer and one resource. */
export function createTokenValidator(options: TokenValidatorOptions): TokenValidator {
  const issuer = options.issuer.replace(/\/+$/, '');
  const subjectTypes = new Set(options.subjectTypes ?? SUBJECT_TYPES);
  const maxActorDepth = options.maxActorDepth ?? 1;
  const algorithms = options.algorithms ?? ['ES256'];
  const clockTolerance = options.clockToleranceSeconds ?? 5;
  const dpop = {
    algorithms: DPOP_ALGORITHMS,
    maxAgeSeconds: options.dpopMaxAgeSeconds ?? 60,
    clockToleranceSeconds: clockTolerance,
    replay: options.replay ?? new MemoryReplayCache(),
  };
  const resourceMetadata = options.resourceMetadata ?? defaultMetadataUrl(options.audience);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  let keys: Promise<JWTVerifyGetKey> | undefined = options.keys ? Promise.resolve(options.keys) : undefined;

  /** The issuer's JWKS, found through its metadata (RFC 8414 / OpenID Discovery) once, then cached by jose. */
  function issuerKeys(): Promise<JWTVerifyGetKey> {
    if (keys) return keys;
    const discovered = (async () => {
      const response = await fetchImpl(`${issuer}/.well-known/openid-configuration`, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(5000),
      });
      if (response.status !== 200) throw new Error(`issuer metadata: HTTP ${response.status}`);
      const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (metadata.issuer !== issuer) throw new Error('issuer metadata names another issuer');
      if (typeof metadata.jwks_uri !== 'string') throw new Error('issuer metadata has no jwks_uri');
      return createRemoteJWKSet(new URL(metadata.jwks_uri), {
        [customFetch]: fetchImpl as unknown as FetchImplementation,
      });
    })();
    keys = discovered;
    // A failed discovery is tried again by the next request.
    discovered.catch(() => {
      if (keys === discovered) keys = undefined;
    });
    return discovered;
  }

  const bearerChallenge = (parameters: Parameters<typeof challenge>[1] = {}) =>
    challenge('Bearer', { resourceMetadata, ...parameters });
  const dpopChallenge = (parameters: Parameters<typeof challenge>[1] = {}) =>
    challenge('DPoP', { resourceMetadata, algs: dpop.algorithms, ...parameters });
  /** The challenges of a refusal: the scheme that was used carries the error, the other one is offered too. */
  const challenges = (scheme: 'Bearer' | 'DPoP', parameters: Parameters<typeof challenge>[1] = {}) => {
    if (options.requireDpop) return dpopChallenge(parameters);
    return scheme === 'DPoP'
      ? `${dpopChallenge(parameters)}, ${bearerChallenge()}`
      : `${bearerChallenge(parameters)}, ${dpopChallenge()}`;
  };
  const initialChallenge = options.requireDpop ? dpopChallenge() : `${bearerChallenge()}, ${dpopChallenge()}`;

  function refuse(
    scheme: 'Bearer' | 'DPoP',
    status: 401 | 403,
    error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof',
    code: TokenRefusal,
    description: string,
    scope?: string,
  ): RefusedToken {
    return {
      ok: false,
      status,
      error,
      code,
      description,
      wwwAuthenticate: challenges(scheme, { error, description, ...(scope ? { scope } : {}) }),
    };
  }

  async function validate(request: RequestLike, call: { requireScopes?: string[] } = {}): Promise<Validation> {
    const header = request.authorization?.trim();
    if (!header) {
      return {
        ok: false,
        status: 401,
        error: null,
        code: 'token_missing',
        description: 'The request carries no access token.',
        wwwAuthenticate: initialChallenge,
      };
    }
    const match = AUTHORIZATION.exec(header);
    if (!match) {
      return refuse(
        'Bearer',
        401,
        'invalid_request',
        'authorization_scheme_invalid',
        'The Authorization header must be "Bearer <token>" or "DPoP <token>".',
      );
    }
    const scheme = match[1]?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = match[2] as string;

    let getKey: JWTVerifyGetKey;
    try {
      getKey = await issuerKeys();
    } catch {
      return unavailable();
    }
    let claims: JWTPayload & Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, getKey, {
        issuer,
        audience: options.audience,
        typ: 'at+jwt',
        algorithms,
        clockTolerance,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      const refused = tokenRefusal(error);
      if (refused === 'issuer_unavailable') return unavailable();
      return refuse(scheme, 401, 'invalid_token', refused, TOKEN_DESCRIPTIONS[refused]);
    }

    // Sender constraint first: a bound token with a missing or bad proof tells nothing more.
    const jkt = (claims.cnf as { jkt?: unknown } | undefined)?.jkt;
    let verifiedJkt: string | null = null;
    if (typeof jkt === 'string') {
      if (scheme !== 'DPoP') {
        return refuse(
          'DPoP',
          401,
          'invalid_token',
          'dpop_bound_token_as_bearer',
          'The token is DPoP-bound: present it with the DPoP scheme and a proof.',
        );
      }
      try {
        verifiedJkt = await verifyDpopProof(
          { proof: request.dpop, method: request.method, url: request.url, accessToken: token, jkt },
          dpop,
        );
      } catch (error) {
        if (!(error instanceof DpopProofRefused)) throw error;
        return refuse('DPoP', 401, 'invalid_dpop_proof', error.code, error.message);
      }
    } else if (scheme === 'DPoP') {
      return refuse('DPoP', 401, 'invalid_token', 'token_not_dpop_bound', 'The token is not DPoP-bound.');
    } else if (options.requireDpop) {
      return refuse('DPoP', 401, 'invalid_token', 'dpop_required', 'This resource accepts only DPoP-bound tokens.');
    }

    const subjectType = claims.subject_type;
    if (typeof subjectType !== 'string') {
      return refuse(scheme, 401, 'invalid_token', 'subject_type_missing', 'The token carries no subject_type.');
    }
    if (!subjectTypes.has(subjectType as SubjectType)) {
      return refuse(
        scheme,
        403,
        'insufficient_scope',
        'subject_type_not_allowed',
        `A token of subject type "${subjectType}" is not accepted here.`,
      );
    }

    const actors: Actor[] = [];
    let act = claims.act;
    while (act !== undefined) {
      if (!act || typeof act !== 'object' || Array.isArray(act) || typeof (act as { sub?: unknown }).sub !== 'string') {
        return refuse(scheme, 401, 'invalid_token', 'actor_invalid', 'The token has an act claim without a sub.');
      }
      const actor = act as { sub: string; subject_type?: unknown; act?: unknown };
      actors.push({ sub: actor.sub, subject_type: typeof actor.subject_type === 'string' ? actor.subject_type : null });
      if (actors.length > maxActorDepth) {
        return refuse(
          scheme,
          403,
          'insufficient_scope',
          'actor_chain_too_deep',
          `The token's delegation chain is longer than ${maxActorDepth} actor(s).`,
        );
      }
      act = actor.act;
    }
    const delegationId =
      typeof claims.delegation_id === 'string' && claims.delegation_id !== '' ? claims.delegation_id : null;
    if (actors.length > 0 && delegationId === null) {
      return refuse(
        scheme,
        401,
        'invalid_token',
        'delegation_id_missing',
        'A delegated token (one with act) must name its delegation_id.',
      );
    }

    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    const required = [...(options.requireScopes ?? []), ...(call.requireScopes ?? [])];
    const missing = required.filter((scope) => !scopes.includes(scope));
    if (missing.length > 0) {
      return refuse(
        scheme,
        403,
        'insufficient_scope',
        'scope_missing',
        `The token lacks the scope ${missing.join(' ')}.`,
        [...new Set(required)].join(' '),
      );
    }

    return {
      ok: true,
      claims,
      sub: String(claims.sub),
      subject_type: subjectType as SubjectType,
      actors,
      delegation_id: delegationId,
      scopes,
      client_id: typeof claims.client_id === 'string' ? claims.client_id : null,
      jkt: verifiedJkt,
    };
  }

  return { validate, challenge: initialChallenge };
}

function unavailable(): RefusedToken {
  return {
    ok: false,
    status: 503,
    error: 'temporarily_unavailable',
    code: 'issuer_unavailable',
    description: "The issuer's keys could not be read; try again.",
    wwwAuthenticate: null,
  };
}

function defaultMetadataUrl(audience: string): string | undefined {
  return URL.canParse(audience) && audience.startsWith('https://') ? protectedResourceMetadataUrl(audience) : undefined;
}

const TOKEN_DESCRIPTIONS: Record<TokenRefusal, string> = {
  token_missing: 'The request carries no access token.',
  authorization_scheme_invalid: 'The Authorization header must be "Bearer <token>" or "DPoP <token>".',
  token_malformed: 'The access token is not a JWT.',
  token_type_invalid: 'The token is not an access token (typ at+jwt).',
  signature_invalid: "The token's signature does not verify with the issuer's keys.",
  issuer_mismatch: 'The token was issued by another issuer.',
  audience_mismatch: 'The token is for another resource.',
  token_expired: 'The token has expired.',
  token_not_yet_valid: 'The token is not valid yet.',
  claims_invalid: 'The token lacks a required claim.',
  subject_type_missing: 'The token carries no subject_type.',
  subject_type_not_allowed: 'The subject type is not accepted here.',
  actor_invalid: 'The token has an act claim without a sub.',
  actor_chain_too_deep: 'The delegation chain is too long.',
  delegation_id_missing: 'A delegated token must name its delegation_id.',
  scope_missing: 'The token lacks a required scope.',
  dpop_required: 'This resource accepts only DPoP-bound tokens.',
  dpop_bound_token_as_bearer: 'The token is DPoP-bound.',
  token_not_dpop_bound: 'The token is not DPoP-bound.',
  issuer_unavailable: "The issuer's keys could not be read.",
  dpop_proof_missing: 'The request must carry a DPoP proof.',
  dpop_proof_invalid: 'The DPoP proof is invalid.',
  dpop_htm_mismatch: 'The DPoP proof was made for another HTTP method.',
  dpop_htu_mismatch: 'The DPoP proof was made for another URL.',
  dpop_iat_out_of_window: 'The DPoP proof is too old.',
  dpop_ath_mismatch: 'The DPoP proof was made for another access token.',
  dpop_key_mismatch: 'The DPoP proof is signed by another key.',
  dpop_replayed: 'The DPoP proof was used before.',
};

/** The refusal code of a jose verification error (anything else, a failed JWKS fetch, is the issuer's). */
function tokenRefusal(error: unknown): TokenRefusal {
  if (!(error instanceof errors.JOSEError)) return 'issuer_unavailable';
  const { code, claim } = error as { code?: string; claim?: string };
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'token_expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'signature_invalid';
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
    case 'ERR_JOSE_GENERIC':
      return 'issuer_unavailable';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'iss') return 'issuer_mismatch';
      if (claim === 'aud') return 'audience_mismatch';
      if (claim === 'typ') return 'token_type_invalid';
      if (claim === 'nbf' || claim === 'iat') return 'token_not_yet_valid';
      return 'claims_invalid';
    default:
      return 'token_malformed';
  }
}
