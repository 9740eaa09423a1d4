import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { redirectUriRefusal } from '../applications/redirect-uris.ts';
import {
  type Allowlist,
  connectionRefusal,
  isAllowlisted,
  pinnedLookup,
  type Resolver,
  systemResolver,
} from '../webhooks/ssrf.ts';

/**
 * OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, oidc-provider's
 * experimental `clientIdMetadataDocument`, acknowledged at draft-02): a client whose client_id is an
 * https URL is the JSON document found there. oidc-provider checks that the document's client_id is
 * its URL, that it holds no secret and no shared-secret authentication, and caches it. This module
 * adds what SigID enforces:
 * - the document is fetched through the SSRF guard (src/webhooks/ssrf.ts: only globally routable
 *   addresses, checked in the socket's own lookup), with no redirect followed, a 2.5 s deadline and
 *   at most 5 KiB read; a host named by SIGID_CLIENT_METADATA_ALLOWLIST may be private and is
 *   reached over plain http (a developer's machine; never name a production host there);
 * - the client authenticates with `none` (a public client) or `private_key_jwt` with a `jwks_uri`;
 * - it uses the authorization code flow only (`authorization_code`, optionally `refresh_token`;
 *   response type `code`); PKCE S256 is always required of it (src/oidc/provider.ts);
 * - it lists at least one redirect URI, each one SigID accepts for a public application
 *   (src/applications/redirect-uris.ts: https, loopback http, a native private-use scheme).
 */

/** The most a document may weigh (oidc-provider's own limit, also enforced while reading). */
export const DOCUMENT_MAX_BYTES = 5 * 1024;

/** How long a fetched document is used before it is fetched again (its Cache-Control within these bounds). */
export const DOCUMENT_CACHE_SECONDS = { min: 30, max: 300 } as const;

const ALLOWED_GRANTS = new Set(['authorization_code', 'refresh_token']);

/** Why SigID will not serve a client of this (parsed) metadata document, or null when it will. */
export function clientMetadataDocumentRefusal(metadata: Record<string, unknown>): string | null {
  const method = metadata.token_endpoint_auth_method;
  if (method !== 'none' && method !== 'private_key_jwt') {
    return 'token_endpoint_auth_method must be none or private_key_jwt';
  }
  if (method === 'private_key_jwt' && typeof metadata.jwks_uri !== 'string') {
    return 'a private_key_jwt client must publish its keys at jwks_uri';
  }
  const grants = Array.isArray(metadata.grant_types) ? metadata.grant_types : ['authorization_code'];
  if (!grants.includes('authorization_code') || grants.some((grant) => !ALLOWED_GRANTS.has(String(grant)))) {
    return 'grant_types may only be authorization_code (and refresh_token)';
  }
  const responses = Array.isArray(metadata.response_types) ? metadata.response_types : ['code'];
  if (responses.length !== 1 || responses[0] !== 'code') return 'response_types must be ["code"]';
  const redirects = Array.isArray(metadata.redirect_uris) ? metadata.redirect_uris : [];
  if (redirects.length === 0) return 'redirect_uris must list at least one URI';
  const kind = metadata.application_type === 'native' ? 'native' : 'spa';
  for (const uri of redirects) {
    const refusal = typeof uri === 'string' ? redirectUriRefusal(kind, uri) : 'is not a string';
    if (refusal) return `redirect URI ${JSON.stringify(uri)} ${refusal}`;
  }
  return null;
}

/** The SHA-256 of a document as the issuer parsed it (its fields in order), to tell a changed one. */
export function documentHash(metadata: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(metadata)).digest('base64url');
}

/**
 * The `fetch` oidc-provider makes its outgoing requests with (metadata documents above all): node's
 * http(s) through the SSRF guard, `redirect: manual` (the status is returned as it is), the caller's
 * deadline, at most `maxBytes` read.
 */
export function guardedFetch(
  allowlist: Allowlist,
  options: { resolve?: Resolver; maxBytes?: number } = {},
): typeof fetch {
  const resolve = options.resolve ?? systemResolver;
  const maxBytes = options.maxBytes ?? DOCUMENT_MAX_BYTES;
  const lookups = {
    'http:': pinnedLookup(allowlist, 'http:', resolve),
    'https:': pinnedLookup(allowlist, 'https:', resolve),
  };
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`cannot fetch ${url.protocol} URLs`);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    // A developer's allowlisted host serves plain http (its https URL is still the client_id).
    const scheme: 'http:' | 'https:' = isAllowlisted(allowlist, host) ? 'http:' : (url.protocol as 'http:' | 'https:');
    if (isIP(host)) {
      const refusal = connectionRefusal(allowlist, scheme, host, host);
      if (refusal) throw refusal;
    } else if (scheme === 'http:' && !isAllowlisted(allowlist, host)) {
      throw new TypeError('plain http is only used towards an allowlisted host');
    }
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const signal = init?.signal ?? AbortSignal.timeout(2500);
    return new Promise<Response>((resolveResponse, reject) => {
      const request = (scheme === 'https:' ? https : http).request(
        {
          protocol: scheme,
          hostname: host,
          port: url.port || undefined,
          path: `${url.pathname}${url.search}`,
          method: init?.method ?? 'GET',
          headers: { ...headers, 'user-agent': 'SigID' },
          lookup: lookups[scheme],
          agent: false,
          signal,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > maxBytes) {
              response.destroy();
              reject(new Error('response too large'));
              return;
            }
            chunks.push(chunk);
          });
          response.on('error', reject);
          response.on('end', () => {
            const answered = new Headers();
            for (const [name, value] of Object.entries(response.headers)) {
              if (value !== undefined) answered.set(name, Array.isArray(value) ? value.join(', ') : value);
            }
            const status = response.statusCode ?? 502;
            const empty = status === 204 || status === 304 || (status >= 100 && status < 200);
            resolveResponse(
              new Response(empty ? null : Buffer.concat(chunks), {
                status: status < 200 ? 502 : status,
                headers: answered,
              }),
            );
          });
        },
      );
      request.on('error', reject);
      request.end();
    });
  }) as typeof fetch;
}
