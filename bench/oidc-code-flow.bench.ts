/**
 * The authorization-code flow end to end, per second: authorize → the sign-in page → the sign-in
 * form posted (argon2id) → the code → the token request (PKCE) — through SigID's whole stack
 * (tenant routing, hosted pages with CSRF, the account's password, the `sign_in.succeeded` and
 * `session.started` events, remembered consent, database storage, the token events) against a bare
 * oidc-provider whose interaction signs everyone in at once (no password, no page), alternating,
 * medians of BENCH_RUNS runs. Also SigID when the browser already has a session (authorize → code →
 * token, no password), the flow most sign-ins take. Each flow is a new browser (its own cookies),
 * BENCH_CONCURRENCY (8) of them at a time, for BENCH_SECONDS (10) per run; the clients run in
 * this process, the same for every contender.
 */

import { createHash, randomBytes } from 'node:crypto';
import express from 'express';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { accountAggregate } from '../commands/account.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { signUpWithPassword } from '../services/accounts.ts';
import { createApplication } from '../services/applications.ts';
import { useCase } from '../services/context.ts';
import { createTenant } from '../services/tenants.ts';
import { handleCommand } from '../src/command-handler.ts';
import { createApp } from '../src/http/app.ts';
import {
  alternate,
  describeMachine,
  envInt,
  listen,
  main,
  percentile,
  reportMedians,
  reportRatio,
  type Sample,
  webhookBenchSigid,
} from './support.ts';

const SECONDS = envInt('BENCH_SECONDS', 10);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 8);
const CALLBACK = 'https://app.example.test/callback';
const PASSWORD = 'bench password, long enough';

/** A browser's cookies, by name (paths ignored: one flow at a time per jar). */
class Jar {
  readonly cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = (pair ?? '').indexOf('=');
      if (at > 0) this.cookies.set((pair as string).slice(0, at), (pair as string).slice(at + 1));
    }
  }
}

/** One request with the jar's cookies, redirects not followed. */
async function go(jar: Jar, url: string, form?: Record<string, string>, origin?: string): Promise<Response> {
  const response = await fetch(url, {
    method: form ? 'POST' : 'GET',
    redirect: 'manual',
    headers: {
      cookie: jar.header(),
      ...(form ? { 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}) } : {}),
    },
    body: form ? new URLSearchParams(form) : undefined,
  });
  jar.take(response);
  return response;
}

