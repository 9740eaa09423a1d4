import type * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { newId } from '../src/ids.ts';
import { authorizationUrl, type HostedSigid, startHostedSigid } from './support/hosted-flow.ts';
import { type SeededRandom, seededRandom } from './support/seeded-random.ts';
import { servedRoutes } from './support/served-routes.ts';

/** Percent-encoded values a hostile form would carry: raw bytes, broken escapes, huge and empty values. */
function hostileEncoded(r: SeededRandom, plausible: string): string {
  const bytes = Array.from({ length: r.pick([1, 5, 200]) }, () => `%${r.int(256).toString(16).padStart(2, '0')}`);
  const at = r.int(plausible.length + 1);
  return r.pick([
    bytes.join(''),
    `${encodeURIComponent(plausible.slice(0, at))}${r.pick(['%00', '%ED%A0%80', '%EF%BF%BE', '%0A', '%1B'])}${encodeURIComponent(plausible.slice(at))}`,
    '%ZZ',
    '',
    'x'.repeat(r.pick([300, 20_000])),
    encodeURIComponent(plausible),
    '__proto__',
    encodeURIComponent('{"$gt":""}'),
  ]);
}

/** The field names the hosted forms read, and a plausible value for each. */
const FIELDS: Record<string, string> = {
  email: 'ada@example.com',
  password: 'correct horse battery',
  new_password: 'another horse battery',
  current_password: 'correct horse battery',
  code: '123456',
  recovery_code: 'abcd-efgh',
  decision: 'allow',
  token: 'tok_abc',
  session_id: 'ses_abc',
  grant_id: 'grant_abc',
  credential_id: 'cred_abc',
  uid: 'abc',
  response: '{"id":"x"}',
};

/** A form body: the page's own hidden fields (its CSRF token) most of the time, hostile field values, repeats, junk names. */
function hostileForm(r: SeededRandom, hidden: Record<string, string>): string {
  const parts: string[] = [];
  if (r.next() < 0.8)
    for (const [name, value] of Object.entries(hidden)) parts.push(`${name}=${encodeURIComponent(value)}`);
  for (const [name, plausible] of Object.entries(FIELDS)) {
    if (r.next() < 0.5) continue;
    parts.push(`${name}=${r.next() < 0.4 ? encodeURIComponent(plausible) : hostileEncoded(r, plausible)}`);
    if (r.next() < 0.15) parts.push(`${name}=${hostileEncoded(r, plausible)}`);
  }
  if (r.next() < 0.2) parts.push(`${r.pick(['__proto__[x]', 'constructor', 'a[b][c]', '%00', 'email[]'])}=1`);
  return parts.join('&');
}

/** A JSON body for the routes the pages' scripts call (passkeys): wrong shapes, deep nesting, junk. */
function hostileJson(r: SeededRandom): string {
  return r.pick([
    '{"id":"x","rawId":"x","type":"public-key","response":{"clientDataJSON":"%%%","authenticatorData":"","signature":""}}',
    '{"response":null}',
    '[]',
    '"text"',
    '{',
    `{"a":${'['.repeat(2000)}${']'.repeat(2000)}}`,
    '{"__proto__":{"polluted":true}}',
    JSON.stringify({ id: 'x'.repeat(70_000) }),
  ]);
}

const hostileQuery = (r: SeededRandom) =>
  ['uid', 'token', 'return_to', 'error', 'state', 'code', 'iss']
    .filter(() => r.next() < 0.4)
    .map((name) => `${name}=${hostileEncoded(r, 'abc')}`)
    .join('&');

const hostileCookie = (r: SeededRandom) =>
  r.pick([
    '_interaction=%%%; _session=%00',
    `sigid_account=${'a'.repeat(8000)}`,
    '_interaction.sig=x; _interaction=',
    'a=b; a=c; __proto__=x',
  ]);

const PROBES_PER_ROUTE = 6;

