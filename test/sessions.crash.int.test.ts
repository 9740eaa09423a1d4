import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Database } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { FormBrowser } from './support/form-browser.ts';
import { linkInOutbox } from './support/hosted-flow.ts';
import { type ServerProcess, startServerProcess } from './support/server-process.ts';

/**
 * "Sign out everywhere" and "remove access" are two durable steps each: `session.ended` (or
 * `consent.revoked`) appended, then the sessions (or the grant and its tokens) removed from the
 * issuer's storage. A process killed between the two leaves what the audit log calls ended; the
 * `sessions` reactor removes it, so none of it works any more.
 */
describe.runIf(postgresReachable)('ending sessions survives a kill between its steps', () => {
  const operatorKey = `op-${randomBytes(24).toString('hex')}`;
  const outbox = mkdtempSync(join(tmpdir(), 'sigid-sessions-outbox-'));
  const publicOrigin = 'https://id.example.com';
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let server: ServerProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    db = connectPostgres(database.url, { max: 2 });
    await migrateToLatest(db);
    env = {
      DATABASE_URL: database.url,
      SIGID_MASTER_KEY: randomBytes(32).toString('base64'),
      SIGID_OPERATOR_KEY: operatorKey,
      PUBLIC_URL: publicOrigin,
      SIGID_EMAIL_OUTBOX_DIR: outbox,
      SIGID_EMAIL_POLL_MS: '25',
    };
    server = await startServerProcess(env);
  });
  afterAll(async () => {
    await server?.kill();
    await db?.close();
    await database?.drop();
    rmSync(outbox, { recursive: true, force: true });
  });

  /** Waits for the surviving process's reactor (fails after 15 s). */
  async function until(done: () => Promise<boolean>, failure: string) {
    for (let waited = 0; !(await done()); waited += 50) {
      if (waited > 15_000) throw new Error(failure);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('leaves no session or consent working that the audit log calls ended or withdrawn', async () => {
    const slug = `end-${randomBytes(4).toString('hex')}`;
    const made = await fetch(`${server.url}/api/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Crash Co', slug }),
    });
    expect(made.status).toBe(201);
    const tenantId = ((await made.json()) as { tenant: { id: string } }).tenant.id;

    // A person signs up, confirms the address, and signs in to the account page.
    const browser = new FormBrowser(server.url, { publicOrigin });
    const email = `crash.${randomBytes(3).toString('hex')}@example.test`;
    const password = 'killed between two steps';
    await browser.request(`/t/${slug}/account`);
    await browser.request(String(browser.page.$('a:contains("Create an account")').attr('href')));
    await browser.submit('#email', { email, password });
    await browser.request(await linkInOutbox(outbox, email, '/verify-email'));
    await browser.submit('button[type=submit]');
    await browser.request(String(browser.page.$('a:contains("Continue signing in")').attr('href')));
    await browser.submit('#email', { email, password });
    expect(browser.page.$('h1').text()).toBe('Your account');

    // A process dies right after appending `consent.revoked`: the grant and its tokens go anyway.
    const { rows: grants } = await db.query<{ id: string }>(
      `select id from oidc_payloads where tenant_id = $1 and model = 'Grant'`,
      [tenantId],
    );
    expect(grants).toHaveLength(1);
    const revoking = await startServerProcess({ ...env, SIGID_FAILPOINTS: 'consent.revoke:after-event' });
    browser.origin = revoking.url;
    await browser.request(`/t/${slug}/account`);
    const csrf = String(browser.page.$('input[name=csrf]').first().attr('value'));
    await expect(
      browser.request(`/t/${slug}/account/consents/revoke`, { form: { csrf, grant: String(grants[0]?.id) } }),
    ).rejects.toThrow();
    expect(await revoking.exited).toBe('SIGKILL');
    const { rows: revoked } = await db.query(
      `select 1 from sigid_events where tenant_id = $1 and event_type = 'consent.revoked'`,
      [tenantId],
    );
    expect(revoked).toHaveLength(1);
    await until(async () => {
      const { rows } = await db.query(`select 1 from oidc_payloads where tenant_id = $1 and id = $2`, [
        tenantId,
        grants[0]?.id,
      ]);
      return rows.length === 0;
    }, 'the revoked grant is still stored');

    // Another process of the deployment dies right after appending `session.ended`.
    const doomed = await startServerProcess({ ...env, SIGID_FAILPOINTS: 'session.end:after-event' });
    browser.origin = doomed.url;
    await browser.request(`/t/${slug}/account`);
    await expect(browser.submit('button:contains("Sign out everywhere")')).rejects.toThrow();
    expect(await doomed.exited).toBe('SIGKILL');
    const { rows: ended } = await db.query<{ sub: string }>(
      `select data->>'sub' as sub from sigid_events where tenant_id = $1 and event_type = 'session.ended'`,
      [tenantId],
    );
    expect(ended).toHaveLength(1);

    // The surviving process's reactor removes the session; the browser is signed out.
    await until(async () => {
      const { rows } = await db.query(
        `select 1 from oidc_payloads where tenant_id = $1 and model = 'Session' and payload->>'accountId' = $2`,
        [tenantId, ended[0]?.sub],
      );
      return rows.length === 0;
    }, 'the ended session is still stored');
    browser.origin = server.url;
    await browser.request(`/t/${slug}/account`);
    expect(browser.page.$('h1').text()).toBe('Sign in to Crash Co');
  });
});
