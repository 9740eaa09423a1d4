import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CompactSign, type CryptoKey, exportJWK, type JWK } from 'jose';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountAggregate } from '../commands/account.ts';
import { PLATFORM_TENANT } from '../commands/tenant.ts';
import { createExampleServer, type ExampleData, exampleData } from '../examples/mcp-server/server.ts';
import { linkAccount, signUpWithPassword } from '../services/accounts.ts';
import { useCase } from '../services/context.ts';
import { handleCommand } from '../src/command-handler.ts';
import { registerAgentKey, verifyAgentAnchor } from './support/agent-credentials.ts';
import { authorizationUrl, type HostedSigid, insecure, startHostedSigid } from './support/hosted-flow.ts';
import { settled } from './support/settled.ts';

type Tenant = Awaited<ReturnType<HostedSigid['t']['createTenant']>>;

const CIBA = 'urn:openid:params:grant-type:ciba';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const password = 'correct horse battery staple';
const system = { actor: { type: 'system', id: 'mcp-example-test' } as const, correlationId: 'mcp-example-test' };
const SCOPES = ['projects:read', 'tickets:create', 'projects:delete'];
const BILLING = 'https://billing.example.test/api';

/**
 * The example MCP server (examples/mcp-server) end to end: a real SigID over HTTP, the example server
 * on its own port guarded by the resource-server module, and the MCP SDK's own client with its OAuth
 * support (an agent's `private_key_jwt` client_credentials, found through the server's RFC 9728
 * metadata). Tools map to scopes; `delete_project` needs a tenant policy's allow, which needs a fresh
 * approval the server asks the agent's owner for through CIBA, granted on SigID's approval page.
 * Tokens for another API or from another tenant are refused.
 */
