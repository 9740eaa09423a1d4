import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What a protected resource publishes and answers so that an OAuth client (an MCP client above all)
 * finds its authorization server: RFC 9728 metadata at `/.well-known/oauth-protected-resource{path}`,
 * and `WWW-Authenticate` challenges (RFC 6750 §3, RFC 9449 §7.1) naming that metadata.
 */

/** RFC 9728 §2 metadata of one protected resource (the fields SigID's tokens give a meaning to). */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers?: string[];
  jwks_uri?: string;
  scopes_supported?: string[];
  bearer_methods_supported?: Array<'header' | 'body' | 'query'>;
  resource_signing_alg_values_supported?: string[];
  resource_name?: string;
  resource_documentation?: string;
  resource_policy_uri?: string;
  resource_tos_uri?: string;
  dpop_signing_alg_values_supported?: string[];
  dpop_bound_access_tokens_required?: boolean;
}

export interface ProtectedResourceOptions {
  /** The resource identifier: the API's identifier in SigID, the `aud` of its tokens (an https URL). */
  resource: string;
  /** The tenant issuers that issue tokens for it (`{PUBLIC_URL}/t/{slug}`). */
  authorizationServers: string[];
  scopesSupported?: string[];
  resourceName?: string;
  resourceDocumentation?: string;
  /** The DPoP algorithms accepted; listing any advertises DPoP support. */
  dpopAlgorithms?: string[];
  /** Whether only DPoP-bound tokens are accepted. */
  dpopRequired?: boolean;
}

/** The metadata document of a resource (RFC 9728 §2). */
export function protectedResourceMetadata(options: ProtectedResourceOptions): ProtectedResourceMetadata {
  return {
    resource: options.resource,
    authorization_servers: options.authorizationServers,
    ...(options.scopesSupported ? { scopes_supported: options.scopesSupported } : {}),
    bearer_methods_supported: ['header'],
    ...(options.resourceName ? { resource_name: options.resourceName } : {}),
    ...(options.resourceDocumentation ? { resource_documentation: options.resourceDocumentation } : {}),
    ...(options.dpopAlgorithms?.length ? { dpop_signing_alg_values_supported: options.dpopAlgorithms } : {}),
    ...(options.dpopRequired !== undefined ? { dpop_bound_access_tokens_required: options.dpopRequired } : {}),
  };
}

/**
 * Where a resource's metadata lives (RFC 9728 §3.1): the well-known path inserted between the host
 * and the resource's path, `https://mcp.example.com/mcp` → `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-protected-resource${path}${url.search}`;
}

/** A quoted-string of RFC 9110 §5.6.4 (a description SigID writes never holds a quote; escaped anyway). */
const quoted = (value: string) => `"${value.replace(/[\\"]/g, '\\$&').replace(/[\r\n]/g, ' ')}"`;

export interface ChallengeParameters {
  resourceMetadata?: string;
  error?: string;
  description?: string;
  /** The scopes the resource needs (RFC 6750 §3 `scope`, asked again with `insufficient_scope`). */
  scope?: string;
  /** DPoP challenges list the accepted algorithms (RFC 9449 §7.1 `algs`). */
  algs?: readonly string[];
}

/** One challenge: `Bearer resource_metadata="…", error="invalid_token"`. */
export function challenge(scheme: 'Bearer' | 'DPoP', parameters: ChallengeParameters = {}): string {
  const parts: string[] = [];
  if (parameters.resourceMetadata) parts.push(`resource_metadata=${quoted(parameters.resourceMetadata)}`);
  if (parameters.error) parts.push(`error=${quoted(parameters.error)}`);
  if (parameters.description) parts.push(`error_description=${quoted(parameters.description)}`);
  if (parameters.scope) parts.push(`scope=${quoted(parameters.scope)}`);
  if (parameters.algs?.length) parts.push(`algs=${quoted(parameters.algs.join(' '))}`);
  return parts.length > 0 ? `${scheme} ${parts.join(', ')}` : scheme;
}

/**
 * A node `(request, response)` handler that serves the metadata at its well-known path (GET and
 * HEAD, CORS-open: browsers' MCP clients read it) and calls `next` for anything else.
 */
export function protectedResourceHandler(metadata: ProtectedResourceMetadata) {
  const path = new URL(protectedResourceMetadataUrl(metadata.resource)).pathname;
  const body = JSON.stringify(metadata);
  return (request: IncomingMessage, response: ServerResponse, next?: () => void) => {
    const requested = (request.url ?? '/').split('?')[0];
    if (requested !== path || (request.method !== 'GET' && request.method !== 'HEAD')) {
      if (next) return next();
      response.statusCode = 404;
      return void response.end();
    }
    response.statusCode = 200;
    response.setHeader('Content-Type', 'application/json');
    response.setHeader('Cache-Control', 'public, max-age=300');
    response.setHeader('Access-Control-Allow-Origin', '*');
    response.end(request.method === 'HEAD' ? undefined : body);
  };
}
