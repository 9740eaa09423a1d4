import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import * as oauth from 'openid-client';
import type { Config } from '../../src/config.ts';
import { loadEmailConfig } from '../../src/email/config.ts';
import { FormBrowser } from './form-browser.ts';
import { startSigid } from './sigid.ts';

export const CALLBACK = 'https://app.example.test/callback';
export const AFTER_LOGOUT = 'https://app.example.test/signed-out';
export const insecure = { execute: [oauth.allowInsecureRequests] };

/** SigID over real HTTP on an ephemeral port, its public URL that port, its e-mail in an outbox directory. */
export async function startHostedSigid(
  options: { config?: Partial<Config>; host?: string; backend?: 'pglite' | 'postgres' } = {},
) {
  const root = mkdtempSync(join(tmpdir(), 'sigid-pages-'));
  const outbox = join(root, 'outbox');
  const t = await startSigid({
    ...(options.backend ? { backend: options.backend } : {}),
    config: {
      email: { ...loadEmailConfig({ SIGID_EMAIL_POLL_MS: '25' }), outboxDir: outbox },
      ...options.config,
    },
  });
  const server: Server = createServer(t.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://${options.host ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
  t.sigid.config.publicUrl = base;
  return {
    t,
    base,
    outbox,
    browser: () => new FormBrowser(base),
    /** A confidential web application of the tenant, with the refresh grant. */
    async webApp(key: string, extra: Record<string, unknown> = {}) {
      const response = await t.http
        .post('/api/v1/applications')
        .set('Authorization', `Bearer ${key}`)
        .send({
          kind: 'web',
          client_name: 'Acme Notes',
          redirect_uris: [CALLBACK],
          post_logout_redirect_uris: [AFTER_LOGOUT],
          grant_types: ['authorization_code', 'refresh_token'],
          ...extra,
        });
      if (response.status !== 201) throw new Error(`application: ${response.status} ${JSON.stringify(response.body)}`);
      return { clientId: response.body.client_id as string, secret: response.body.client_secret as string };
    },
    /** openid-client's view of a tenant's issuer for a client. */
    async relyingParty(slug: string, client: { clientId: string; secret?: string }) {
      return oauth.discovery(new URL(`${base}/t/${slug}`), client.clientId, client.secret, undefined, insecure);
    },
    /** The newest link sent to `to` whose URL contains `path`, read from the `.eml` files (waits for it). */
    linkSentTo: (to: string, path: string) => linkInOutbox(outbox, to, path),
    /** The tenant's events of some types, oldest first. */
    async events(tenantId: string, types: readonly string[]) {
      const { rows } = await t.sigid.db.query<{ event_type: string; data: Record<string, unknown> }>(
        `select event_type, data from sigid_events where tenant_id = $1 and event_type = any($2) order by global_position`,
        [tenantId, types],
      );
      return rows;
    },
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await t.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export type HostedSigid = Awaited<ReturnType<typeof startHostedSigid>>;

/** The newest link sent to `to` whose URL contains `path`, read from the outbox's `.eml` files (waits for it). */
export async function linkInOutbox(outbox: string, to: string, path: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found: string[] = [];
    const names = existsSync(outbox)
      ? readdirSync(outbox)
          .filter((name) => name.endsWith('.eml'))
          .sort()
      : [];
    for (const name of names) {
      const mail = await simpleParser(readFileSync(join(outbox, name)));
      const recipients = [mail.to].flat().flatMap((address) => address?.value.map((v) => v.address) ?? []);
      const link = mail.text?.match(/https?:\/\/\S+/g)?.find((url) => url.includes(path));
      if (recipients.includes(to) && link) found.push(link);
    }
    const newest = found.at(-1);
    if (newest) return newest;
    if (Date.now() > deadline) throw new Error(`no e-mail to ${to} with ${path}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The authorization URL (S256 challenge of the verifier). */
export async function authorizationUrl(
  config: oauth.Configuration,
  parameters: Record<string, string> = {},
): Promise<{ url: URL; verifier: string; state: string; nonce: string }> {
  const verifier = oauth.randomPKCECodeVerifier();
  const state = oauth.randomState();
  const nonce = oauth.randomNonce();
  const url = oauth.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: 'openid email',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...parameters,
  });
  return { url, verifier, state, nonce };
}
