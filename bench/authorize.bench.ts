/**
 * Tenant policies (Cedar, in process). Two comparisons, alternating, median of BENCH_RUNS runs:
 *
 * 1. `POST /api/v1/authorize` on a real listening SigID with a tenant key and 100 policies loaded
 *    (autocannon in its own process, BENCH_CONNECTIONS connections), against raw cedar-wasm
 *    `isAuthorized` on the same request, schema and 100 policies in this process (one call at a time,
 *    as a library caller would): decisions/s and p99. Target: ≥ 0.5× the raw calls' decisions/s.
 *    Preparsed `statefulIsAuthorized` (what SigID calls) is printed beside them for reference.
 * 2. client_credentials tokens for an API, in a tenant with 100 enabled policies (forbids among them
 *    apply to `issue_token`, so tokens are decided: on the API and on its scope) against one without
 *    policies, the same SigID. Target: ≥ 0.9× the tokens/s without policies. Printed beside it: the
 *    same with remembered decisions turned off (every token decided afresh, two Cedar calls).
 *
 * Scale: BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS (32), BENCH_RUNS.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { findApi } from '../read-models/apis.ts';
import { createApi, setApiGrant } from '../services/apis.ts';
import { createApplication } from '../services/applications.ts';
import { useCase } from '../services/context.ts';
import { createPolicy } from '../services/policies.ts';
import { createTenant } from '../services/tenants.ts';
import { createApp } from '../src/http/app.ts';
import { issuanceMemo } from '../src/oidc/policies.ts';
import { type AuthorizationRequest, compilePolicySet, decide, decideUnprepared } from '../src/policies/cedar.ts';
import {
  alternate,
  describeMachine,
  envInt,
  formatMs,
  listen,
  main,
  medianP99,
  percentile,
  reportMedians,
  reportRatio,
  type Sample,
  webhookBenchSigid,
} from './support.ts';

const SECONDS = envInt('BENCH_SECONDS', 10);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 32);
const POLICIES = 100;
const RESOURCE = 'https://api.example.com/';
const AUTOCANNON = fileURLToPath(new URL('../node_modules/.bin/autocannon', import.meta.url));

/** The i-th of the tenant's policies: a mix of permits and forbids on tenant resources, context and tokens. */
function policyText(index: number): string {
  switch (index % 4) {
    case 0:
      return `permit(principal, action == SigID::Action::"read", resource is SigID::Resource)
        when { resource.kind == "doc_${index}" && context has ip && context.ip.isInRange(ip("10.${index}.0.0/16")) };`;
    case 1:
      return `forbid(principal, action == SigID::Action::"delete", resource is SigID::Resource)
        unless { context has mfa_age_seconds && context.mfa_age_seconds < ${300 + index} && context.amr.contains("hwk") };`;
    case 2:
      return `forbid(principal, action == SigID::Action::"issue_token", resource == SigID::Scope::"never_${index}");`;
    default:
      return `forbid(principal, action, resource)
        when { context has organization && context.organization == "suspended_${index}" };`;
  }
}

/** The decision asked: policy 40 permits it, none forbids it. */
const request: AuthorizationRequest = {
  principal: { type: 'User', id: 'alice' },
  action: 'read',
  resource: { type: 'doc_40', id: 'd1', attributes: { owner: 'alice' } },
  context: { time: 1_800_000_000, amr: ['pwd'], delegation_depth: 0, ip: '10.40.1.1', organization: 'acme' },
};
const requestBody = JSON.stringify({
  principal: request.principal,
  action: request.action,
  resource: request.resource,
  context: request.context,
});

