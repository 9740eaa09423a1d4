import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { CustomFetch } from 'openid-client';
import { type Allowlist, connectionRefusal, pinnedLookup, type Resolver, systemResolver } from '../webhooks/ssrf.ts';

/**
 * The HTTP client SigID talks to a customer's identity provider through (discovery, token, JWKS,
 * userinfo), as openid-client's `customFetch`. Enforces, with the webhooks' SSRF guard:
 * - the connection goes only to an address `ssrf.ts` passes, checked in the socket's own DNS lookup
 *   (IP-literal hosts here, since node skips lookup for them); plain http only to allowlisted hosts
 *   (`SIGID_WEBHOOK_ALLOWLIST`: development and tests);
 * - redirects are never followed (openid-client asks for `redirect: 'manual'`; a 3xx is an answer);
 * - a deadline for the whole exchange, and at most `maxBytes` of body (an IdP cannot stream into
 *   SigID's memory): more is an error.
 */

/** Why an IdP could not be reached at all (refused by the guard, no connection, no answer in time). */
export class IdpUnreachable extends Error {
  override name = 'IdpUnreachable';
  /** The guard's code when the guard refused the destination (`forbidden_address`, `scheme_not_allowed`…). */
  readonly refusal: 'scheme_not_allowed' | 'forbidden_address' | 'unresolvable_host' | 'invalid_url' | null;

  constructor(message: string, refusal: IdpUnreachable['refusal'] = null) {
    super(message);
    this.refusal = refusal;
  }
}

export interface IdpFetchOptions {
  allowlist: Allowlist;
  resolve?: Resolver | undefined;
  /** Deadline of one exchange, connect to last byte. Default 10 s. */
  timeoutMs?: number;
  /** The most body kept. Default 1 MiB. */
  maxBytes?: number;
}

function bodyBytes(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  throw new TypeError('an IdP request body must be text or bytes');
}

/** A `fetch` for openid-client that goes only where the SSRF guard allows. */
export function idpFetch(options: IdpFetchOptions): CustomFetch {
  const resolve = options.resolve ?? systemResolver;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const lookups = {
    'http:': pinnedLookup(options.allowlist, 'http:', resolve),
    'https:': pinnedLookup(options.allowlist, 'https:', resolve),
  };
  return (url, init) =>
    new Promise<Response>((done, fail) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return fail(new IdpUnreachable('The URL is not valid.', 'invalid_url'));
      }
      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        return fail(new IdpUnreachable(`${target.protocol} is not http(s).`, 'scheme_not_allowed'));
      }
      const scheme = target.protocol;
      const host = target.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host)) {
        const refusal = connectionRefusal(options.allowlist, scheme, host, host);
        if (refusal) return fail(new IdpUnreachable(refusal.message, refusal.code));
      }
      const body = bodyBytes(init.body);
      const headers: Record<string, string> = { ...init.headers, 'user-agent': 'SigID-SSO/1' };
      if (body) headers['content-length'] = String(body.length);
      const settle = { done: false };
      const finish = (outcome: Response | Error) => {
        if (settle.done) return;
        settle.done = true;
        clearTimeout(deadline);
        if (outcome instanceof Error) fail(outcome);
        else done(outcome);
      };
      const request = (scheme === 'https:' ? https : http).request({
        protocol: scheme,
        hostname: host,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: init.method,
        headers,
        lookup: lookups[scheme],
        ...(isIP(host) ? {} : { servername: host }),
      });
      const deadline = setTimeout(() => {
        finish(new IdpUnreachable(`No answer from ${target.host} within ${timeoutMs} ms.`));
        request.destroy();
      }, timeoutMs);
      const abort = () => {
        finish(new IdpUnreachable(`The request to ${target.host} was aborted.`));
        request.destroy();
      };
      if (init.signal?.aborted) return abort();
      init.signal?.addEventListener('abort', abort, { once: true });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error.name === 'WebhookUrlRefused') {
          const code = (error as unknown as { code: IdpUnreachable['refusal'] }).code;
          return finish(new IdpUnreachable(error.message, code));
        }
        finish(new IdpUnreachable(`${target.host} could not be reached (${error.code ?? error.message}).`));
      });
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            finish(new IdpUnreachable(`${target.host} answered more than ${maxBytes} bytes.`));
            response.destroy();
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', () => finish(new IdpUnreachable(`${target.host} broke off its answer.`)));
        response.on('end', () => {
          const status = response.statusCode ?? 502;
          const answer = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (value === undefined) continue;
            for (const one of Array.isArray(value) ? value : [value]) answer.append(name, one);
          }
          const empty = status === 204 || status === 304 || (status >= 100 && status < 200);
          finish(new Response(empty ? null : Buffer.concat(chunks), { status, headers: answer }));
        });
      });
      request.end(body);
    });
}
