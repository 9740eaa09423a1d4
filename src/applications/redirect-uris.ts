import type { ApplicationKind } from '../../events/application.ts';

/**
 * The URIs an application registers: redirect URIs, post-logout redirect URIs, allowed origins and
 * its logo. Redirect URIs are compared as exact strings at authorization time, so they are checked
 * strictly here. Enforces:
 * - only URI characters (RFC 3986: unreserved, reserved and `%`), so no space, backslash or
 *   non-ASCII text a browser would read differently from SigID; absolute, parsed by the WHATWG URL
 *   parser, with no fragment (RFC 6749 §3.1.2), no userinfo and no wildcard;
 * - http(s) URIs written as their origin reads (`scheme://host[:port]` lowercase, no default port),
 *   so the string compared is the address a browser goes to;
 * - web and spa: https, or http to a loopback host (`localhost`, `127.0.0.1`, `[::1]`) for
 *   development;
 * - native (RFC 8252): https (claimed https URIs, §7.2), http to a loopback host (§7.3), matched on
 *   any port (`redirectUriMatches`), or a private-use scheme named after a reversed domain the app
 *   owns (`com.example.app:/callback`, §7.1: the scheme must contain a period);
 * - allowed origins (CORS for the token endpoint): bare origins exactly as `URL.origin` writes them,
 *   https or loopback http;
 * - the logo: https.
 * Machine-to-machine applications register no redirect URI at all (`client-metadata.ts`).
 */

const URI_CHARACTERS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$/;

const isLoopback = (url: URL) => LOOPBACK_HOSTS.has(url.hostname);

/** Why `uri` is not an absolute URI SigID can compare exactly, or null (and the parsed URL). */
function absoluteUri(uri: string): { refusal: string } | { url: URL } {
  if (!URI_CHARACTERS.test(uri)) return { refusal: 'holds characters a URI cannot (percent-encode them)' };
  if (uri.includes('#')) return { refusal: 'has a fragment (#), which a redirect URI must not' };
  if (!URL.canParse(uri)) return { refusal: 'is not an absolute URI' };
  const url = new URL(uri);
  if (url.username || url.password || /^[a-z][a-z0-9+.-]*:\/\/[^/?]*@/i.test(uri)) {
    return { refusal: 'has userinfo (user@), which SigID does not accept' };
  }
  if (url.hostname.includes('*')) return { refusal: 'has a wildcard; register each URI in full' };
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    const rest = uri.slice(url.origin.length);
    if (!uri.startsWith(url.origin) || !(rest === '' || rest.startsWith('/') || rest.startsWith('?'))) {
      return { refusal: `must be written ${url.origin}… (lowercase scheme and host, no default port)` };
    }
  }
  return { url };
}

/** Why `uri` cannot be a redirect (or post-logout redirect) URI of a `kind` application, or null. */
export function redirectUriRefusal(kind: ApplicationKind, uri: string): string | null {
  const parsed = absoluteUri(uri);
  if ('refusal' in parsed) return parsed.refusal;
  const { url } = parsed;
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:') {
    if (isLoopback(url)) return null;
    return 'must be https (plain http only to localhost, 127.0.0.1 or [::1])';
  }
  if (kind === 'native') {
    const scheme = url.protocol.slice(0, -1);
    if (PRIVATE_USE_SCHEME.test(scheme) && uri.startsWith(url.protocol)) return null;
    return 'must be https, loopback http, or a private-use scheme named after a reversed domain (com.example.app:/callback)';
  }
  return 'must be https (plain http only to localhost, 127.0.0.1 or [::1])';
}

/** Why `origin` is not a bare origin a browser sends in `Origin`, or null. */
export function allowedOriginRefusal(origin: string): string | null {
  if (!URI_CHARACTERS.test(origin) || !URL.canParse(origin)) return 'is not an origin (scheme://host[:port])';
  const url = new URL(origin);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https origin';
  if (url.origin !== origin) {
    return `must be a bare origin, written ${url.origin} (no path, query, trailing slash or default port)`;
  }
  if (url.protocol === 'http:' && !isLoopback(url)) {
    return 'must be https (plain http only to localhost, 127.0.0.1 or [::1])';
  }
  return null;
}

/** Why `uri` cannot be an application's logo, or null. */
export function logoUriRefusal(uri: string): string | null {
  if (!URI_CHARACTERS.test(uri) || !URL.canParse(uri)) return 'is not an absolute URI';
  const url = new URL(uri);
  if (url.protocol !== 'https:') return 'must be https';
  if (url.username || url.password) return 'has userinfo (user@), which SigID does not accept';
  return null;
}

/**
 * Whether `presented` (a `redirect_uri` of an authorization request) is the `registered` one: the
 * same string, except that a native application's loopback http URI matches on any port (RFC 8252
 * §7.3: the app listens on a port it gets from the system at that moment).
 */
export function redirectUriMatches(kind: ApplicationKind, registered: string, presented: string): boolean {
  if (presented === registered) return true;
  if (kind !== 'native' || !registered.startsWith('http://') || !URL.canParse(presented)) return false;
  const expected = new URL(registered);
  const given = new URL(presented);
  if (!isLoopback(expected) || given.protocol !== 'http:' || given.hostname !== expected.hostname) return false;
  return presented === `http://${given.host}${registered.slice(expected.origin.length)}`;
}