/** autocannon (a process of its own) for BENCH_SECONDS: 2xx answers per second and p99. */
async function hammer(url: string, headers: string[], body: string): Promise<Sample> {
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
      ...headers.flatMap((header) => ['-H', header]),
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

/** One caller in this process making `call` back to back for BENCH_SECONDS: calls/s and p99 of one call. */
async function loop(call: () => void): Promise<Sample> {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + SECONDS * 1000;
  let now = started;
  while (now < until) {
    const before = performance.now();
    call();
    now = performance.now();
    latencies.push(now - before);
    // Let timers and the servers' sockets breathe now and then, as a real event loop would.
    if (latencies.length % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return { rate: latencies.length / ((now - started) / 1000), p99: percentile(latencies, 99) };
}

main(async () => {
  console.log(
    `# Tenant policies — ${describeMachine()}, ${POLICIES} policies, ${CONNECTIONS} connections, ${SECONDS} s per run, alternating`,
  );
  const sigid = await webhookBenchSigid('authorize', { SIGID_WEBHOOK_WORKER: 'false' });
  sigid.start();
  const sigidUrl = await listen(createApp(sigid));
  sigid.config.publicUrl = sigidUrl;
  const actor = { type: 'system' as const, id: 'bench' };

  /** A tenant with an API granting its `read` scope to an m2m application. */
  async function tenantWithApi(name: string) {
    const slug = `bench-${name}-${Date.now().toString(36)}`;
    const tenant = await createTenant(
      sigid,
      { name, slug },
      useCase({ tenantId: 'platform', actor, correlationId: 'bench' }),
    );
    const context = useCase({ tenantId: tenant.tenantId, actor, correlationId: 'bench' });
    const application = await createApplication(sigid, { kind: 'm2m', client_name: 'bench worker' }, context);
    const api = await createApi(
      sigid,
      { name: 'bench api', identifier: RESOURCE, scopes: [{ value: 'read', description: 'Read' }] },
      context,
    );
    await sigid.projections.waitFor(Math.max(application.written.position ?? 0, api.written.position ?? 0));
    const apiRow = await findApi(sigid.readModels, tenant.tenantId, api.apiId);
    if (!apiRow) throw new Error('bench api not projected');
    const granted = await setApiGrant(sigid, apiRow, application.applicationId, ['read'], context);
    await sigid.projections.waitFor(granted.position ?? 0);
    return { tenant, slug, context, application };
  }

  const on = await tenantWithApi('with-policies');
  const off = await tenantWithApi('without-policies');
  const texts: Record<string, string> = {};
  let last = 0;
  for (let index = 0; index < POLICIES; index++) {
    const cedarText = policyText(index);
    const { policyId, written } = await createPolicy(sigid, { name: `policy ${index}`, cedar: cedarText }, on.context);
    texts[`${policyId}.0`] = cedarText;
    last = written.position ?? last;
  }
  await sigid.projections.waitFor(last);
  const key = on.tenant.token;

  // The same decision three ways, checked equal before timing.
  const authorizeUrl = `${sigidUrl}/api/v1/authorize`;
  const headers = ['content-type=application/json', `authorization=Bearer ${key}`];
  const answer = await fetch(authorizeUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: requestBody,
  });
  const viaHttp = (await answer.json()) as { decision: string; policies: string[] };
  const raw = decideUnprepared(texts, request);
  const compiled = compilePolicySet(
    'bench:raw',
    Object.entries(texts).map(([id, text]) => ({ policy_id: id.slice(0, -2), cedar: text })),
  );
  const stateful = decide(compiled, request);
  if (
    raw.type !== 'success' ||
    viaHttp.decision !== 'allow' ||
    raw.response.decision !== 'allow' ||
    stateful.decision !== 'allow'
  ) {
    throw new Error(`the decisions differ: ${JSON.stringify({ viaHttp, raw, stateful })}`);
  }
  console.log(`  decision: ${viaHttp.decision} by ${viaHttp.policies.join(', ')}`);
  await hammer(authorizeUrl, headers, requestBody);

  const decisions = await alternate('authorize', [
    { name: 'POST /api/v1/authorize', run: () => hammer(authorizeUrl, headers, requestBody) },
    { name: 'raw cedar-wasm isAuthorized', run: () => loop(() => decideUnprepared(texts, request)) },
    { name: 'preparsed statefulIsAuthorized', run: () => loop(() => decide(compiled, request)) },
  ]);
  reportMedians('authorize', decisions);
  reportRatio({
    label: 'authorize decisions/s vs raw cedar-wasm isAuthorized',
    samples: decisions,
    subject: 'POST /api/v1/authorize',
    baseline: 'raw cedar-wasm isAuthorized',
    target: 0.5,
  });
  const p99 = medianP99(decisions.get('POST /api/v1/authorize') ?? []) ?? Number.NaN;
  const rawP99 = medianP99(decisions.get('raw cedar-wasm isAuthorized') ?? []) ?? Number.NaN;
  console.log(
    `RESULT authorize p99: ${formatMs(p99)} (HTTP, ${CONNECTIONS} connections) vs raw call ${formatMs(rawP99)}`,
  );

  // Tokens with policies on (100 enabled, decided per token) against off (none), the same SigID.
  const tokenBody = new URLSearchParams({
    grant_type: 'client_credentials',
    scope: 'read',
    resource: RESOURCE,
  }).toString();
  const basic = (application: typeof on.application) =>
    `authorization=Basic ${Buffer.from(`${encodeURIComponent(application.clientId)}:${encodeURIComponent(application.clientSecret as string)}`).toString('base64')}`;
  const tokenRun = (who: typeof on) => () =>
    hammer(
      `${sigidUrl}/t/${who.slug}/token`,
      ['content-type=application/x-www-form-urlencoded', basic(who.application)],
      tokenBody,
    );
  await tokenRun(on)();
  await tokenRun(off)();
  const remember = (enabled: boolean) => async () => {
    issuanceMemo.enabled = enabled;
  };
  const tokens = await alternate('tokens', [
    { name: 'tokens, 100 policies', before: remember(true), run: tokenRun(on) },
    { name: 'tokens, no policies', before: remember(true), run: tokenRun(off) },
    { name: 'tokens, 100 policies, every token decided', before: remember(false), run: tokenRun(on) },
  ]);
  issuanceMemo.enabled = true;
  reportMedians('tokens', tokens);
  reportRatio({
    label: 'tokens/s with policy evaluation on vs off',
    samples: tokens,
    subject: 'tokens, 100 policies',
    baseline: 'tokens, no policies',
    target: 0.9,
  });
  reportRatio({
    label: 'tokens/s with every token decided (no remembered decisions) vs off',
    samples: tokens,
    subject: 'tokens, 100 policies, every token decided',
    baseline: 'tokens, no policies',
  });
  const onP99 = medianP99(tokens.get('tokens, 100 policies') ?? []) ?? Number.NaN;
  const offP99 = medianP99(tokens.get('tokens, no policies') ?? []) ?? Number.NaN;
  console.log(
    `RESULT token p99 on vs off: ${formatMs(onP99)} vs ${formatMs(offP99)} = ${(onP99 / offP99).toFixed(2)}×`,
  );
  console.log(`  cedar-wasm ${cedar.getCedarVersion()}`);
});
