import { type Request, type RequestHandler, type Response, Router } from 'express';
import { challenge, protectedResourceMetadata } from '../resource-server/protected-resource.ts';
import type { Sigid } from '../sigid.ts';
import { noQuery, parseQuery } from './validate.ts';

/** SigID's API as an RFC 9728 protected resource: the resource is SigID's public origin. */
function resourceOf(sigid: Sigid): string {
  return new URL(sigid.config.publicUrl).origin;
}

const metadataPath = '/.well-known/oauth-protected-resource';

/**
 * `GET /.well-known/oauth-protected-resource`: what an OAuth-aware client learns of SigID's API. Its
 * credentials are API keys and operator keys, which no authorization server issues, so
 * `authorization_servers` is empty; a tenant's own APIs and MCP servers serve their own metadata
 * (src/resource-server/, docs/mcp.md).
 */
export function protectedResourceRouter(sigid: Sigid): Router {
  const router = Router();
  router.get(metadataPath, (request, response) => {
    parseQuery(noQuery, request);
    const publicUrl = sigid.config.publicUrl.replace(/\/+$/, '');
    response
      .set('Cache-Control', 'public, max-age=300')
      .set('Access-Control-Allow-Origin', '*')
      .json({
        ...protectedResourceMetadata({
          resource: resourceOf(sigid),
          authorizationServers: [],
          scopesSupported: [],
          resourceName: 'SigID API',
          resourceDocumentation: `${publicUrl}/api/v1/openapi.json`,
        }),
      });
  });
  return router;
}

/**
 * Every 401 of the API names the metadata (RFC 9728 §5.1): `Bearer resource_metadata="…"`, with
 * `error="invalid_token"` when a credential was sent and refused (RFC 6750 §3.1), bare when none was.
 */
export function unauthorizedChallenge(sigid: Sigid, request: Request): string {
  const resourceMetadata = `${resourceOf(sigid)}${metadataPath}`;
  return request.get('authorization')
    ? challenge('Bearer', { resourceMetadata, error: 'invalid_token' })
    : challenge('Bearer', { resourceMetadata });
}

/** Sets the challenge on the API's 401 answers (before the problem handler renders them). */
export function challengeOnUnauthorized(sigid: Sigid): RequestHandler {
  return (request, response: Response, next) => {
    const writeHead = response.writeHead;
    response.writeHead = function patched(this: Response, ...args: Parameters<Response['writeHead']>) {
      if (this.statusCode === 401 && !this.hasHeader('WWW-Authenticate')) {
        this.setHeader('WWW-Authenticate', unauthorizedChallenge(sigid, request));
      }
      return writeHead.apply(this, args);
    } as Response['writeHead'];
    next();
  };
}
