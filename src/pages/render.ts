import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { Response } from 'express';

const views = fileURLToPath(new URL('./templates', import.meta.url));
/** Auto-escaping on: every `<%= %>` is HTML-escaped; `<%~ %>` only takes HTML rendered by a template. */
const eta = new Eta({ views, autoEscape: true, cache: true, autoTrim: [false, 'nl'] });

/** How a tenant's pages look (from its branding, defaults filled in). */
export interface PageBranding {
  display_name: string;
  logo_uri: string | null;
  primary_color: string;
  background_color: string;
}

export interface PageOptions {
  title: string;
  branding: PageBranding;
  /** The page's body template (under templates/) and what it is rendered with. */
  template: string;
  data?: Record<string, unknown>;
  error?: string | undefined;
  notice?: string | undefined;
  status?: number;
  scripts?: string[];
  headers?: Record<string, string>;
}

/** The page as HTML, without sending it (oidc-provider's own pages set their koa body with it). */
export function renderPage(options: PageOptions, nonce: string): string {
  const body = eta.render(options.template, { ...options.data });
  return eta.render('layout', {
    title: options.title,
    branding: options.branding,
    error: options.error,
    notice: options.notice,
    scripts: options.scripts,
    body,
    nonce,
  });
}

/** What every hosted page is sent with: a strict CSP (scripts and styles of SigID only), no framing, no caching. */
export function pageHeaders(nonce: string): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': [
      "default-src 'self'",
      `script-src 'self' 'nonce-${nonce}'`,
      `style-src 'self' 'nonce-${nonce}'`,
      "img-src 'self' https: data:",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "object-src 'none'",
    ].join('; '),
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
}

export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** Renders a hosted page into the response. */
export function sendPage(response: Response, options: PageOptions): void {
  const nonce = newNonce();
  const html = renderPage(options, nonce);
  response.status(options.status ?? 200);
  for (const [name, value] of Object.entries({ ...pageHeaders(nonce), ...options.headers }))
    response.setHeader(name, value);
  response.send(html);
}
