/**
 * What a tenant's resource server (an MCP server, an API) imports to accept SigID tokens: the token
 * validator (with DPoP), and its protected-resource metadata and challenges. It depends on jose and
 * node only, and reads SigID through the issuer's published metadata and JWKS (docs/mcp.md).
 */
export { accessTokenHash, DPOP_ALGORITHMS, DpopProofRefused, type DpopRefusal, verifyDpopProof } from './dpop.ts';
export {
  type ChallengeParameters,
  challenge,
  type ProtectedResourceMetadata,
  type ProtectedResourceOptions,
  protectedResourceHandler,
  protectedResourceMetadata,
  protectedResourceMetadataUrl,
} from './protected-resource.ts';
export { MemoryReplayCache, type ReplayCache } from './replay.ts';
export {
  type Actor,
  createTokenValidator,
  type RefusedToken,
  type RequestLike,
  type SubjectType,
  type TokenRefusal,
  type TokenValidator,
  type TokenValidatorOptions,
  type Validation,
  type ValidToken,
} from './token-validator.ts';
