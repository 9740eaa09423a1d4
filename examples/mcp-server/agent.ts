/**
 * The agent side of the walkthrough (docs/agents.md): the MCP SDK's client with its OAuth support,
 * as an agent with a private key (`private_key_jwt`, client_credentials): on the server's first 401
 * it reads the RFC 9728 metadata, finds the tenant issuer and gets its own token.
 *
 *   AGENT=agt_… AGENT_KEY=agent-key.json ISSUER=http://localhost:3000/t/acme \
 *   MCP_URL=http://localhost:8080/mcp node examples/mcp-server/agent.ts list_projects '{}'
 */
import { readFileSync } from 'node:fs';
import { PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const { AGENT, AGENT_KEY = 'agent-key.json', ISSUER, MCP_URL, SCOPE } = process.env;
if (!AGENT || !ISSUER || !MCP_URL) throw new Error('AGENT, ISSUER and MCP_URL are required');
const [tool, args = '{}'] = process.argv.slice(2);

const authProvider = new PrivateKeyJwtProvider({
  clientId: AGENT,
  privateKey: JSON.parse(readFileSync(AGENT_KEY, 'utf8')),
  algorithm: 'ES256',
  // For client_credentials the SDK asks for these scopes (SigID narrows them to the agent's allowed ones).
  scope: SCOPE ?? 'projects:read tickets:create projects:delete',
  expectedIssuer: ISSUER,
});
const client = new Client({ name: 'example-agent', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider }));
if (tool) {
  const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log((await client.listTools()).tools.map((listed) => `${listed.name}: ${listed.description}`).join('\n'));
}
await client.close();
