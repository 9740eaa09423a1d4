import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { acceptedText } from '../text.ts';
import { parseRetryAfter } from './retry-schedule.ts';
import type { SignedHeaders } from './signature.ts';
import { type Allowlist, connectionRefusal, pinnedLookup, type Resolver, systemResolver } from './ssrf.ts';

/**
 * The HTTP client deliveries go through. Enforces:
 * - the connection goes to an address `ssrf.ts` passed, checked in the socket's own DNS lookup
 *   (IP-literal hosts are checked here, since node skips lookup for them);
 * - redirects are never followed: a 3xx is an answer like any other non-2xx;
 * - a connect timeout and an overall deadline for the whole exchange;
 * - at most `keepBodyBytes` of the response body are kept (for the delivery log) and the socket is
 *   dropped once a receiver sends more, so a receiver cannot stream into SigID's memory; what is kept
 *   is made text SigID accepts (`src/text.ts`), so a receiver's NUL cannot fail the delivery log.
 */

export interface SenderOptions {
  allowlist: Allowlist;
  resolve?: Resolver;
  /** TCP (and TLS) connect timeout. Default 10 s. */
  connectTimeoutMs?: number;
  /** Deadline for the whole exchange, connect to last byte kept. Default 15 s. */
  timeoutMs?: number;
  /** Response body kept for the delivery log. Default 4 KiB. */
  keepBodyBytes?: number;
  userAgent?: string;
}

interface RequestTarget {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: string;
  path: string;
  servername?: string;
}

export type SendResult =
  | { kind: 'response'; status: number; retryAfterMs: number | null; body: string; latencyMs: number }
  | { kind: 'timeout' | 'connection_error' | 'refused'; error: string; latencyMs: number };

export class WebhookSender {
  readonly #allowlist: Allowlist;
  readonly #resolve: Resolver;
  readonly #connectTimeoutMs: number;
  readonly #timeoutMs: number;
  readonly #keepBodyBytes: number;
  readonly #userAgent: string;
  readonly #httpAgent = new http.Agent({ keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 256 });
  readonly #httpsAgent = new https.Agent({ keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 256 });
  readonly #lookups: Record<'http:' | 'https:', ReturnType<typeof pinnedLookup>>;
  readonly #checked = new Map<string, { target: RequestTarget; scheme: 'http:' | 'https:' } | { refused: string }>();
  /** The requests in flight under each shutdown signal: one listener per signal, not one per request. */
  readonly #inFlight = new WeakMap<AbortSignal, Set<() => void>>();