/** Follows redirects from `response` until the application's callback; returns the code. */
async function toCallback(jar: Jar, base: string, response: Response): Promise<string> {
  let current = response;
  for (let hops = 0; hops < 10; hops++) {
    const location = current.headers.get('location');
    await current.arrayBuffer();
    if (!location) throw new Error(`no redirect: ${current.status} ${current.url}`);
    const next = new URL(location, base);
    if (next.href.startsWith(CALLBACK)) {
      const code = next.searchParams.get('code');
      if (!code) throw new Error(`no code: ${next.href}`);
      return code;
    }
    current = await go(jar, next.href);
  }
  throw new Error('too many redirects');
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(issuer: string, clientId: string, challenge: string): string {
  const url = new URL(`${issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: CALLBACK,
    scope: 'openid',
    state: randomBytes(8).toString('hex'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  return url.href;
}

async function redeem(issuer: string, clientId: string, secret: string, code: string, verifier: string) {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: CALLBACK,
      code_verifier: verifier,
    }),
  });
  const body = (await response.json()) as { id_token?: string };
  if (response.status !== 200 || !body.id_token) throw new Error(`token: ${response.status} ${JSON.stringify(body)}`);
}

/** Runs `flow` in CONCURRENCY loops for SECONDS: flows/s and the p99 of one flow. */
async function measure(flow: () => Promise<void>): Promise<Sample> {
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const begun = performance.now();
        await flow();
        latencies.push(performance.now() - begun);
      }
    }),
  );
  return { rate: latencies.length / ((performance.now() - started) / 1000), p99: percentile(latencies, 99) };
}

main(async () => {
  console.log(
    `# authorization-code flow — ${describeMachine()}, ${CONCURRENCY} browsers at a time, ${SECONDS} s per run, alternating`,
  );
  const sigid = await webhookBenchSigid('oidc_code_flow', { SIGID_WEBHOOK_WORKER: 'false' });
  sigid.start();
  const sigidUrl = await listen(createApp(sigid));
  sigid.config.publicUrl = sigidUrl;
  const actor = { type: 'system' as const, id: 'bench' };
  const slug = `bench-${Date.now().toString(36)}`;
  const tenant = await createTenant(
    sigid,
    { name: 'Bench', slug },
    useCase({ tenantId: 'platform', actor, correlationId: 'bench' }),
  );
  const tenantCase = useCase({ tenantId: tenant.tenantId, actor, correlationId: 'bench' });
  const application = await createApplication(
    sigid,
    { kind: 'web', client_name: 'bench app', redirect_uris: [CALLBACK] },
    tenantCase,
  );
  const email = 'bench@example.test';
  const signedUp = await signUpWithPassword(sigid, { email, password: PASSWORD }, tenantCase);
  if (signedUp.status !== 'created') throw new Error('bench account exists');
  const verified = await handleCommand(
    sigid.log,
    accountAggregate,
    signedUp.accountId,
    { type: 'verify_email' },
    { ...tenantCase, tenantId: PLATFORM_TENANT },
  );
  await sigid.projections.waitFor(Math.max(application.written.position ?? 0, verified.position ?? 0));
  const issuer = `${sigidUrl}/t/${slug}`;
  const clientId = application.clientId;
  const secret = application.clientSecret as string;

  /** A new browser signs in with the password at the hosted page. */
  async function sigidSignIn(): Promise<Jar> {
    const jar = new Jar();
    const { verifier, challenge } = pkce();
    const start = await go(jar, authorizeUrl(issuer, clientId, challenge));
    const interaction = new URL(start.headers.get('location') as string, sigidUrl).href;
    await start.arrayBuffer();
    const page = await (await go(jar, interaction)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
    if (!csrf) throw new Error(`no sign-in form: ${page.slice(0, 200)}`);
    const posted = await go(jar, `${interaction}/sign-in`, { csrf, email, password: PASSWORD }, sigidUrl);
    if (posted.status !== 303)
      throw new Error(`sign-in refused: ${posted.status} ${(await posted.text()).slice(0, 300)}`);
    // Consent was given once before the runs, and is remembered.
    await redeem(issuer, clientId, secret, await toCallback(jar, sigidUrl, posted), verifier);
    return jar;
  }

  // Consent once for the bench account, through a flow that allows it.
  {
    const jar = new Jar();
    const { verifier, challenge } = pkce();
    const start = await go(jar, authorizeUrl(issuer, clientId, challenge));
    const interaction = new URL(start.headers.get('location') as string, sigidUrl).href;
    await start.arrayBuffer();
    const csrf = /name="csrf" value="([^"]+)"/.exec(await (await go(jar, interaction)).text())?.[1] as string;
    const posted = await go(jar, `${interaction}/sign-in`, { csrf, email, password: PASSWORD }, sigidUrl);
    const consentAt = new URL(posted.headers.get('location') as string, sigidUrl).href;
    await posted.arrayBuffer();
    const resumed = await go(jar, consentAt);
    const consentPage = new URL(resumed.headers.get('location') as string, sigidUrl).href;
    await resumed.arrayBuffer();
    const consentCsrf = /name="csrf" value="([^"]+)"/.exec(await (await go(jar, consentPage)).text())?.[1] as string;
    const allowed = await go(jar, `${consentPage}/consent`, { csrf: consentCsrf, decision: 'allow' }, sigidUrl);
    await redeem(issuer, clientId, secret, await toCallback(jar, sigidUrl, allowed), verifier);
  }

  // One signed-in browser per loop for the session flow.
  const sessions = await Promise.all(Array.from({ length: CONCURRENCY }, () => sigidSignIn()));
  let next = 0;
  async function sigidWithSession(): Promise<void> {
    const jar = sessions[next++ % sessions.length] as Jar;
    const { verifier, challenge } = pkce();
    const code = await toCallback(jar, sigidUrl, await go(jar, authorizeUrl(issuer, clientId, challenge)));
    await redeem(issuer, clientId, secret, code, verifier);
  }

  // The bare provider: one in-memory client, an ES256 key, an interaction that signs in at once.
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const bareApp = express();
  const bareUrl = await listen(bareApp);
  const bareIssuer = `${bareUrl}/t/bare`;
  const bare = new Provider(bareIssuer, {
    clients: [
      {
        client_id: 'bare',
        client_secret: 'bare-secret-0123456789',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [CALLBACK],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bare' }] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      return { accountId: id, claims: async () => ({ sub: id }) };
    },
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: 'bare', accountId: ctx.oidc.session?.accountId });
      grant.addOIDCScope('openid');
      await grant.save();
      return grant;
    },
  });
  bareApp.get('/interaction/:uid', async (request, response, nextHandler) => {
    try {
      await bare.interactionFinished(request, response, { login: { accountId: 'bench-user' } });
    } catch (error) {
      nextHandler(error);
    }
  });
  bareApp.use('/t/bare', bare.callback());
  async function bareFlow(): Promise<void> {
    const jar = new Jar();
    const { verifier, challenge } = pkce();
    const code = await toCallback(jar, bareUrl, await go(jar, authorizeUrl(bareIssuer, 'bare', challenge)));
    await redeem(bareIssuer, 'bare', 'bare-secret-0123456789', code, verifier);
  }

  // Warm all three.
  await sigidSignIn();
  await sigidWithSession();
  await bareFlow();

  const samples = await alternate('code flow', [
    { name: 'SigID sign-in with password', run: () => measure(async () => void (await sigidSignIn())) },
    { name: 'SigID with a session', run: () => measure(sigidWithSession) },
    { name: 'bare oidc-provider', run: () => measure(bareFlow) },
  ]);
  reportMedians('authorization-code flows/s', samples);
  reportRatio({
    label: 'flows/s with a password sign-in vs bare oidc-provider (trivial interaction)',
    samples,
    subject: 'SigID sign-in with password',
    baseline: 'bare oidc-provider',
  });
  reportRatio({
    label: 'flows/s with a session vs bare oidc-provider',
    samples,
    subject: 'SigID with a session',
    baseline: 'bare oidc-provider',
  });
});
