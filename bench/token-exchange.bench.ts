/**
 * Token exchange (RFC 8693: an agent acting for a user, src/oidc/token-exchange.ts) against plain
 * client_credentials, on the same SigID stack, by the same agent with the same `private_key_jwt`
 * client authentication, for the same API, alternating, median of BENCH_RUNS runs. Both go through
 * tenant routing, the pool's oidc-provider, the agent from the read model, a tenant Cedar policy
 * decided for every token (the issuance memo off), the `oauth.token.issued` event appended before the
 * answer and an ES256 JWT; the exchange adds verifying the subject token, checking it is in force
 * (the user), finding the delegation and the agent's limits, and nesting `act`.
 *
 * Target (issue 10, item 6): exchanged tokens/s ≥ 0.7× client_credentials tokens/s.
 * Scale: BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS (32), BENCH_RUNS.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CompactSign, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { findAgentAnchor } from '../read-models/agent-anchors.ts';
import { findAgent } from '../read-models/agents.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { addAgentAnchor, agentAnchorChallenge, verifyAgentAnchor } from '../services/agent-anchors.ts';
import { agentKeyChallenge, createAgent, registerAgentKey } from '../services/agents.ts';
import { createApi } from '../services/apis.ts';
import { useCase } from '../services/context.ts';
import { createDelegation } from '../services/delegations.ts';
import { createPolicy } from '../services/policies.ts';
import { signingKeySet } from '../services/signing-keys.ts';
import { createTenant } from '../services/tenants.ts';
import { createApp } from '../src/http/app.ts';
import { issuanceMemo } from '../src/oidc/policies.ts';
import { TOKEN_EXCHANGE } from '../src/oidc/token-exchange.ts';
import {
  alternate,
  describeMachine,
  envInt,
  listen,
  main,
  reportMedians,
  reportRatio,
  type Sample,
  webhookBenchSigid,
} from './support.ts';

const SECONDS = envInt('BENCH_SECONDS', 10);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 32);
const RESOURCE = 'https://api.example.com/';
const LOAD = fileURLToPath(new URL('./token-exchange-load.ts', import.meta.url));

async function hammer(load: Record<string, unknown>): Promise<Sample> {
  const child = spawn(process.execPath, [LOAD], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_LOAD: JSON.stringify({ ...load, seconds: SECONDS, connections: CONNECTIONS }) },
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`load generator exited ${code}`);
  const result = JSON.parse(output) as { rate: number; p99: number; error: string | null };
  if (result.error) throw new Error(`token request refused: ${result.error}`);
  return { rate: result.rate, p99: result.p99 };
}

main(async () => {
  console.log(
    `# token exchange vs client_credentials — ${describeMachine()}, ${CONNECTIONS} connections, ${SECONDS} s per run, alternating`,
  );
  const sigid = await webhookBenchSigid('token_exchange', { SIGID_WEBHOOK_WORKER: 'false' });
  sigid.start();
  const url = await listen(createApp(sigid));
  sigid.config.publicUrl = url;
  const actor = { type: 'system' as const, id: 'bench' };
  const slug = `bench-${Date.now().toString(36)}`;
  const tenant = await createTenant(
    sigid,
    { name: 'Bench', slug },
    useCase({ tenantId: PLATFORM_TENANT, actor, correlationId: 'bench' }),
  );
  const context = useCase({ tenantId: tenant.tenantId, actor, correlationId: 'bench' });
  const api = await createApi(
    sigid,
    { name: 'bench api', identifier: RESOURCE, scopes: [{ value: 'read', description: 'Read' }] },
    context,
  );
  const platform = useCase({ tenantId: PLATFORM_TENANT, actor, correlationId: 'bench' });
  const signedUp = await signUpWithPassword(
    sigid,
    { email: `bench.${Date.now()}@example.test`, password: 'correct horse battery staple' },
    platform,
  );
  if (signedUp.status !== 'created') throw new Error('bench user exists');
  const linked = await linkAccount(sigid, signedUp.accountId, tenant.tenantId, platform);
  await sigid.projections.waitFor(Math.max(api.written.position ?? 0, linked.written.position ?? 0));
  const agent = await createAgent(
    sigid,
    {
      name: 'bench agent',
      owner: { type: 'user', id: linked.sub },
      allowed_scopes: [{ api_id: api.apiId, scopes: ['read'] }],
      delegation: { scopes: ['read'], audiences: [RESOURCE], max_lifetime_seconds: 3600, max_chain_depth: 1 },
    },
    context,
  );
  await sigid.projections.waitFor(agent.written.position ?? 0);
  let row = await findAgent(sigid.readModels, tenant.tenantId, agent.agentId);
  if (!row) throw new Error('bench agent not projected');
  const pair = await generateKeyPair('ES256', { extractable: true });
  const challenge = await agentKeyChallenge(sigid, row, context);
  const proof = await new CompactSign(new TextEncoder().encode(challenge.nonce))
    .setProtectedHeader({ alg: 'ES256' })
    .sign(pair.privateKey);
  const registered = await registerAgentKey(
    sigid,
    row,
    { jwk: (await exportJWK(pair.publicKey)) as never, challenge: challenge.nonce, proof },
    context,
  );
  // An agent gets no token before an anchor is verified: its key, as a client_credentials anchor.
  const sign = (message: string) =>
    new CompactSign(new TextEncoder().encode(message)).setProtectedHeader({ alg: 'ES256' }).sign(pair.privateKey);
  await sigid.projections.waitFor(registered.written.position ?? 0);
  const added = await addAgentAnchor(sigid, row, { kind: 'client_credentials', kid: registered.kid }, context);
  await sigid.projections.waitFor(added.written.position ?? 0);
  const anchor = await findAgentAnchor(sigid.readModels, tenant.tenantId, agent.agentId, added.anchorId);
  if (!anchor) throw new Error('bench anchor not projected');
  const anchorChallenge = await agentAnchorChallenge(sigid, row, anchor, context);
  const anchored = await verifyAgentAnchor(
    sigid,
    row,
    anchor,
    { challenge: anchorChallenge.nonce, proof: await sign(anchorChallenge.nonce) },
    context,
  );
  const delegation = await createDelegation(
    sigid,
    { agent_id: agent.agentId, sub: linked.sub, audience: RESOURCE, scopes: ['read'], expires_in: 3600 },
    { type: 'api', actor: 'bench' },
    context,
  );
  // A policy every token is decided against (it forbids nothing these tokens ask for).
  const policy = await createPolicy(
    sigid,
    {
      name: 'bench policy',
      cedar:
        'forbid(principal, action == SigID::Action::"issue_token", resource == SigID::Scope::"admin") when { context.delegation_depth > 3 };',
    },
    context,
  );
  await sigid.projections.waitFor(
    Math.max(
      registered.written.position ?? 0,
      anchored.position ?? 0,
      delegation.written.position ?? 0,
      policy.written.position ?? 0,
    ),
  );
  row = await findAgent(sigid.readModels, tenant.tenantId, agent.agentId);
  issuanceMemo.enabled = false;

  // The user's access token from the tenant issuer (its keys are made by its first request).
  const issuer = `${url}/t/${slug}`;
  await fetch(`${issuer}/.well-known/openid-configuration`);
  const [signing] = (await signingKeySet(sigid, tenant.tenantId)).keys;
  if (!signing) throw new Error('no signing key');
  const subjectToken = await new SignJWT({ scope: 'read', subject_type: 'user', client_id: 'app_bench' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: String(signing.kid) })
    .setIssuer(issuer)
    .setSubject(linked.sub)
    .setAudience(RESOURCE)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(await importJWK(signing as never, 'ES256'));

  const common = {
    url: `${issuer}/token`,
    audience: issuer,
    agentId: agent.agentId,
    kid: registered.kid,
    jwk: { ...(await exportJWK(pair.privateKey)), alg: 'ES256' },
  };
  const exchangeBody = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE,
    subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    resource: RESOURCE,
    scope: 'read',
  }).toString();
  const plainBody = new URLSearchParams({
    grant_type: 'client_credentials',
    scope: 'read',
    resource: RESOURCE,
  }).toString();
  // Warm both (the pool builds the tenant's issuer; the agent's client is read once).
  await hammer({ ...common, body: exchangeBody });
  await hammer({ ...common, body: plainBody });

  const samples = await alternate('token exchange', [
    { name: 'token exchange', run: () => hammer({ ...common, body: exchangeBody }) },
    { name: 'client_credentials', run: () => hammer({ ...common, body: plainBody }) },
  ]);
  reportMedians('token exchange vs client_credentials', samples);
  reportRatio({
    label: 'token-exchange issuances/s vs client_credentials',
    samples,
    subject: 'token exchange',
    baseline: 'client_credentials',
    target: 0.7,
  });
  const { rows } = await sigid.db.query<{ count: number }>(
    `select count(*)::int as count from sigid_events where event_type = 'oauth.token.issued' and data->>'grant_type' = $1`,
    [TOKEN_EXCHANGE],
  );
  console.log(`  delegated oauth.token.issued events recorded: ${rows[0]?.count}`);
});
