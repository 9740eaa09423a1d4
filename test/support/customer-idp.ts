import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Provider from 'oidc-provider';

/** A person at the customer's IdP: a password and the claims the IdP asserts. */
export interface IdpUser {
  password: string;
  claims: Record<string, unknown>;
}

export const IDP_CLIENT_ID = 'sigid-at-acme';
export const IDP_CLIENT_SECRET = 'a-client-secret-only-the-idp-and-sigid-know';

/**
 * A customer's identity provider as SigID meets it: a second, real oidc-provider on its own port
 * (127.0.0.1, so its cookies are apart from SigID's at localhost), with SigID registered as a
 * confidential client and its own sign-in page (a form: user name and password, or "Deny", which
 * answers `access_denied`). Consent is implied (the IdP's own application), as at most workforce IdPs.
 */
export async function startCustomerIdp(options: { redirectUris: string[]; users: Record<string, IdpUser> }) {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: IDP_CLIENT_ID,
        client_secret: IDP_CLIENT_SECRET,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'groups'],
    },
    // Claims in the ID token itself, as most workforce IdPs send them.
    conformIdTokenClaims: false,
    async findAccount(_ctx, id) {
      const user = options.users[id];
      if (!user) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...user.claims }) };
    },
    async loadExistingGrant(ctx) {
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ accountId, clientId });
      grant.addOIDCScope(String(ctx.oidc.params?.scope ?? 'openid'));
      await grant.save();
      return grant;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    cookies: { keys: ['customer-idp-test-cookie-key'] },
    pkce: { required: () => true },
  });
  const app = express();
  const form = express.urlencoded({ extended: false });
  app.get('/interaction/:uid', async (request, response) => {
    const details = await provider.interactionDetails(request, response);
    response.type('html').send(`<!doctype html><title>Acme sign-in</title><h1>Acme Workforce sign-in</h1>
<form method="post" action="/interaction/${details.uid}">
<label for="login">User name</label><input id="login" name="login">
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit">Sign in to Acme</button>
<button type="submit" name="deny" value="1">Deny</button>
</form>`);
  });
  app.post('/interaction/:uid', form, async (request, response) => {
    const body = request.body as Record<string, string>;
    if (body.deny) {
      return provider.interactionFinished(request, response, {
        error: 'access_denied',
        error_description: 'the user denied the request',
      });
    }
    const user = options.users[body.login ?? ''];
    if (!user || user.password !== body.password) {
      response.status(401).type('html').send('<!doctype html><h1>Wrong user name or password</h1>');
      return;
    }
    await provider.interactionFinished(request, response, { login: { accountId: String(body.login) } });
  });
  app.use(provider.callback());
  server.on('request', app);
  return {
    issuer,
    /** Stops answering (the IdP is down): its port refuses connections from then on. */
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
