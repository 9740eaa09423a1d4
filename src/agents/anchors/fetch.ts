import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import {
  type Allowlist,
  connectionRefusal,
  emptyAllowlist,
  isAllowlisted,
  pinnedLookup,
  type Resolver,
  systemResolver,
} from '../../webhooks/ssrf.ts';

/**
 * How SigID fetches a document an agent points it at (a did:web `did.json`, an ERC-8004 registration
 * file). Enforces, with the webhooks' SSRF policy (`src/webhooks/ssrf.ts`):
 * - `https:` only; plain `http:` only to an allowlisted host and only when `plainHttpForAllowlisted`
 *   is set (development);
 * - every connection goes to an address the policy passed, checked inside the socket's DNS lookup
 *   (IP literals checked here), so DNS cannot rebind between check and connect;
 * - at most `maxRedirects` redirects (default 3), each hop checked as the first;
 * - a deadline for the whole exchange (default 5 s) and a body cap (default 256 KiB): the socket is
 *   dropped once the answer is larger;
 * - only a 200 answer is a document.
 */

export interface FetchPolicy {
  allowlist?: Allowlist;
  resolve?: Resolver;
  /** Plain http to allowlisted hosts (development only). Default false. */
  plainHttpForAllowlisted?: boolean;
  /** Deadline for one document, all redirects included. Default 5000 ms. */
  timeoutMs?: number;
  /** Largest body accepted. Default 256 KiB. */
  maxBytes?: number;
  /** Default 3. */
  maxRedirects?: number;
}

export type FetchRefusal = 'https_required' | 'forbidden_address' | 'unreachable' | 'too_large';

export type FetchedDocument =
  | { ok: true; body: Buffer; url: string; contentType: string | undefined }
  | { ok: false; reason: FetchRefusal; message: string };

interface Hop {
  ok: true;
  status: number;
  location?: string;
  body: Buffer;
  contentType: string | undefined;
}

/** GETs `url` under the policy; never throws. */
export async function fetchDocument(
  url: string,
  policy: FetchPolicy = {},
  accept = 'application/json',
): Promise<FetchedDocument> {
  const allowlist = policy.allowlist ?? emptyAllowlist;
  const resolve = policy.resolve ?? systemResolver;
  const maxBytes = policy.maxBytes ?? 256 * 1024;
  const deadline = Date.now() + (policy.timeoutMs ?? 5000);
  let target = url;
  for (let hop = 0; hop <= (policy.maxRedirects ?? 3); hop++) {
    let parsed: URL;
    try {
      parsed = new URL(target);
    } catch {
      return { ok: false, reason: 'unreachable', message: 'The URL is not an absolute URL.' };
    }
    if (parsed.username || parsed.password) {
      return { ok: false, reason: 'unreachable', message: 'The URL must not carry a user name or password.' };
    }
    const scheme = parsed.protocol;
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (scheme !== 'https:' && scheme !== 'http:') {
      return { ok: false, reason: 'https_required', message: `${scheme} is not fetched; use https.` };
    }
    if (scheme === 'http:' && !(policy.plainHttpForAllowlisted && isAllowlisted(allowlist, host))) {
      return { ok: false, reason: 'https_required', message: `${parsed.origin} is plain http; SigID fetches https.` };
    }
    if (isIP(host)) {
      const refusal = connectionRefusal(allowlist, scheme, host, host);
      if (refusal) return { ok: false, reason: 'forbidden_address', message: fetchWording(refusal.message) };
    }
    const answer = await get(parsed, scheme, { allowlist, resolve, maxBytes, deadline, accept });
    if (!answer.ok) return answer;
    if (answer.status >= 300 && answer.status < 400 && answer.location) {
      try {
        target = new URL(answer.location, parsed).href;
      } catch {
        return { ok: false, reason: 'unreachable', message: `${parsed.origin} redirected to an invalid URL.` };
      }
      continue;
    }
    if (answer.status !== 200) {
      return { ok: false, reason: 'unreachable', message: `${parsed.origin} answered ${answer.status}, not 200.` };
    }
    return { ok: true, body: answer.body, url: parsed.href, contentType: answer.contentType };
  }
  return { ok: false, reason: 'unreachable', message: 'Too many redirects.' };
}

/** The SSRF policy's refusal, worded for a fetch rather than a webhook delivery. */
function fetchWording(message: string): string {
  return message.replace(/SigID does not deliver there\.$/, 'SigID does not fetch from there.');
}

function get(
  url: URL,
  scheme: 'http:' | 'https:',
  options: { allowlist: Allowlist; resolve: Resolver; maxBytes: number; deadline: number; accept: string },
): Promise<Hop | { ok: false; reason: FetchRefusal; message: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Hop | { ok: false; reason: FetchRefusal; message: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
      request.destroy();
    };
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const request = (scheme === 'https:' ? https : http).request({
      protocol: scheme,
      hostname: host,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      agent: false,
      lookup: pinnedLookup(options.allowlist, scheme, options.resolve),
      ...(isIP(host) ? {} : { servername: host }),
      headers: { accept: options.accept, 'user-agent': 'SigID-Anchors/1' },
    });
    const timer = setTimeout(
      () => finish({ ok: false, reason: 'unreachable', message: `${url.origin} did not answer in time.` }),
      Math.max(0, options.deadline - Date.now()),
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.name === 'WebhookUrlRefused') {
        const code = (error as { code?: string }).code;
        finish({
          ok: false,
          reason: code === 'scheme_not_allowed' ? 'https_required' : 'forbidden_address',
          message: fetchWording(error.message),
        });
      } else {
        finish({
          ok: false,
          reason: 'unreachable',
          message: `${url.origin} could not be reached (${error.code ?? 'error'}).`,
        });
      }
    });
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const contentType = response.headers['content-type'];
      if (status !== 200) {
        const location = response.headers.location;
        finish({ ok: true, status, body: Buffer.alloc(0), contentType, ...(location ? { location } : {}) });
        return;
      }
      const declared = Number(response.headers['content-length'] ?? 0);
      if (declared > options.maxBytes) {
        finish({ ok: false, reason: 'too_large', message: `The document is larger than ${options.maxBytes} bytes.` });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          finish({ ok: false, reason: 'too_large', message: `The document is larger than ${options.maxBytes} bytes.` });
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => finish({ ok: true, status, body: Buffer.concat(chunks), contentType }));
      response.on('error', () =>
        finish({ ok: false, reason: 'unreachable', message: `${url.origin} broke off the answer.` }),
      );
    });
    request.end();
  });
}
