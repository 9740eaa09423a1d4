/**
 * The agent side of the walkthrough (docs/agents.md): the MCP SDK's client with its OAuth support,
 * as an agent with a private key (`private_key_jwt`, client_credentials): on the server's first 401
 * it reads the RFC 9728 metadata, finds the tenant issuer and gets its own token.
 *
 *   AGENT=agt_… AGENT_KEY=agent-key.json ISSUER=http://localhost:3000/t/acme \
 *   MCP_URL=http://localhost:8080/mcp node examples/mcp-server/agent.ts list_projects '{}'
 *
 * With `SUBJECT_TOKEN` (a person's access token), the agent acts for that person instead: it trades
 * the token at the issuer for a delegated one (RFC 8693 token exchange, authenticated with its key;
 * `sub` the person, `act` the agent, the delegation's scopes only) and calls the server with it.
 */
import { readFileSync } from 'node:fs';
import { PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type CryptoKey, importJWK } from 'jose';
import * as oauth from 'openid-client';

const { AGENT, AGENT_KEY = 'agent-key.json', ISSUER, MCP_URL, SCOPE, SUBJECT_TOKEN } = process.env;
if (!AGENT || !ISSUER || !MCP_URL) throw new Error('AGENT, ISSUER and MCP_URL are required');
const [tool, args = '{}'] = process.argv.slice(2);

const privateJwk = JSON.parse(readFileSync(AGENT_KEY, 'utf8'));

/** A delegated token for the person whose token is `subjectToken`, for the server only. */
async function delegatedToken(subjectToken: string): Promise<string> {
  const config = await oauth.discovery(
    new URL(ISSUER as string),
    AGENT as string,
    undefined,
    oauth.PrivateKeyJwt((await importJWK(privateJwk, 'ES256')) as CryptoKey),
    { execute: new URL(ISSUER as string).protocol === 'http:' ? [oauth.allowInsecureRequests] : [] },
  );
  const exchanged = await oauth.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    resource: MCP_URL as string,
    ...(SCOPE ? { scope: SCOPE } : {}),
  });
  console.error(`delegated token: scope "${exchanged.scope}", expires in ${exchanged.expires_in} s`);
  return exchanged.access_token;
}

const authProvider = new PrivateKeyJwtProvider({
  clientId: AGENT,
  privateKey: privateJwk,
  algorithm: 'ES256',
  // For client_credentials the SDK asks for these scopes (SigID narrows them to the agent's allowed ones).
  scope: SCOPE ?? 'projects:read tickets:create projects:delete',
  expectedIssuer: ISSUER,
});
const client = new Client({ name: 'example-agent', version: '1.0.0' });
await client.connect(
  new StreamableHTTPClientTransport(
    new URL(MCP_URL),
    SUBJECT_TOKEN
      ? { requestInit: { headers: { authorization: `Bearer ${await delegatedToken(SUBJECT_TOKEN)}` } } }
      : { authProvider },
  ),
);
if (tool) {
  const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log((await client.listTools()).tools.map((listed) => `${listed.name}: ${listed.description}`).join('\n'));
}
await client.close();
