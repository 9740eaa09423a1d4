/**
 * An example MCP server (Streamable HTTP, stateless) guarded by SigID's resource-server module: every
 * request needs an access token of one tenant issuer for this server's API (`aud`), each tool a
 * scope, and `delete_project` also a `POST /api/v1/authorize` decision that the tenant's Cedar policy
 * only allows with a fresh human approval, asked through CIBA (examples/mcp-server/README.md).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import express, { type Express, type Request, type Response } from 'express';
import * as oauth from 'openid-client';
import { z } from 'zod';
import {
  createTokenValidator,
  protectedResourceHandler,
  protectedResourceMetadata,
  protectedResourceMetadataUrl,
  type ValidToken,
} from '../../src/resource-server/index.ts';

export interface ExampleConfig {
  /** The tenant issuer, `{PUBLIC_URL}/t/{slug}`. */
  issuer: string;
  /** This server's API identifier in SigID (the tokens' `aud`), which is also the URL clients call: `https://mcp.example.com/mcp`. */
  resource: string;
  /** SigID's base URL, for `POST /api/v1/authorize` and reading an agent's owner. */
  sigidUrl: string;
  /** A tenant admin key (`sk_…`) for those two calls. */
  adminKey: string;
  /** A confidential application of the tenant with the CIBA grant: the server asks approvals as it. */
  cibaClient: { clientId: string; clientSecret: string };
  /** Who approves when the token names no person: an e-mail address or tenant sub (optional). */
  approver?: string | undefined;
  /** How long a CIBA request waits for the person (seconds, 30–1800; default 300). */
  approvalExpirySeconds?: number;
}

/** What each tool needs: the scope is checked before the tool runs (403 `insufficient_scope` otherwise). */
export const TOOL_SCOPES = {
  list_projects: 'projects:read',
  create_ticket: 'tickets:create',
  delete_project: 'projects:delete',
} as const;
type ToolName = keyof typeof TOOL_SCOPES;

const CIBA = 'urn:openid:params:grant-type:ciba';

interface Project {
  id: string;
  name: string;
}
interface Ticket {
  id: string;
  project_id: string;
  title: string;
  created_by: string;
}
interface PendingApproval {
  authReqId: string;
  askedAt: number;
  approver: string;
  expiresAt: number;
}

/** The server's data, in memory: this is an example. */
export interface ExampleData {
  projects: Map<string, Project>;
  tickets: Ticket[];
}

export function exampleData(): ExampleData {
  return {
    projects: new Map([
      ['prj_apollo', { id: 'prj_apollo', name: 'Apollo' }],
      ['prj_gemini', { id: 'prj_gemini', name: 'Gemini' }],
    ]),
    tickets: [],
  };
}

const text = (value: unknown, isError = false): CallToolResult => ({
  content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value) }],
  ...(isError ? { isError: true } : {}),
});

/** Who a token speaks for, as the Cedar request names it, and the key of its pending approvals. */
function principalOf(token: ValidToken) {
  const type =
    token.actors.length > 0 || token.subject_type === 'user'
      ? 'User'
      : token.subject_type === 'agent'
        ? 'Agent'
        : 'Application';
  const chain = [token.sub, ...token.actors.map((actor) => actor.sub)].join('>');
  return { type, id: token.sub, delegationDepth: token.actors.length, chain } as const;
}

/** The scopes a JSON-RPC message (or batch) needs: a `tools/call` needs its tool's scope, anything else a valid token. */
function scopesFor(body: unknown): string[] {
  const messages = Array.isArray(body) ? body : [body];
  const scopes = new Set<string>();
  for (const message of messages) {
    if (message && typeof message === 'object' && (message as { method?: unknown }).method === 'tools/call') {
      const name = (message as { params?: { name?: unknown } }).params?.name;
      const scope = typeof name === 'string' ? TOOL_SCOPES[name as ToolName] : undefined;
      if (scope) scopes.add(scope);
    }
  }
  return [...scopes];
}

