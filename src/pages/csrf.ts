import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseCookie } from 'cookie';
import type { Request, Response } from 'express';
import { cookieScheme } from './cookies.ts';

/**
 * CSRF protection of every hosted form: a random value in an HttpOnly cookie, and in each form the
 * value's HMAC under a key derived from the master key (so every process agrees). A post is taken
 * only when its token is the HMAC of its own cookie, compared in constant time, and when the
 * browser's Origin header, if sent, is SigID's own.
 */
export class Csrf {
  readonly #key: Buffer;
  readonly #publicUrl: () => string;

  /** `publicUrl` is read on each use (the cookies' names and the origin follow it). */
  constructor(masterKey: Buffer, publicUrl: () => string) {
    this.#key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'sigid hosted pages csrf', 32));
    this.#publicUrl = publicUrl;
  }

  get #cookies() {
    return cookieScheme(this.#publicUrl());
  }

  #mac(value: string): string {
    return createHmac('sha256', this.#key).update(value).digest('base64url');
  }

  #cookie(request: Request): string | undefined {
    const value = parseCookie(request.headers.cookie ?? '')[this.#cookies.csrf];
    return value && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
  }

  /** The token for this browser's forms (setting its cookie on the first page). */
  token(request: Request, response: Response): string {
    let value = this.#cookie(request);
    if (!value) {
      value = randomBytes(32).toString('base64url');
      response.cookie(this.#cookies.csrf, value, this.#cookies.options);
      // A page rendered after this one in the same request must use the same value.
      request.headers.cookie = `${request.headers.cookie ? `${request.headers.cookie}; ` : ''}${this.#cookies.csrf}=${value}`;
    }
    return this.#mac(value);
  }

  /** Whether a posted form came from SigID's own page in this browser. */
  verify(request: Request): boolean {
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== new URL(this.#publicUrl()).origin) return false;
    const value = this.#cookie(request);
    const presented = (request.body as Record<string, unknown> | undefined)?.csrf;
    if (!value || typeof presented !== 'string') return false;
    const expected = Buffer.from(this.#mac(value));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