describe('the example MCP server', () => {
  let h: HostedSigid;
  let a: Tenant;
  let b: Tenant;
  let mcp: Server;
  let resource: string;
  let data: ExampleData;
  const ada = { email: `ada.${Date.now()}@example.test`, sub: '' };
  const agents = new Map<string, { id: string; jwk: JWK; privateKey: CryptoKey }>();

  async function person(email: string, tenantId: string) {
    const made = await signUpWithPassword(
      h.t.sigid,
      { email, password },
      useCase({ tenantId: PLATFORM_TENANT, ...system }),
    );
    if (made.status !== 'created') throw new Error('sign-up');
    await handleCommand(
      h.t.sigid.log,
      accountAggregate,
      made.accountId,
      { type: 'verify_email' },
      useCase({ tenantId: PLATFORM_TENANT, ...system }),
    );
    return (await linkAccount(h.t.sigid, made.accountId, tenantId, useCase({ tenantId, ...system }))).sub;
  }

  async function post(who: Tenant, path: string, body: object) {
    const answer = await h.t.http.post(path).set('Authorization', `Bearer ${who.key}`).send(body);
    if (answer.status !== 201) throw new Error(`${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body as Record<string, unknown>;
  }

  /** An agent of `who` owned by `owner`, allowed every tool's scope (and a billing scope), with one P-256 key. */
  async function agent(who: Tenant, owner: { type: 'user' | 'organization'; id: string }, apis: string[]) {
    const created = await post(who, '/api/v1/agents', {
      name: 'Project assistant',
      owner,
      allowed_scopes: [
        { api_id: apis[0], scopes: SCOPES },
        { api_id: apis[1], scopes: ['invoices:read'] },
      ],
    });
    const id = created.id as string;
    const authorization = `Bearer ${who.key}`;
    const { kid, privateKey } = await registerAgentKey(h.t.http, authorization, id);
    // A token needs a verified anchor: the key itself, as a client_credentials anchor, proven by a challenge.
    const anchor = await post(who, `/api/v1/agents/${id}/anchors`, { kind: 'client_credentials', kid });
    await verifyAgentAnchor(h.t.http, authorization, id, anchor.id as string, (nonce) =>
      new CompactSign(new TextEncoder().encode(nonce)).setProtectedHeader({ alg: 'ES256' }).sign(privateKey),
    );
    agents.set(who.tenantId, { id, jwk: await exportJWK(privateKey), privateKey });
  }

  /** A token of the tenant's agent, asked directly with openid-client (for the refusals). */
  async function agentToken(who: Tenant, scope: string, audience = resource) {
    const bot = agents.get(who.tenantId);
    if (!bot) throw new Error('no agent');
    const config = await oauth.discovery(
      new URL(`${h.base}/t/${who.slug}`),
      bot.id,
      undefined,
      oauth.PrivateKeyJwt(bot.privateKey),
      insecure,
    );
    return (await oauth.clientCredentialsGrant(config, { scope, resource: audience })).access_token;
  }

  /** The MCP SDK's client as the agent: it gets its own token after the server's first 401. */
  async function agentClient() {
    const bot = agents.get(a.tenantId);
    if (!bot) throw new Error('no agent');
    const client = new Client({ name: 'example-agent', version: '1.0.0' });
    const authProvider = new PrivateKeyJwtProvider({
      clientId: bot.id,
      privateKey: bot.jwk as Record<string, unknown>,
      algorithm: 'ES256',
      // For client_credentials the SDK asks for the provider's scope (not the metadata's scopes_supported).
      scope: SCOPES.join(' '),
      expectedIssuer: `${h.base}/t/${a.slug}`,
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider }));
    return client;
  }

  /** A client sending a fixed bearer token (no OAuth support: a refusal surfaces as the HTTP error). */
  async function bearerClient(token: string) {
    const client = new Client({ name: 'bearer', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(resource), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  }

  const rpc = (token: string | undefined, body: unknown) =>
    fetch(resource, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
  const call = (name: string, args: Record<string, unknown> = {}) => ({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name, arguments: args },
  });
  const resultOf = (result: unknown) =>
    JSON.parse(((result as { content: Array<{ text: string }> }).content[0] as { text: string }).text);

  beforeAll(async () => {
    h = await startHostedSigid();
    a = await h.t.createTenant('Acme');
    b = await h.t.createTenant('Globex');
    mcp = createServer();
    await new Promise<void>((resolve) => mcp.listen(0, '127.0.0.1', resolve));
    resource = `http://127.0.0.1:${(mcp.address() as AddressInfo).port}/mcp`;
    ada.sub = await person(ada.email, a.tenantId);
    for (const who of [a, b]) {
      const projects = await post(who, '/api/v1/apis', {
        name: 'Projects',
        identifier: resource,
        scopes: SCOPES.map((value) => ({ value })),
      });
      const billing = await post(who, '/api/v1/apis', {
        name: 'Billing',
        identifier: BILLING,
        scopes: [{ value: 'invoices:read' }],
      });
      const owner =
        who === a
          ? ({ type: 'user', id: ada.sub } as const)
          : ({
              type: 'organization',
              id: (await post(who, '/api/v1/organizations', { name: 'globex-team' })).id as string,
            } as const);
      await agent(who, owner, [projects.id as string, billing.id as string]);
    }
    // Deleting a project is allowed only with a person's approval of at most five minutes.
    await post(a, '/api/v1/policies', {
      name: 'Project deletes need a fresh approval',
      cedar: [
        'permit(principal, action == SigID::Action::"delete", resource is SigID::Resource) when { resource.kind == "project" };',
        'forbid(principal, action == SigID::Action::"delete", resource is SigID::Resource) when { resource.kind == "project" }',
        'unless { context has approval_age_seconds && context.approval_age_seconds <= 300 };',
      ].join('\n'),
    });
    const approvals = await h.webApp(a.key, {
      client_name: 'Projects MCP server',
      grant_types: ['authorization_code', 'refresh_token', CIBA],
    });
    data = exampleData();
    mcp.on(
      'request',
      createExampleServer(
        {
          issuer: `${h.base}/t/${a.slug}`,
          resource,
          sigidUrl: h.base,
          adminKey: a.key,
          cibaClient: { clientId: approvals.clientId, clientSecret: approvals.secret },
        },
        data,
      ),
    );
    await settled(h.t.sigid);
  });
  afterAll(async () => {
    await new Promise((resolve) => mcp?.close(resolve));
    await h?.close();
  });

  it('publishes RFC 9728 metadata and answers a request without a token 401 with a challenge naming it', async () => {
    const metadataUrl = `${new URL(resource).origin}/.well-known/oauth-protected-resource/mcp`;
    const metadata = await (await fetch(metadataUrl)).json();
    expect(metadata).toMatchObject({
      resource,
      authorization_servers: [`${h.base}/t/${a.slug}`],
      scopes_supported: SCOPES,
    });
    const answer = await rpc(undefined, call('list_projects'));
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toContain(`Bearer resource_metadata="${metadataUrl}"`);
  });

  it("lets the agent in through the SDK's OAuth support, lists the tools and calls list_projects", async () => {
    const client = await agentClient();
    const tools = await client.listTools();
    expect(tools.tools.map((tool) => tool.name).sort()).toEqual(['create_ticket', 'delete_project', 'list_projects']);
    const listed = await client.callTool({ name: 'list_projects', arguments: {} });
    expect(listed.isError).toBeFalsy();
    expect(resultOf(listed).projects.map((project: { id: string }) => project.id)).toEqual([
      'prj_apollo',
      'prj_gemini',
    ]);
    const ticket = await client.callTool({
      name: 'create_ticket',
      arguments: { project_id: 'prj_gemini', title: 'Fuel check' },
    });
    expect(resultOf(ticket).ticket).toMatchObject({ project_id: 'prj_gemini', created_by: agents.get(a.tenantId)?.id });
    await client.close();
  });

  it('refuses create_ticket to a token without tickets:create: 403 insufficient_scope naming it', async () => {
    const token = await agentToken(a, 'projects:read');
    const answer = await rpc(token, call('create_ticket', { project_id: 'prj_gemini', title: 'x' }));
    expect(answer.status).toBe(403);
    const challenge = answer.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="tickets:create"');
    // The same token still reads, and the SDK's client without OAuth support sees the 403.
    const client = await bearerClient(token);
    expect(resultOf(await client.callTool({ name: 'list_projects', arguments: {} })).projects).toHaveLength(2);
    await expect(
      client.callTool({ name: 'create_ticket', arguments: { project_id: 'prj_gemini', title: 'x' } }),
    ).rejects.toThrow(/insufficient_scope/);
    await client.close();
    expect(data.tickets.filter((ticket) => ticket.title === 'x')).toEqual([]);
  });

  it('deletes a project only after the agent owner approved it through CIBA on the approval page', async () => {
    const client = await agentClient();
    const first = await client.callTool({ name: 'delete_project', arguments: { project_id: 'prj_apollo' } });
    expect(first.isError).toBe(true);
    expect(resultOf(first)).toMatchObject({ status: 'approval_required', approver: ada.sub });
    const again = await client.callTool({ name: 'delete_project', arguments: { project_id: 'prj_apollo' } });
    expect(resultOf(again)).toMatchObject({ status: 'approval_pending' });
    expect(data.projects.has('prj_apollo')).toBe(true);

    // Ada gets the e-mail, signs in and approves on SigID's page.
    const browser = h.browser();
    await browser.request(await h.linkSentTo(ada.email, '/approvals/'));
    if (browser.page.$('#password').length > 0) await browser.submit('#email', { email: ada.email, password });
    expect(browser.text('.binding-message')).toContain('Delete project prj_apollo');
    await browser.submit('button[value=approve]', {}, { name: 'decision', value: 'approve' });
    expect(browser.page.$('h1').text()).toBe('You approved the request');

    let done = await client.callTool({ name: 'delete_project', arguments: { project_id: 'prj_apollo' } });
    // The issuer is told within the approval page's answer or by the delivery worker soon after.
    for (let tries = 0; resultOf(done).status === 'approval_pending' && tries < 40; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      done = await client.callTool({ name: 'delete_project', arguments: { project_id: 'prj_apollo' } });
    }
    expect(resultOf(done)).toEqual({ status: 'deleted', project_id: 'prj_apollo' });
    expect(data.projects.has('prj_apollo')).toBe(false);
    const listed = await client.callTool({ name: 'list_projects', arguments: {} });
    expect(resultOf(listed).projects.map((project: { id: string }) => project.id)).toEqual(['prj_gemini']);

    // The approval is used once: the next delete asks again.
    const next = await client.callTool({ name: 'delete_project', arguments: { project_id: 'prj_gemini' } });
    expect(resultOf(next)).toMatchObject({ status: 'approval_required' });
    expect(data.projects.has('prj_gemini')).toBe(true);
    await client.close();

    const { rows } = await h.t.sigid.db.query<{ event_type: string }>(
      `select event_type from sigid_events where tenant_id = $1 and event_type like 'approval.%' order by global_position`,
      [a.tenantId],
    );
    expect(rows.map((row) => row.event_type).slice(0, 3)).toEqual([
      'approval.requested',
      'approval.granted',
      'approval.delivered',
    ]);
  });

  it('refuses a token for another API and a token of another tenant (401 invalid_token)', async () => {
    const billing = await rpc(await agentToken(a, 'invoices:read', BILLING), call('list_projects'));
    expect(billing.status).toBe(401);
    expect(billing.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(await billing.json()).toMatchObject({ error: 'invalid_token' });
    // Globex has an API with the same identifier and an agent allowed on it: its issuer is not Acme's.
    const globex = await rpc(await agentToken(b, 'projects:read'), call('list_projects'));
    expect(globex.status).toBe(401);
    expect(globex.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('takes a delegated token for Ada (sub Ada, act the agent) within its scopes, and asks Ada herself to approve a delete', async () => {
    const bot = agents.get(a.tenantId);
    if (!bot) throw new Error('no agent');
    const projects = (
      (await h.t.http.get('/api/v1/apis').set('Authorization', `Bearer ${a.key}`).expect(200)).body.data as Array<{
        id: string;
        identifier: string;
      }>
    ).find((api) => api.identifier === resource);
    // The agent may be delegated to on this API; Ada signs in to an app granted the tools' scopes.
    await h.t.http
      .patch(`/api/v1/agents/${bot.id}`)
      .set('Authorization', `Bearer ${a.key}`)
      .send({ delegation: { scopes: SCOPES, audiences: [resource], max_lifetime_seconds: 600, max_chain_depth: 1 } })
      .expect(200);
    const app = await h.webApp(a.key);
    const applications = await h.t.http.get('/api/v1/applications').set('Authorization', `Bearer ${a.key}`);
    const appId = (applications.body.data as Array<{ id: string; client_id: string }>).find(
      (row) => row.client_id === app.clientId,
    )?.id;
    await h.t.http
      .put(`/api/v1/apis/${projects?.id}/grants/${appId}`)
      .set('Authorization', `Bearer ${a.key}`)
      .send({ scopes: SCOPES })
      .expect(200);
    const rp = await h.relyingParty(a.slug, app);
    const browser = h.browser();
    const request = await authorizationUrl(rp, {
      scope: `openid ${SCOPES.join(' ')}`,
      resource,
      prompt: 'consent',
    });
    await browser.request(request.url);
    await browser.submit('#email', { email: ada.email, password });
    await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    const adaTokens = await oauth.authorizationCodeGrant(rp, browser.leftTo as URL, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
    });

    // Ada lets the agent read and delete projects for her for five minutes (no tickets).
    await post(a, '/api/v1/delegations', {
      agent_id: bot.id,
      sub: ada.sub,
      audience: resource,
      scopes: ['projects:read', 'projects:delete'],
      expires_in: 300,
    });
    const config = await oauth.discovery(
      new URL(`${h.base}/t/${a.slug}`),
      bot.id,
      undefined,
      oauth.PrivateKeyJwt(bot.privateKey),
      insecure,
    );
    const delegated = await oauth.genericGrantRequest(config, TOKEN_EXCHANGE, {
      subject_token: adaTokens.access_token,
      subject_token_type: ACCESS_TOKEN,
      resource,
    });
    expect(delegated.scope?.split(' ').sort()).toEqual(['projects:delete', 'projects:read']);

    const client = await bearerClient(delegated.access_token);
    expect(resultOf(await client.callTool({ name: 'list_projects', arguments: {} })).projects).toHaveLength(1);
    // The delegation gave no tickets:create, though the agent holds it for itself.
    await expect(
      client.callTool({ name: 'create_ticket', arguments: { project_id: 'prj_gemini', title: 'delegated' } }),
    ).rejects.toThrow(/insufficient_scope/);
    // The delete needs an approval, and the person asked is Ada, for whom the agent acts. (Ada was
    // asked about prj_gemini for the agent's own token before: her newest approval link is awaited.)
    const earlier = await h.linkSentTo(ada.email, '/approvals/');
    const first = await client.callTool({ name: 'delete_project', arguments: { project_id: 'prj_gemini' } });
    expect(resultOf(first)).toMatchObject({ status: 'approval_required', approver: ada.sub });
    let link = earlier;
    for (let tries = 0; link === earlier && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      link = await h.linkSentTo(ada.email, '/approvals/');
    }
    expect(link).not.toBe(earlier);
    const approvalPage = h.browser();
    await approvalPage.request(link);
    if (approvalPage.page.$('#password').length > 0) {
      await approvalPage.submit('#email', { email: ada.email, password });
    }
    expect(approvalPage.text('.binding-message')).toContain('Delete project prj_gemini');
    await approvalPage.submit('button[value=approve]', {}, { name: 'decision', value: 'approve' });
    let done = await client.callTool({ name: 'delete_project', arguments: { project_id: 'prj_gemini' } });
    for (let tries = 0; resultOf(done).status === 'approval_pending' && tries < 40; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      done = await client.callTool({ name: 'delete_project', arguments: { project_id: 'prj_gemini' } });
    }
    expect(resultOf(done)).toEqual({ status: 'deleted', project_id: 'prj_gemini' });
    expect(data.projects.size).toBe(0);
    expect(data.tickets.filter((ticket) => ticket.title === 'delegated')).toEqual([]);
    await client.close();
  });
});