  constructor(options: SenderOptions) {
    this.#allowlist = options.allowlist;
    this.#resolve = options.resolve ?? systemResolver;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#keepBodyBytes = options.keepBodyBytes ?? 4096;
    this.#userAgent = options.userAgent ?? 'SigID-Webhooks/1';
    this.#lookups = {
      'http:': pinnedLookup(this.#allowlist, 'http:', this.#resolve),
      'https:': pinnedLookup(this.#allowlist, 'https:', this.#resolve),
    };
  }

  /**
   * POSTs `body` to `target` with the Standard Webhooks headers `signed`; never throws: every outcome is a SendResult. `signal`
   * (shutdown) drops the request at once; its result then reads as a connection error.
   */
  send(target: string, body: string | Uint8Array, signed: SignedHeaders, signal?: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const checked = this.#check(target);
    if ('refused' in checked) return Promise.resolve({ kind: 'refused', error: checked.refused, latencyMs: 0 });
    const { target: requestTarget, scheme } = checked;
    const length = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const finish = (result: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        clearTimeout(connectTimer);
        if (inFlight) inFlight.delete(abort);
        resolve(result);
      };
      const abort = () => {
        finish({ kind: 'connection_error', error: 'aborted: SigID is shutting down', latencyMs: elapsed() });
        request.destroy();
      };
      const inFlight = signal ? this.#watch(signal) : undefined;
      let connectTimer: NodeJS.Timeout | undefined;
      const module = scheme === 'https:' ? https : http;
      const request = module.request({
        ...requestTarget,
        method: 'POST',
        agent: scheme === 'https:' ? this.#httpsAgent : this.#httpAgent,
        lookup: this.#lookups[scheme],
        // One object of one shape for every delivery.
        headers: {
          'webhook-id': signed['webhook-id'],
          'webhook-timestamp': signed['webhook-timestamp'],
          'webhook-signature': signed['webhook-signature'],
          'content-type': 'application/json',
          'content-length': length,
          'user-agent': this.#userAgent,
        },
      });
      const deadline = setTimeout(() => {
        finish({ kind: 'timeout', error: `no complete answer within ${this.#timeoutMs} ms`, latencyMs: elapsed() });
        request.destroy();
      }, this.#timeoutMs);
      request.on('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => {
          finish({ kind: 'timeout', error: `no connection within ${this.#connectTimeoutMs} ms`, latencyMs: elapsed() });
          request.destroy();
        }, this.#connectTimeoutMs);
        socket.once(scheme === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        const refused = error.name === 'WebhookUrlRefused';
        finish({
          kind: refused ? 'refused' : 'connection_error',
          error: refused ? error.message : `${error.code ?? 'error'}: ${error.message}`,
          latencyMs: elapsed(),
        });
      });
      request.on('response', (response) => {
        const kept: Buffer[] = [];
        let size = 0;
        const done = () =>
          finish({
            kind: 'response',
            status: response.statusCode ?? 0,
            // Reading `headers` builds the whole header object: only a failed attempt needs one header.
            retryAfterMs: (response.statusCode ?? 0) >= 300 ? parseRetryAfter(response.headers['retry-after']) : null,
            // The receiver's text, made storable: a NUL or a control in it must not fail the delivery log.
            body: kept.length === 0 ? '' : acceptedText(Buffer.concat(kept).toString('utf8')),
            latencyMs: elapsed(),
          });
        response.on('data', (chunk: Buffer) => {
          if (size >= this.#keepBodyBytes) return;
          const room = this.#keepBodyBytes - size;
          kept.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
          size += Math.min(chunk.length, room);
          // The status is known and the log keeps no more: stop reading an oversized body.
          if (size >= this.#keepBodyBytes) {
            done();
            response.destroy();
          }
        });
        response.on('end', done);
        response.on('close', done);
        response.on('error', done);
      });
      if (signal?.aborted) abort();
      else inFlight?.add(abort);
      request.end(body);
    });
  }

  /** The set of requests to drop when `signal` aborts, listening to it the first time it is seen. */
  #watch(signal: AbortSignal): Set<() => void> {
    const known = this.#inFlight.get(signal);
    if (known) return known;
    const requests = new Set<() => void>();
    this.#inFlight.set(signal, requests);
    signal.addEventListener(
      'abort',
      () => {
        for (const abort of requests) abort();
      },
      { once: true },
    );
    return requests;
  }

  /**
   * The URL's form and, for an IP-literal host, its address, checked once per target (the policy is
   * fixed for the sender's life); names are checked at every connection, in the lookup.
   */
  #check(target: string): { target: RequestTarget; scheme: 'http:' | 'https:' } | { refused: string } {
    const known = this.#checked.get(target);
    if (known) return known;
    let verdict: { target: RequestTarget; scheme: 'http:' | 'https:' } | { refused: string };
    let url: URL | undefined;
    try {
      url = new URL(target);
    } catch {
      url = undefined;
    }
    if (!url) verdict = { refused: 'the URL is not valid' };
    else if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      verdict = { refused: `${url.protocol} is not a webhook scheme` };
    } else {
      const scheme = url.protocol;
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const refusal = isIP(host) ? connectionRefusal(this.#allowlist, scheme, host, host) : null;
      verdict = refusal
        ? { refused: refusal.message }
        : {
            scheme,
            target: {
              protocol: scheme,
              hostname: host,
              port: url.port,
              path: `${url.pathname}${url.search}`,
              // The name a TLS certificate is checked against, and the Host header.
              ...(isIP(host) ? {} : { servername: host }),
            },
          };
    }
    if (this.#checked.size >= 10_000) this.#checked.clear();
    this.#checked.set(target, verdict);
    return verdict;
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}