/** The example as an express app: the RFC 9728 metadata, and `/mcp` (the resource's path). */
export function createExampleServer(config: ExampleConfig, data: ExampleData = exampleData()): Express {
  const resource = new URL(config.resource);
  const sigid = config.sigidUrl.replace(/\/+$/, '');
  const insecure = new URL(config.issuer).protocol === 'http:';
  // Named explicitly: the module only defaults it for https identifiers, and a developer's is http://localhost.
  const tokens = createTokenValidator({
    issuer: config.issuer,
    audience: config.resource,
    resourceMetadata: protectedResourceMetadataUrl(config.resource),
  });
  const metadata = protectedResourceHandler(
    protectedResourceMetadata({
      resource: config.resource,
      authorizationServers: [config.issuer],
      scopesSupported: Object.values(TOOL_SCOPES),
      resourceName: 'Example projects MCP server',
      dpopAlgorithms: ['ES256', 'EdDSA'],
    }),
  );
  const pending = new Map<string, PendingApproval>();
  let ciba: Promise<oauth.Configuration> | undefined;
  const cibaClient = () => {
    ciba ??= oauth.discovery(
      new URL(config.issuer),
      config.cibaClient.clientId,
      config.cibaClient.clientSecret,
      undefined,
      insecure ? { execute: [oauth.allowInsecureRequests] } : undefined,
    );
    return ciba;
  };

  async function admin(path: string, init: RequestInit = {}) {
    const answer = await fetch(`${sigid}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${config.adminKey}`, 'content-type': 'application/json' },
    });
    if (!answer.ok) throw new Error(`SigID ${path}: ${answer.status} ${await answer.text()}`);
    return (await answer.json()) as Record<string, unknown>;
  }

  /** Who must approve: the person a delegated token acts for, else an agent's owner when a user, else the configured approver. */
  async function approverFor(token: ValidToken): Promise<string | undefined> {
    if (token.subject_type === 'user') return token.sub;
    if (token.subject_type === 'agent') {
      const agent = await admin(`/api/v1/agents/${encodeURIComponent(token.sub)}`);
      const owner = agent.owner as { type: string; id: string } | undefined;
      if (owner?.type === 'user') return owner.id;
    }
    return config.approver;
  }

  async function authorizeDelete(token: ValidToken, projectId: string, approvalAgeSeconds?: number) {
    const principal = principalOf(token);
    const decision = await admin('/api/v1/authorize', {
      method: 'POST',
      body: JSON.stringify({
        principal: { type: principal.type, id: principal.id },
        action: 'delete',
        resource: { type: 'project', id: projectId },
        context: {
          operation: 'delete_project',
          delegation_depth: principal.delegationDepth,
          ...(approvalAgeSeconds === undefined ? {} : { approval_age_seconds: approvalAgeSeconds }),
        },
      }),
    });
    return decision.decision === 'allow';
  }

  /**
   * Polls a pending approval once: the approval's age (from its ID token's `auth_time`) once the
   * person approved, `pending` while they have not, `denied` or `expired` otherwise.
   */
  async function pollApproval(approval: PendingApproval): Promise<number | 'pending' | 'denied' | 'expired'> {
    if (Date.now() >= approval.expiresAt) return 'expired';
    try {
      const answer = await oauth.genericGrantRequest(await cibaClient(), CIBA, { auth_req_id: approval.authReqId });
      const claims = answer.claims();
      if (!claims) return 'denied';
      // A person other than the one asked cannot approve (an e-mail approver is resolved by SigID).
      if (approval.approver.startsWith('sub_') && claims.sub !== approval.approver) return 'denied';
      // The person approved after the server asked: its age is at most the request's (an upper
      // bound, so a freshness policy holds); `auth_time`, when the ID token carries it, is exact.
      const approvedAt = typeof claims.auth_time === 'number' ? claims.auth_time : Math.floor(approval.askedAt / 1000);
      return Math.max(0, Math.floor(Date.now() / 1000) - approvedAt);
    } catch (error) {
      const code = (error as { error?: string }).error;
      if (code === 'authorization_pending' || code === 'slow_down') return 'pending';
      if (code === 'expired_token') return 'expired';
      if (code === 'access_denied') return 'denied';
      throw error;
    }
  }

  async function deleteProject(token: ValidToken, projectId: string): Promise<CallToolResult> {
    const project = data.projects.get(projectId);
    if (!project) return text(`No project ${projectId}.`, true);
    const key = `${principalOf(token).chain}|${projectId}`;
    const approval = pending.get(key);
    let age: number | undefined;
    if (approval) {
      const polled = await pollApproval(approval);
      if (polled === 'pending') {
        return text(
          { status: 'approval_pending', approver: approval.approver, binding_message: bindingMessage(projectId) },
          true,
        );
      }
      pending.delete(key);
      if (polled === 'denied' || polled === 'expired') return text({ status: `approval_${polled}` }, true);
      age = polled;
    }
    if (await authorizeDelete(token, projectId, age)) {
      data.projects.delete(projectId);
      return text({ status: 'deleted', project_id: projectId });
    }
    if (age !== undefined) return text({ status: 'denied_by_policy', project_id: projectId }, true);
    // Refused without an approval: ask the person through CIBA, once per (principal, project).
    const approver = await approverFor(token);
    if (!approver) return text({ status: 'denied_by_policy', reason: 'no one to ask for approval' }, true);
    const askedAt = Date.now();
    const started = await oauth.initiateBackchannelAuthentication(await cibaClient(), {
      scope: 'openid',
      login_hint: approver,
      binding_message: bindingMessage(projectId),
      requested_expiry: String(config.approvalExpirySeconds ?? 300),
    });
    pending.set(key, {
      authReqId: started.auth_req_id,
      askedAt,
      approver,
      expiresAt: Date.now() + started.expires_in * 1000,
    });
    return text(
      {
        status: 'approval_required',
        approver,
        binding_message: bindingMessage(projectId),
        expires_in: started.expires_in,
        next: 'Ask the person to approve (SigID e-mailed them a link), then call delete_project again.',
      },
      true,
    );
  }

  function mcpServer(): McpServer {
    const server = new McpServer({ name: 'sigid-example-projects', version: '1.0.0' });
    const tokenOf = (extra: { authInfo?: { extra?: Record<string, unknown> } }) =>
      extra.authInfo?.extra?.token as ValidToken;
    server.registerTool(
      'list_projects',
      { description: `Lists the projects (scope ${TOOL_SCOPES.list_projects}).`, inputSchema: {} },
      async () => text({ projects: [...data.projects.values()] }),
    );
    server.registerTool(
      'create_ticket',
      {
        description: `Opens a ticket in a project (scope ${TOOL_SCOPES.create_ticket}).`,
        inputSchema: { project_id: z.string().min(1).max(100), title: z.string().min(1).max(200) },
      },
      async ({ project_id, title }, extra) => {
        if (!data.projects.has(project_id)) return text(`No project ${project_id}.`, true);
        const ticket = { id: `tkt_${randomUUID().slice(0, 8)}`, project_id, title, created_by: tokenOf(extra).sub };
        data.tickets.push(ticket);
        return text({ ticket });
      },
    );
    server.registerTool(
      'delete_project',
      {
        description: `Deletes a project (scope ${TOOL_SCOPES.delete_project}, and a person's approval the tenant's policy asks for).`,
        inputSchema: { project_id: z.string().min(1).max(100) },
      },
      async ({ project_id }, extra) => deleteProject(tokenOf(extra), project_id),
    );
    return server;
  }

  const app = express();
  app.disable('x-powered-by');
  app.use((request, response, next) => metadata(request, response, next));
  app.post(resource.pathname, express.json({ limit: '1mb' }), async (request: Request, response: Response) => {
    const checked = await tokens.validate(
      {
        authorization: request.headers.authorization,
        dpop: typeof request.headers.dpop === 'string' ? request.headers.dpop : undefined,
        method: request.method,
        url: `${resource.origin}${request.originalUrl}`,
      },
      { requireScopes: scopesFor(request.body) },
    );
    if (!checked.ok) {
      if (checked.wwwAuthenticate) response.setHeader('WWW-Authenticate', checked.wwwAuthenticate);
      response.status(checked.status).json({ error: checked.error, error_description: checked.description });
      return;
    }
    (request as IncomingMessage & { auth?: unknown }).auth = {
      token: (request.headers.authorization ?? '').replace(/^\S+\s+/, ''),
      clientId: checked.client_id ?? checked.sub,
      scopes: checked.scopes,
      expiresAt: typeof checked.claims.exp === 'number' ? checked.claims.exp : undefined,
      resource,
      extra: { token: checked },
    };
    const server = mcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    response.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(request, response, request.body);
  });
  // Stateless: no SSE stream to resume and no session to end.
  app.all(resource.pathname, (_request, response) => {
    response.setHeader('Allow', 'POST');
    response.status(405).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
  });
  return app;
}

