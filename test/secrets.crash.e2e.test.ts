import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Database } from '../src/db/database.ts';
import { createPostgresDatabase, postgresReachable } from './support/databases.ts';
import { type ServerProcess, startServerProcess } from './support/server-process.ts';
import { OPERATOR_KEY } from './support/sigid.ts';

/**
 * Writes with a follow-up outside the event store, killed (SIGKILL, at a failpoint) right after the
 * event is appended and before anything else runs: a restarted server on the same PostgreSQL must
 * act on what the event log says, at once, and finish the follow-up.
 */
describe.runIf(postgresReachable)('secrets after a crash between an append and its follow-up', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let server: ServerProcess | undefined;
  const env = () => ({
    DATABASE_URL: database.url,
    SIGID_MASTER_KEY: masterKey,
    SIGID_OPERATOR_KEY: OPERATOR_KEY,
    SIGID_WEBHOOK_ALLOWLIST: '127.0.0.1',
    // Ready only with every projection at the head: what a load balancer waits for after a restart.
    SIGID_READY_MAX_LAG: '0',
  });
  const masterKey = randomBytes(32).toString('base64');
  const failpoints = 'api-key.revoked,webhook.endpoint.deleted';

  beforeAll(async () => {
    database = await createPostgresDatabase();
    db = connectPostgres(database.url, { max: 2 });
  });
  afterAll(async () => {
    await server?.kill();
    await db?.close();
    await database?.drop();
  });

  async function call(method: string, path: string, key: string, body?: unknown) {
    const response = await fetch(`${server?.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  /** Restarts the server (optionally with failpoints) and waits until it is ready. */
  async function restart(extra: Record<string, string> = {}) {
    await server?.kill();
    server = await startServerProcess({ ...env(), ...extra });
    for (;;) {
      const ready = await fetch(`${server.url}/readyz`).then((response) => response.status === 200);
      if (ready) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Sends a request the server dies in the middle of; resolves once it is dead. */
  async function killedBy(method: string, path: string, key: string) {
    const answer = await call(method, path, key).catch((error: unknown) => error);
    expect(answer).toBeInstanceOf(Error);
    expect(await server?.exited).toBe('SIGKILL');
  }

  async function storedSecrets(where: 'id' | 'owner_id', value: string) {
    const { rows } = await db.query<{ id: string }>(`select id from sealed_secrets where ${where} = $1`, [value]);
    return rows;
  }

  it('refuses a revoked key at once after the restart, deletes its hash, and forgets a deleted endpoint’s secrets', async () => {
    await restart({ SIGID_FAILPOINTS: failpoints });
    const tenant = await call('POST', '/api/v1/tenants', OPERATOR_KEY, {
      name: 'Crash',
      slug: `crash-${randomBytes(3).toString('hex')}`,
    });
    expect(tenant.status).toBe(201);
    const admin: string = tenant.body.api_key.key;
    const victim = await call('POST', '/api/v1/api-keys', admin, { name: 'to revoke' });
    expect(victim.status).toBe(201);
    await call('GET', '/api/v1/api-keys', victim.body.key).then((answer) => expect(answer.status).toBe(200));
    const endpoint = await call('POST', '/api/v1/webhooks', admin, {
      url: 'http://127.0.0.1:9/hooks',
      event_types: ['*'],
    });
    expect(endpoint.status).toBe(201);
    expect(await storedSecrets('owner_id', endpoint.body.id)).toHaveLength(1);

    // Killed right after `api_key.revoked` is appended.
    await killedBy('DELETE', `/api/v1/api-keys/${victim.body.id}`, admin);
    await restart({ SIGID_FAILPOINTS: failpoints });
    const refused = await call('GET', '/api/v1/api-keys', victim.body.key);
    expect(refused.status).toBe(401);
    // It mints nothing either, and the log and the list agree that it is revoked.
    expect((await call('POST', '/api/v1/api-keys', victim.body.key, { name: 'minted' })).status).toBe(401);
    const listed = await call('GET', '/api/v1/api-keys', admin);
    expect(listed.body.data.map((key: { id: string }) => key.id)).not.toContain(victim.body.id);
    const audit = await call('GET', '/api/v1/audit-logs?limit=100', admin);
    expect(
      audit.body.data.filter(
        (record: { action: string; target: { id: string } }) =>
          record.action === 'api_key.revoked' && record.target.id === victim.body.id,
      ),
    ).toHaveLength(1);
    expect(await storedSecrets('id', victim.body.id)).toHaveLength(0);

    // Killed right after `webhook.endpoint.deleted` is appended.
    await killedBy('DELETE', `/api/v1/webhooks/${endpoint.body.id}`, admin);
    await restart();
    expect((await call('GET', `/api/v1/webhooks/${endpoint.body.id}`, admin)).status).toBe(404);
    expect(await storedSecrets('owner_id', endpoint.body.id)).toHaveLength(0);
    // The admin key was never touched.
    expect((await call('GET', '/api/v1/api-keys', admin)).status).toBe(200);
  });
});
