/**
 * A person's access token for the MCP server, as a native app gets one (RFC 8252): the authorization
 * code flow with PKCE through SigID's hosted sign-in, the code received on a loopback redirect. Prints
 * the URL to open in a browser, waits for the redirect, and prints the access token (nothing else on
 * stdout, so `TOKEN=$(… node user-token.ts)` works; the URL goes to stderr).
 *
 *   CLIENT_ID=… ISSUER=http://localhost:3000/t/acme RESOURCE=http://localhost:8080/mcp \
 *   SCOPE='projects:read projects:delete' node examples/mcp-server/user-token.ts
 *
 * The application is a `native` one with redirect URI `http://127.0.0.1/callback` (loopback: any
 * port matches), granted the API's scopes (`PUT /api/v1/apis/{id}/grants/{application id}`).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'openid-client';

const { CLIENT_ID, ISSUER, RESOURCE, SCOPE = 'projects:read' } = process.env;
if (!CLIENT_ID || !ISSUER || !RESOURCE) throw new Error('CLIENT_ID, ISSUER and RESOURCE are required');

const config = await oauth.discovery(new URL(ISSUER), CLIENT_ID, undefined, oauth.None(), {
  // SigID on localhost serves plain http in development.
  execute: new URL(ISSUER).protocol === 'http:' ? [oauth.allowInsecureRequests] : [],
});
const verifier = oauth.randomPKCECodeVerifier();
const state = oauth.randomState();

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
const url = oauth.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: `openid ${SCOPE}`,
  resource: RESOURCE,
  code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
});
console.error(`Open this URL in a browser and sign in:\n\n  ${url.href}\n`);

const token = await new Promise<string>((resolve, reject) => {
  server.on('request', (request, response) => {
    const current = new URL(request.url ?? '/', redirectUri);
    if (current.pathname !== '/callback') {
      response.writeHead(404).end();
      return;
    }
    oauth
      .authorizationCodeGrant(config, current, { pkceCodeVerifier: verifier, expectedState: state })
      .then((tokens) => {
        response.writeHead(200, { 'content-type': 'text/plain' }).end('Signed in: you can close this tab.\n');
        resolve(tokens.access_token);
      })
      .catch((error: unknown) => {
        response.writeHead(400, { 'content-type': 'text/plain' }).end(`Sign-in failed: ${String(error)}\n`);
        reject(error);
      });
  });
});
server.close();
console.log(token);