/**
 * The hosted pages are the part of SigID a stranger reaches without a key. Every page route, in an
 * interaction that is live (a real authorization request) or not, with hostile form fields, JSON,
 * queries, path segments and cookies, answers below 500: a clear page or a redirect, never a crash.
 */
describe('hostile input never makes the hosted pages answer 5xx', () => {
  let h: HostedSigid;
  let slug: string;
  let rp: oauth.Configuration;

  beforeAll(async () => {
    h = await startHostedSigid();
    const tenant = await h.t.createTenant('Probed pages');
    slug = tenant.slug;
    rp = await h.relyingParty(slug, await h.webApp(tenant.key));
    // A person of the tenant, so some probes reach the password check.
    const person = { type: 'system', id: 'probe' } as const;
    const signedUp = await signUpWithPassword(
      h.t.sigid,
      { email: FIELDS.email as string, password: FIELDS.password as string },
      useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: newId('req') }),
    );
    if (signedUp.status !== 'created') throw new Error('probe sign-up');
    await linkAccount(
      h.t.sigid,
      signedUp.accountId,
      tenant.tenantId,
      useCase({ tenantId: PLATFORM_TENANT, actor: person, correlationId: newId('req') }),
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  it('answers every generated probe of every page route below 500', async () => {
    const r = seededRandom(20261203);
    const routes = [...servedRoutes(h.t.app)].filter((route) => / \/t\/\{slug\}\//.test(route)).sort();
    expect(routes.length).toBeGreaterThan(20);
    const failures: string[] = [];
    const statuses: Record<string, number> = {};
    for (const route of routes) {
      const [method, template] = route.split(' ') as [string, string];
      for (let index = 0; index < PROBES_PER_ROUTE; index++) {
        // A live interaction: the browser holds its cookies and the page's CSRF token.
        const browser = h.browser();
        const request = await authorizationUrl(rp, { scope: 'openid email' });
        await browser.request(request.url);
        const uid = new URL(browser.page.url).pathname.split('/').pop() ?? '';
        const hidden: Record<string, string> = {};
        browser.page.$('form input[type=hidden]').each((_, input) => {
          const name = browser.page.$(input).attr('name');
          if (name) hidden[name] = browser.page.$(input).attr('value') ?? '';
        });
        const segment = (real: string) =>
          r.next() < 0.25 ? r.pick(['%00', '%ED%A0%80', '%ZZ', 'x'.repeat(3000), '..%2F..', '__proto__']) : real;
        const path = template
          .replace('{slug}', r.next() < 0.1 ? segment(slug) : slug)
          .replace(/\{uid\}/, segment(uid))
          .replace(/\{[^}]+\}/g, () => segment('abc'));
        const query = r.next() < 0.4 ? `?${hostileQuery(r)}` : '';
        const json = method === 'POST' && (route.includes('passkey') || r.next() < 0.1);
        const headers: Record<string, string> = {
          ...(json ? { 'content-type': r.pick(['application/json', 'application/json', 'text/plain']) } : {}),
          ...(r.next() < 0.15 ? { cookie: hostileCookie(r) } : {}),
        };
        const response = await browser
          .request(`${path}${query}`, {
            method,
            ...(method === 'POST' ? { body: json ? hostileJson(r) : hostileForm(r, hidden) } : {}),
            headers,
          })
          .catch((error: Error) => ({ status: `cut: ${error.message}` }));
        statuses[String(response.status)] = (statuses[String(response.status)] ?? 0) + 1;
        if (typeof response.status !== 'number' || response.status >= 500) {
          failures.push(`${method} ${path.slice(0, 100)}${query.slice(0, 60)}: ${response.status}`);
        }
      }
    }
    expect(failures).toEqual([]);
    // The probes reached the pages' checks, not only a 404.
    expect(
      (statuses['400'] ?? 0) + (statuses['403'] ?? 0) + (statuses['200'] ?? 0),
      JSON.stringify(statuses),
    ).toBeGreaterThan(routes.length * 2);
    expect(Object.keys(Object.prototype)).toEqual([]);
    await h.t.http.get('/healthz').expect(200);
  }, 240_000);
});
