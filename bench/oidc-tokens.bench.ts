/**
 * client_credentials tokens through SigID's whole stack — tenant routing at `/t/{slug}`, the pool's
 * oidc-provider, the client from the applications read model and its secret checked against its
 * sealed hash, storage in PostgreSQL, the `oauth.token.issued` event appended before the answer (the
 * appends of concurrent requests grouped), a JWT access token for a resource signed ES256 by the
 * tenant's key — against a bare oidc-provider with one in-memory client issuing the same token format,
 * on the same express, alternating, median of BENCH_RUNS runs. autocannon (its own process), 32 connections.
 *
 * Targets (issue 8): ≥ 0.8× the bare provider's tokens/s, p99 ≤ 1.5× its p99.
 * Scale: BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS (32), BENCH_RUNS.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { findApi } from '../read-models/apis.ts';
import { createApi, setApiGrant } from '../services/apis.ts';
import { createApplication } from '../services/applications.ts';
import { useCase } from '../services/context.ts';
import { createTenant } from '../services/tenants.ts';
import { createApp } from '../src/http/app.ts';
import {
  alternate,
  describeMachine,
  envInt,
  formatMs,
  listen,
  main,
  medianP99,
  reportMedians,
  reportRatio,
  type Sample,
  webhookBenchSigid,
} from './support.ts';

const SECONDS = envInt('BENCH_SECONDS', 10);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 32);
const RESOURCE = 'https://api.example.com/';
const AUTOCANNON = fileURLToPath(new URL('../node_modules/.bin/autocannon', import.meta.url));

/**
 * `autocannon` (in a process of its own, so the load does not run on the servers' event loop)
 * posting the token request for BENCH_SECONDS: tokens/s (2xx only) and p99 latency.
 */
async function hammer(url: string, clientId: string, secret: string): Promise<Sample> {
  const authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: RESOURCE }).toString();
  const child = spawn(
    AUTOCANNON,
    [
      '-j',
      '-m',
      'POST',
      '-c',
      String(CONNECTIONS),
      '-d',
      String(SECONDS),
      '-H',
      'content-type=application/x-www-form-urlencoded',
      '-H',
      `authorization=${authorization}`,
      '-b',
      body,
      url,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`autocannon exited ${code}`);
  const result = JSON.parse(output) as {
    non2xx: number;
    errors: number;
    duration: number;
    '2xx': number;
    latency: { p99: number };
  };
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  return { rate: result['2xx'] / (result.duration || SECONDS), p99: result.latency.p99 };
}

main(async () => {
  console.log(
    `# client_credentials tokens — ${describeMachine()}, ${CONNECTIONS} connections, ${SECONDS} s per run, alternating`,
  );
  const sigid = await webhookBenchSigid('oidc_tokens', { SIGID_WEBHOOK_WORKER: 'false' });
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
  const application = await createApplication(
    sigid,
    { kind: 'm2m', client_name: 'bench worker' },
    useCase({ tenantId: tenant.tenantId, actor, correlationId: 'bench' }),
  );
  // The resource is the tenant's API, its `read` scope granted to the worker (as a real tenant sets it up).
  const tenantCase = useCase({ tenantId: tenant.tenantId, actor, correlationId: 'bench' });
  const api = await createApi(
    sigid,
    { name: 'bench api', identifier: RESOURCE, scopes: [{ value: 'read', description: 'Read' }] },
    tenantCase,
  );
  await sigid.projections.waitFor(Math.max(application.written.position ?? 0, api.written.position ?? 0));
  const apiRow = await findApi(sigid.readModels, tenant.tenantId, api.apiId);
  if (!apiRow) throw new Error('bench api not projected');
  const granted = await setApiGrant(sigid, apiRow, application.applicationId, ['read'], tenantCase);
  await sigid.projections.waitFor(granted.position ?? 0);

  // The bare provider: one in-memory client, an ES256 key, the same token format; nothing stored.
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const bareApp = express();
  const bareUrl = await listen(bareApp);
  const bare = new Provider(`${bareUrl}/t/bare`, {
    clients: [
      {
        client_id: 'bare',
        client_secret: 'bare-secret-0123456789',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        // The only key is EC: the client's ID token algorithm must be one it can sign.
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bare' }] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => ({
          scope: 'read',
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  bareApp.use('/t/bare', bare.callback());

  const sigidToken = `${sigidUrl}/t/${slug}/token`;
  const bareToken = `${bareUrl}/t/bare/token`;
  // Warm both (the pool builds the tenant's issuer on its first request).
  await hammer(sigidToken, application.clientId, application.clientSecret as string);
  await hammer(bareToken, 'bare', 'bare-secret-0123456789');

  const samples = await alternate('client_credentials', [
    {
      name: 'SigID /t/{slug}/token',
      run: () => hammer(sigidToken, application.clientId, application.clientSecret as string),
    },
    { name: 'bare oidc-provider', run: () => hammer(bareToken, 'bare', 'bare-secret-0123456789') },
  ]);
  reportMedians('client_credentials', samples);
  reportRatio({
    label: 'tokens/s vs bare oidc-provider',
    samples,
    subject: 'SigID /t/{slug}/token',
    baseline: 'bare oidc-provider',
    target: 0.8,
  });
  const p99 = medianP99(samples.get('SigID /t/{slug}/token') ?? []) ?? Number.NaN;
  const bareP99 = medianP99(samples.get('bare oidc-provider') ?? []) ?? Number.NaN;
  const within = p99 <= 1.5 * bareP99;
  console.log(
    `RESULT p99 vs bare oidc-provider: ${formatMs(p99)} vs ${formatMs(bareP99)} = ${(p99 / bareP99).toFixed(2)}× (target ≤ 1.5×: ${within ? 'MET' : 'MISSED'})`,
  );
  const { rows } = await sigid.db.query<{ count: number }>(
    `select count(*)::int as count from sigid_events where event_type = 'oauth.token.issued'`,
  );
  console.log(`  oauth.token.issued events recorded: ${rows[0]?.count}`);
});
