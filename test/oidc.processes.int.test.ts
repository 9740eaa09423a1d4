import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Database } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { FormBrowser } from './support/form-browser.ts';
import { CALLBACK, linkInOutbox } from './support/hosted-flow.ts';
import { type ServerProcess, startServerProcess } from './support/server-process.ts';

/**
 * Two `sigid serve` processes on one PostgreSQL serve one tenant's issuer: its storage is the
 * database, never a process's memory, so a token one process issues is known to the other (and one
 * revoked at the other is dead at the first), and both sign with the same tenant keys.
 */
describe.runIf(postgresReachable)('one issuer served by two SigID processes', () => {
  const operatorKey = `op-${randomBytes(24).toString('hex')}`;
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let first: ServerProcess;
  let second: ServerProcess;
  let env: Record<string, string>;

  const outbox = mkdtempSync(join(tmpdir(), 'sigid-two-outbox-'));

  beforeAll(async () => {
    database = await createPostgresDatabase();
    db = connectPostgres(database.url, { max: 2 });
    await migrateToLatest(db);
    env = {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: randomBytes(32).toString('base64'),
      SIGID_OPERATOR_KEY: operatorKey,
      // Both answer as one deployment behind one public address.
      PUBLIC_URL: 'https://id.example.com',
      SIGID_EMAIL_OUTBOX_DIR: outbox,
      SIGID_EMAIL_POLL_MS: '25',
    };
    [first, second] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  });
  afterAll(async () => {
    await Promise.all([first?.kill(), second?.kill()]);
    await db?.close();
    await database?.drop();
    rmSync(outbox, { recursive: true, force: true });
  });

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

  function form(server: ServerProcess, path: string, auth: string, fields: Record<string, string>) {
    return fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
  }

  /** A tenant and an m2m application, made through the first process. */
  async function machineClient(name: string) {
    const slug = `two-${randomBytes(4).toString('hex')}`;
    const made = await fetch(`${first.url}/api/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, slug }),
    });
    const tenant = (await made.json()) as { tenant: { id: string }; api_key: { key: string } };
    const created = await fetch(`${first.url}/api/v1/applications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.api_key.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'm2m', client_name: name }),
    });
    expect(created.status).toBe(201);
    const app = (await created.json()) as { client_id: string; client_secret: string };
    return { slug, tenant, clientId: app.client_id, auth: basic(app.client_id, app.client_secret) };
  }

  it("a process killed between a token's event and storing it leaves an audited token nobody holds", async () => {
    const { slug, tenant, clientId, auth } = await machineClient('Killed mid-token');
    const doomed = await startServerProcess({ ...env, SIGID_FAILPOINTS: 'oidc.token:after-event' });
    await expect(form(doomed, `/t/${slug}/token`, auth, { grant_type: 'client_credentials' })).rejects.toThrow();
    expect(await doomed.exited).toBe('SIGKILL');
    const { rows: issued } = await db.query<{ jti: string }>(
      `select data->>'jti' as jti from sigid_events where tenant_id = $1 and event_type = 'oauth.token.issued'`,
      [tenant.tenant.id],
    );
    expect(issued).toHaveLength(1);
    const { rows: stored } = await db.query(
      `select 1 from oidc_payloads where tenant_id = $1 and model = 'ClientCredentials'`,
      [tenant.tenant.id],
    );
    expect(stored).toHaveLength(0);
    // The other processes go on issuing, each token audited.
    expect((await form(first, `/t/${slug}/token`, auth, { grant_type: 'client_credentials' })).status).toBe(200);
    const { rows: after } = await db.query(
      `select 1 from sigid_events where tenant_id = $1 and event_type = 'oauth.token.issued' and data->>'client_id' = $2`,
      [tenant.tenant.id, clientId],
    );
    expect(after).toHaveLength(2);
  });

  it('knows at one process the token the other issued, and its revocation', async () => {
    const { slug, tenant, clientId, auth } = await machineClient('Two processes');
    const app = { client_id: clientId };

    const issued = await form(first, `/t/${slug}/token`, auth, { grant_type: 'client_credentials' });
    expect(issued.status).toBe(200);
    const { access_token: token } = (await issued.json()) as { access_token: string };
    const atSecond = await form(second, `/t/${slug}/token/introspection`, auth, { token });
    expect(await atSecond.json()).toMatchObject({
      active: true,
      client_id: app.client_id,
      iss: `https://id.example.com/t/${slug}`,
    });

    const revoked = await form(second, `/t/${slug}/token/revocation`, auth, { token });
    expect(revoked.status).toBe(200);
    const atFirst = await form(first, `/t/${slug}/token/introspection`, auth, { token });
    expect(await atFirst.json()).toEqual({ active: false });

    // Both publish the same keys, made once for the tenant, whichever process asked first.
    const [keysA, keysB] = await Promise.all(
      [first, second].map(async (server) => (await (await fetch(`${server.url}/t/${slug}/jwks`)).json()) as unknown),
    );
    expect(keysA).toEqual(keysB);
    const { rows } = await db.query<{ count: number }>(
      `select count(*)::int as count from sigid_events where tenant_id = $1 and event_type = 'signing_key.created'`,
      [tenant.tenant.id],
    );
    expect(rows[0]?.count).toBe(4);
  });

  it('redeems at one process the code made at the other, after a sign-up and sign-in that crossed between them', async () => {
    const slug = `code-${randomBytes(4).toString('hex')}`;
    const made = await fetch(`${first.url}/api/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Two-process code', slug }),
    });
    const tenant = (await made.json()) as { api_key: { key: string } };
    const created = await fetch(`${first.url}/api/v1/applications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.api_key.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'web', client_name: 'Crossing app', redirect_uris: [CALLBACK] }),
    });
    const app = (await created.json()) as { client_id: string; client_secret: string };
    // openid-client talks to the deployment's public issuer, whose endpoints are the second process.
    const issuer = `https://id.example.com/t/${slug}`;
    const discovered = await fetch(`${first.url}/t/${slug}/.well-known/openid-configuration`, {
      headers: { 'x-forwarded-host': 'id.example.com' },
    });
    const metadata = (await discovered.json()) as Record<string, unknown>;
    const atSecond = Object.fromEntries(
      Object.entries(metadata).map(([key, value]) => [
        key,
        key !== 'issuer' && typeof value === 'string' ? value.replace('https://id.example.com', second.url) : value,
      ]),
    ) as oauth.ServerMetadata;
    const rp = new oauth.Configuration(atSecond, app.client_id, app.client_secret);
    oauth.allowInsecureRequests(rp);

    const browser = new FormBrowser(first.url, { publicOrigin: 'https://id.example.com' });
    const verifier = oauth.randomPKCECodeVerifier();
    const state = oauth.randomState();
    const authorize = new URL(`${first.url}/t/${slug}/auth`);
    for (const [key, value] of Object.entries({
      client_id: app.client_id,
      response_type: 'code',
      redirect_uri: CALLBACK,
      scope: 'openid',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    })) {
      authorize.searchParams.set(key, value);
    }
    await browser.request(authorize);
    expect(browser.page.$('h1').text()).toBe('Sign in to Two-process code');
    await browser.request(String(browser.page.$('a:contains("Create an account")').attr('href')));
    const email = `cross.${randomBytes(3).toString('hex')}@example.test`;
    await browser.submit('#email', { email, password: 'two processes, one issuer' });
    // The link mailed by the first process is used at the second, and the sign-in finishes there.
    browser.origin = second.url;
    await browser.request(await linkInOutbox(outbox, email, '/verify-email'));
    await browser.submit('button[type=submit]');
    await browser.request(String(browser.page.$('a:contains("Continue signing in")').attr('href')));
    await browser.submit('#email', { email, password: 'two processes, one issuer' });
    browser.origin = first.url;
    await browser.submit('button[value=allow]', {}, { name: 'decision', value: 'allow' });
    expect(browser.leftTo?.searchParams.get('iss')).toBe(issuer);
    // The code came from the first process; the second redeems it.
    const tokens = await oauth.authorizationCodeGrant(rp, browser.leftTo as URL, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.claims()?.iss).toBe(issuer);
    expect(tokens.claims()?.sub).toMatch(/^sub_/);
  });
});