/** What the person sees on SigID's approval page and e-mail (1–64 printable characters). */
function bindingMessage(projectId: string): string {
  return `Delete project ${projectId}`.slice(0, 64);
}

/** The configuration from the environment (examples/mcp-server/README.md lists the variables). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ExampleConfig & { port: number } {
  const required = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`${name} is required (examples/mcp-server/README.md)`);
    return value;
  };
  const issuer = required('SIGID_ISSUER');
  return {
    issuer,
    resource: required('MCP_RESOURCE'),
    sigidUrl: env.SIGID_URL ?? new URL(issuer).origin,
    adminKey: required('SIGID_ADMIN_KEY'),
    cibaClient: { clientId: required('MCP_CIBA_CLIENT_ID'), clientSecret: required('MCP_CIBA_CLIENT_SECRET') },
    approver: env.MCP_APPROVER,
    // Not PORT: that is SigID's own, and a shell running both often has it set.
    port: Number(env.MCP_PORT ?? (new URL(required('MCP_RESOURCE')).port || 8080)),
  };
}

if (import.meta.main) {
  const config = configFromEnv();
  createExampleServer(config).listen(config.port, () => {
    console.log(`example MCP server at ${config.resource} (port ${config.port}), tokens from ${config.issuer}`);
  });
}
